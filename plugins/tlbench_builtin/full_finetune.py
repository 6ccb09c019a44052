"""``full_finetune``: every weight of the encoder and the task head trains."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from tlbench import Fitted, Job, Strategy, hookimpl
from tlbench.engine.options import EngineOptions


class FullFinetuneOptions(EngineOptions):
    pooling: Literal["cls", "mean"] = Field("cls", description="which token states feed the head")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout before the head")


class FullFinetune(Strategy):
    description = "all encoder weights and the head train"
    Options = FullFinetuneOptions
    options: FullFinetuneOptions

    def _build(self, job: Job):  # noqa: ANN202
        from tlbench.engine import EncoderModel, load_backbone

        model = EncoderModel(load_backbone(job.model), job.task.head, self.options.pooling,
                              self.options.dropout)
        self.choose_trainable(model)
        return model

    def choose_trainable(self, model) -> None:  # noqa: ANN001 - subclasses freeze parts here
        for p in model.parameters():
            p.requires_grad_(True)

    def _fitted(self, job: Job, model) -> Fitted:  # noqa: ANN001
        from tlbench.engine import Collator, ModuleFitted, rows_of

        o = self.options
        pad = job.extra["pad_id"]
        return ModuleFitted(model, lambda role: rows_of(job.encoded(role)), Collator(pad),
                            device=job.device, batch_size=o.eval_batch_size, precision=o.precision)

    def fit(self, job: Job) -> Fitted:
        from tlbench.engine import Collator, loss_function, rows_of, train

        model = self._build(job)
        fitted = self._fitted(job, model)

        def evaluate() -> float:
            return job.score("select", fitted.predict("select"))[job.task.primary_metric]

        job.extra["curve"] = train(
            model, rows_of(job.encoded("train")), Collator(job.extra["pad_id"]),
            loss_function(job.task.head), self.options, seed=job.seed, device=job.device,
            evaluate=evaluate, report=job.report, progress=job.progress,
            description=f"{self.name} {job.task.name} seed {job.seed}")
        return fitted

    def load(self, job: Job, directory: Path) -> Fitted:
        from tlbench.engine import load_trained

        return self._fitted(job, load_trained(self._build(job), directory))


@hookimpl
def register_strategies(register):  # noqa: ANN001, ANN201
    register("full_finetune", FullFinetune)
