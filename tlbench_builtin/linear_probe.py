"""``linear_probe``: a frozen encoder, features computed once and cached, a head on top.

Because the features are cached on disk (keyed by model, task and its code, the data's hashes, split,
pooling, layers and precision: ``tlbench.engine.features.feature_key``), every seed
and every tuning trial after the first costs only the head's training: seconds on a CPU. Text-level
tasks pool the token states (CLS or mean); token and span tasks train the head on each token's state.

The frozen-feature ladder, one option at a time: ``pooling`` (cls, mean), ``layers`` (the last layer
or the last four concatenated), ``head`` (linear; mlp with one hidden layer; knn, cosine nearest
neighbours over the training features, nothing trained; crf for token labels).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from tlbench import EngineOptions, EngineStrategy, Fitted, Float, HeadSpec, Int, Job, hookimpl

#: encoded fields the head's loss needs, copied next to the features
TARGETS = ("labels", "start_positions", "end_positions")


class LinearProbeOptions(EngineOptions):
    pooling: Literal["auto", "cls", "mean", "last"] = Field(
        "auto", description="how token states become one vector (text-level tasks only): auto (the last "
                            "real token for a causal decoder, else mean), cls, mean, last")
    layers: Literal["last", "last4"] = Field(
        "last", description="the last layer's states, or the last four layers' concatenated")
    head: Literal["linear", "mlp", "knn", "crf"] = Field(
        "linear", description="linear; mlp (one hidden layer); knn (cosine neighbours); crf (token labels)")

    def identity(self) -> dict[str, Any]:
        """Ids hash ``pooling = "auto"`` as ``mean``: before ``auto`` existed ``mean`` was the probe's
        default, and for the encoders that code served ``auto`` is ``mean``, so their runs keep their
        ids (the committed results' cells, ``tests/integration/test_ids.py``)."""
        out = super().identity()
        if out.get("pooling") == "auto":
            out["pooling"] = "mean"
        return out
    k: int = Field(10, gt=0, le=1000, description="neighbours that vote (head = knn)")
    lr: float = Field(3e-3, gt=0, le=1.0)
    epochs: float = Field(30.0, gt=0, le=1000)
    # 256, not 64: on cached features a step is mostly fixed overhead (~0.7 ms on CPU), and 256 trains
    # as well (SST-2 and IMDb, 3 seeds: report accuracy equal within noise) in a third of the time
    batch_size: int = Field(256, gt=0, le=65536)
    weight_decay: float = Field(0.0, ge=0, le=1.0)
    warmup_ratio: float = Field(0.0, ge=0, lt=1.0)
    dropout: float = Field(0.0, ge=0, lt=1)
    evals_per_epoch: int = Field(0, ge=0, le=100)


class LinearProbe(EngineStrategy):
    description = "frozen encoder, cached features; a trained head (linear, mlp, crf) or a kNN memory"
    Options = LinearProbeOptions

    @staticmethod
    def search_space(options: LinearProbeOptions) -> dict[str, Any]:
        if options.head == "knn":  # nothing trains: the neighbours that vote are the knob
            return {"k": Int(1, 50, log=True)}
        return {"lr": Float(1e-4, 3e-2, log=True), "weight_decay": Float(0.0, 0.1)}

    @staticmethod
    def untrained(options: LinearProbeOptions) -> bool:
        """Nothing trains with these options (the kNN head): a suite's [training] table cannot apply."""
        return options.head == "knn"
    options: LinearProbeOptions

    def _pooling(self, job: Job) -> str:
        from tlbench.engine.features import TOKEN_POOLING
        from tlbench.engine.heads import is_token_level

        if is_token_level(job.task.head):
            return TOKEN_POOLING
        if self.options.pooling != "auto":
            return self.options.pooling
        from transformers import AutoConfig

        from tlbench.engine.heads import resolve_pooling

        # the mean over real tokens for encoders (the pooling all-MiniLM-L6-v2 was trained with)
        return resolve_pooling("auto", AutoConfig.from_pretrained(job.model.path), "mean")

    def problem(self, head: HeadSpec) -> str | None:
        from tlbench.engine.options import head_problem

        return head_problem(head, self.options.head)

    def fit(self, job: Job) -> Fitted:
        from transformers import set_seed

        from tlbench.engine import Collator, train
        from tlbench.engine.heads import is_token_level

        set_seed(job.seed)  # the head's initial weights come from the seed
        fitted = self._fitted(job)
        if not is_token_level(job.task.head):
            fitted.details = {**fitted.details, "pooling": self._pooling(job)}
        train_rows = fitted.rows("train")  # the features: extracted now, or read from the cache
        fitted.compute = self._extraction(job, fitted, ("train",))
        if self.options.head == "knn":  # nothing trains: every row is stored once
            fitted.module.remember(train_rows)
            fitted.compute.examples_seen, fitted.compute.epochs = len(train_rows), 1.0
            return fitted

        def evaluate() -> float:
            return job.score("select", fitted.predict("select"))[job.task.primary_metric]

        fitted.curve = train(
            fitted.module, train_rows, Collator(), fitted.module.loss, self.options,
            seed=job.seed, device=job.device, evaluate=evaluate, report=job.report,
            progress=job.progress, description=f"{self.name} head {job.task.name} seed {job.seed}",
            count=fitted.compute)
        if "select" in fitted.extracted or fitted.curve:  # evaluations during training read its features
            select = self._extraction(job, fitted, ("select",))
            fitted.compute.oneoff_seconds += select.oneoff_seconds
            fitted.compute.oneoff_seconds_here += select.oneoff_seconds_here
        return fitted

    def _extraction(self, job: Job, fitted: Any, roles: tuple[str, ...]) -> Any:
        """A :class:`~tlbench.engine.training.Compute` holding the one-off feature extraction of
        ``roles``: the training split's tokens (one encoder pass, as inference batches it) and every
        role's seconds: as this run spent them when it extracted the features (encoder loading
        included), else as the cache recorded them. The training loop adds the head's steps."""
        from tlbench.engine.features import extraction_seconds, extraction_tokens
        from tlbench.engine.training import Compute

        o = self.options
        count = Compute()
        if "train" in roles:
            count.tokens, count.padded_tokens = extraction_tokens(
                [len(ids) for ids in job.encoded("train")["input_ids"]], o.eval_batch_size)
        for role in roles:
            if role in fitted.spent:
                count.oneoff_seconds += fitted.spent[role]
                count.oneoff_seconds_here += fitted.spent[role]
            else:
                count.oneoff_seconds += extraction_seconds(job, role, self._pooling(job), o.layers,
                                                           precision=o.precision, weights=o.backbone_dtype)
        return count

    def load(self, job: Job, directory: Path) -> Fitted:
        from tlbench.engine import load_trained

        fitted = self._fitted(job)
        load_trained(fitted.module, directory)
        return fitted

    def _fitted(self, job: Job) -> Any:
        from tlbench.engine import Collator, FeatureModel, ModuleFitted, count_parameters, load_backbone
        from tlbench.engine.features import cached_features, extraction_seconds, feature_path
        from tlbench.engine.heads import LAYERS
        from tlbench.engine.knn import KnnModel
        from tlbench.engine.model import backbone_size, check_backbone_dtype, check_max_length

        o, pooling, layers = self.options, self._pooling(job), self.options.layers
        hidden, backbone_parameters = backbone_size(job.model.path)
        width = hidden * LAYERS[layers]
        head = (KnnModel(job.task.head, width, o.k) if o.head == "knn"
                else FeatureModel(job.task.head, width, o.dropout, head=o.head))
        total = backbone_parameters + count_parameters(head)[1]
        features: dict[str, Any] = {}
        extracted: set[str] = set()  # roles whose features this run computed (not loaded)
        spent: dict[str, float] = {}  # their wall-clock seconds, loading the encoder included
        encoder: list[Any] = []  # loaded on the first missing split only: tuning trials never load it

        def rows(role: Any) -> list[dict[str, Any]]:
            if role not in features:
                start = time.perf_counter()
                if not feature_path(job, role, pooling, layers, precision=o.precision,
                                    weights=o.backbone_dtype).is_file():
                    extracted.add(role)
                    if not encoder:
                        check_backbone_dtype(o.backbone_dtype, job.device, o.precision)
                        encoder.append(load_backbone(job.model, dtype=o.backbone_dtype).requires_grad_(False))
                        check_max_length(encoder[0], getattr(job.task.options, "max_length", None))
                features[role] = cached_features(
                    job, encoder[0] if encoder else None, role, pooling, layers=layers,
                    batch_size=o.eval_batch_size, pad_id=job.pad_id, precision=o.precision,
                    weights=o.backbone_dtype)
                if role in extracted:
                    spent[role] = time.perf_counter() - start
            encoded = job.encoded(role)
            targets = {k: encoded[k] for k in TARGETS if k in encoded}
            return [{"features": f, **{k: v[i] for k, v in targets.items()}}
                    for i, f in enumerate(features[role])]

        class ProbeFitted(ModuleFitted):
            extracted: set[str]  # roles whose features this run computed
            spent: dict[str, float]  # and the seconds that took

            def cached_seconds(self, role: Any) -> float:
                # features loaded from the cache were paid for earlier: count that time; features
                # computed inside predict() are already in predict()'s own time
                return 0.0 if role in extracted else extraction_seconds(job, role, pooling, layers,
                                                                        precision=o.precision)

        fitted = ProbeFitted(head, rows, Collator(), device=job.device, batch_size=o.eval_batch_size,
                             precision="fp32", total_parameters=total)
        fitted.extracted, fitted.spent = extracted, spent
        return fitted


@hookimpl
def register_strategies(register):
    register("linear_probe", LinearProbe)
