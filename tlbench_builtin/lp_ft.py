"""``lp_ft``: linear probing, then fine-tuning (Kumar et al., "Fine-Tuning can Distort Pretrained
Features and Underperform Out-of-Distribution", ICLR 2022).

Stage 1 trains the task head on the frozen encoder; stage 2 fine-tunes every weight starting from
that head instead of a random one, so the early large gradients of a random head do not distort the
pretrained features. Both stages are the existing strategies, not copies of them:

- stage 1 is ``linear_probe`` (``tlbench_builtin.linear_probe``) with this strategy's ``pooling``,
  ``layers`` and ``head``, ``probe_lr``, ``probe_epochs`` and ``probe_batch_size``: the head trains
  on the frozen encoder's cached features (the probe's cache, so seeds and trials after the first skip
  the encoder pass), without selection-split evaluations. Its trained head is copied into the model.
- stage 2 is ``full_finetune`` (:class:`tlbench.EncoderStrategy`): the shared engine trains encoder
  and head with the engine's options (``lr``, ``epochs``, a suite's ``[training]`` budget and
  checkpoint rule, which apply to this stage only).

The run is charged for both: the record's compute counts (optimizer steps, epochs, examples, tokens,
the feature extraction's one-off seconds) are the two stages' sums, the train seconds cover both
(``fit`` is timed whole), and ``details["stages"]`` keeps each stage's counts and seconds apart.
``fit`` is ``full_finetune``'s own (:meth:`EncoderStrategy.fit`); stage 1 runs where that ``fit``
builds the model (:meth:`LpFt._build`), so with ``probe_epochs = 0`` the run is ``full_finetune``'s,
bit for bit on CPU with the same seed (a test), and with stage 1 the engine re-seeds before stage 2
whatever stage 1 drew. The probe's pooling is the fine-tuned model's resolved pooling (``auto`` is cls
for a fine-tuned encoder but mean for the probe): the head that moves over is trained on the very
representation it then sits on.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from pydantic import Field

from tlbench import EncoderOptions, EncoderStrategy, Fitted, Float, Job, Register, hookimpl
from tlbench_builtin.linear_probe import LinearProbe, LinearProbeOptions

# stage 1's defaults are linear_probe's (LinearProbeOptions: lr 3e-3, 30 epochs, 256 rows a step on
# cached features); stage 2's are full_finetune's (EncoderOptions: lr 5e-5, 2 epochs, 32 rows a step)
_PROBE = LinearProbeOptions()


class LpFtOptions(EncoderOptions):
    probe_epochs: float = Field(
        _PROBE.epochs, ge=0, le=1000,
        description="stage 1: passes of the head over the frozen features (0: no stage 1, plain fine-tuning)")
    probe_lr: float = Field(_PROBE.lr, gt=0, le=1.0, description="stage 1: the head's peak learning rate")
    probe_batch_size: int = Field(_PROBE.batch_size, gt=0, le=65536, description="stage 1: rows per step")


def add_compute(a: Any, b: Any) -> Any:
    """A :class:`~tlbench.engine.training.Compute` holding both stages' counts, field by field."""
    return type(a)(**{f.name: getattr(a, f.name) + getattr(b, f.name) for f in dataclasses.fields(a)})


def stage_summary(compute: Any, seconds: float) -> dict[str, Any]:
    return {"optimizer_steps": compute.optimizer_steps, "epochs": compute.epochs,
            "examples_seen": compute.examples_seen, "tokens": compute.tokens,
            "oneoff_seconds": compute.oneoff_seconds, "seconds": seconds}


class LpFt(EncoderStrategy):
    description = "LP-FT: the head trains on the frozen encoder first, then everything fine-tunes from it"
    Options = LpFtOptions
    #: fine-tuning's ranges, and the probe's for its learning rate
    search_space = {**EncoderStrategy.search_space, "probe_lr": Float(1e-4, 3e-2, log=True)}
    options: LpFtOptions
    #: set during :meth:`fit` only (not :meth:`load`): stage 1's counts and seconds, filled by :meth:`_build`
    _stage1: dict[str, Any] | None = None

    def probe_strategy(self, pooling: str | None = None) -> LinearProbe:
        """Stage 1: the linear probe on this strategy's representation and head. ``pooling``: the one
        the fine-tuned model resolved (``auto`` means cls for a fine-tuned encoder but mean for the
        probe, so stage 1 must be told). No selection-split evaluation (``evals_per_epoch`` and
        ``min_evals`` 0): nothing is chosen on stage 1's way."""
        o = self.options
        return LinearProbe(f"{self.name}/probe", LinearProbeOptions(
            pooling=pooling or o.pooling, layers=o.layers, head=o.head, lr=o.probe_lr,
            epochs=o.probe_epochs, batch_size=o.probe_batch_size, precision=o.precision,
            backbone_dtype=o.backbone_dtype,
            eval_batch_size=o.eval_batch_size, evals_per_epoch=0, min_evals=0))

    def probe_stage(self, job: Job, model: Any) -> Any:
        """Train a head on the frozen features of ``model``'s representation and copy it into
        ``model.head`` (the encoder is not touched); return stage 1's compute counts."""
        probed: Any = self.probe_strategy(getattr(model, "pooling", None)).fit(job)
        model.head.load_state_dict(probed.module.head.state_dict())
        return probed.compute

    def _build(self, job: Job) -> Any:
        """full_finetune's model; inside :meth:`fit`, its head then trained by stage 1. The engine
        re-seeds before stage 2, so what stage 1 drew changes nothing there."""
        model = super()._build(job)
        if self._stage1 is not None and self.options.probe_epochs > 0:
            start = time.perf_counter()
            self._stage1["compute"] = self.probe_stage(job, model)
            self._stage1["seconds"] = time.perf_counter() - start
        return model

    def fit(self, job: Job) -> Fitted:
        """full_finetune's ``fit`` (:meth:`EncoderStrategy.fit`) as is, around a model whose head
        stage 1 trained; the run's compute is both stages' counts."""
        from tlbench.engine.training import Compute

        self._stage1 = {"compute": Compute(), "seconds": 0.0}
        try:
            start = time.perf_counter()
            fitted: Any = super().fit(job)
            seconds = time.perf_counter() - start
        finally:
            stage1, self._stage1 = self._stage1, None
        probe, finetune = stage1["compute"], fitted.compute
        fitted.compute = add_compute(probe, finetune)
        fitted.details = {**fitted.details, "stages": {
            "probe": stage_summary(probe, stage1["seconds"]),
            "finetune": stage_summary(finetune, seconds - stage1["seconds"])}}
        return fitted


    def planned_examples(self, train_rows: int | None, *, group: Any = ()) -> float | None:
        """Stage 2's examples (fine-tuning's: a ``[training]`` budget sizes it) plus stage 1's,
        ``probe_epochs`` passes of the head over the training rows' cached features (None when the
        rows are unknown), as the plan counts the linear probe's."""
        stage2 = super().planned_examples(train_rows, group=group)
        if stage2 is None or self.options.probe_epochs == 0:
            return stage2
        return None if train_rows is None else stage2 + train_rows * self.options.probe_epochs


@hookimpl
def register_strategies(register: Register) -> None:
    register("lp_ft", LpFt)
