"""``linear_probe``: a frozen encoder, features computed once and cached, a linear head on top.

Because the features are cached on disk (keyed by model, task, split and pooling), every seed and
every tuning trial after the first costs only the head's training: seconds on a CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from tlbench import Fitted, Job, Strategy, hookimpl
from tlbench.engine.options import EngineOptions


class LinearProbeOptions(EngineOptions):
    pooling: Literal["cls", "mean"] = Field("mean", description="how token states become one vector")
    lr: float = Field(3e-3, gt=0, le=1.0)
    epochs: float = Field(30.0, gt=0, le=1000)
    batch_size: int = Field(64, gt=0, le=65536)
    weight_decay: float = Field(0.0, ge=0, le=1.0)
    warmup_ratio: float = Field(0.0, ge=0, lt=1.0)
    dropout: float = Field(0.0, ge=0, lt=1)
    evals_per_epoch: int = Field(0, ge=0, le=100)


def _collate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    batch = {"features": torch.stack([torch.as_tensor(r["features"]) for r in rows])}
    if "labels" in rows[0]:
        batch["labels"] = torch.as_tensor([r["labels"] for r in rows])
    return batch


class LinearProbe(Strategy):
    description = "frozen encoder, cached features, a trained linear head"
    Options = LinearProbeOptions
    options: LinearProbeOptions

    def _parts(self, job: Job) -> tuple[Any, Any]:
        import torch

        from tlbench.engine import build_head, cached_features, count_parameters, load_backbone
        from tlbench.engine.features import feature_path

        o = self.options
        backbone = load_backbone(job.model)
        backbone.requires_grad_(False)
        _, encoder_params = count_parameters(backbone)
        features: dict[str, Any] = {}
        extracted: set[str] = set()  # roles whose features this run computed (not loaded)

        def rows(role: str) -> list[dict[str, Any]]:
            if role not in features:
                if not feature_path(job, role, o.pooling).is_file():  # type: ignore[arg-type]
                    extracted.add(role)
                features[role] = cached_features(job, backbone, role, o.pooling,  # type: ignore[arg-type]
                                                 batch_size=o.eval_batch_size,
                                                 pad_id=job.extra["pad_id"], precision=o.precision)
            labels = job.encoded(role)["labels"]  # type: ignore[arg-type]
            return [{"features": f, "labels": y} for f, y in zip(features[role], labels, strict=True)]

        class Head(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.head = build_head(job.task.head, backbone.config.hidden_size, o.dropout)

            def forward(self, features: torch.Tensor, **_: Any) -> torch.Tensor:
                return self.head(features)

        head = Head()
        return head, (rows, encoder_params + sum(p.numel() for p in head.parameters()), extracted)

    def _fitted(self, job: Job, head: Any, rows: Any, total: int, extracted: set[str]) -> Fitted:
        from tlbench.engine import ModuleFitted
        from tlbench.engine.features import extraction_seconds

        pooling = self.options.pooling

        class ProbeFitted(ModuleFitted):
            def cached_seconds(self, role: Any) -> float:
                # features loaded from the cache were paid for earlier: count that time; features
                # computed inside predict() are already in predict()'s own time
                return 0.0 if role in extracted else extraction_seconds(job, role, pooling)

        return ProbeFitted(head, rows, _collate, device=job.device,
                           batch_size=self.options.eval_batch_size, precision="fp32",
                           total_parameters=total)

    def fit(self, job: Job) -> Fitted:
        from tlbench.engine import loss_function, train

        head, (rows, total, extracted) = self._parts(job)
        fitted = self._fitted(job, head, rows, total, extracted)

        def evaluate() -> float:
            preds = job.task.decode(fitted.predict("select"))
            return job.task.score(preds, job.data.splits["select"])[job.task.primary_metric]

        train_rows = rows("train")
        job.extra["curve"] = train(
            head, train_rows, _collate, loss_function(job.task.head), self.options, seed=job.seed,
            device=job.device, evaluate=evaluate, report=job.report, progress=job.progress,
            description=f"{self.name} head {job.task.name} seed {job.seed}")
        return fitted

    def load(self, job: Job, directory: Path) -> Fitted:
        from tlbench.engine import load_trained

        head, (rows, total, extracted) = self._parts(job)
        return self._fitted(job, load_trained(head, directory), rows, total, extracted)


@hookimpl
def register_strategies(register):  # noqa: ANN001, ANN201
    register("linear_probe", LinearProbe)
