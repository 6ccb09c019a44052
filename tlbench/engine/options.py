"""The engine's knobs, shared by every strategy that trains with it, and which head serves which
task kind (checked when a suite is validated, so no torch import here). The kinds themselves are
``tlbench.interfaces.HeadKind``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tlbench.interfaces import NEUTRAL_DEFAULT, HeadSpec, StrategyOptions


class EngineOptions(StrategyOptions):
    lr: float = Field(5e-5, gt=0, le=1.0, description="peak learning rate (AdamW)")
    epochs: float = Field(2.0, gt=0, le=100, description="passes over the training rows")
    max_steps: int | None = Field(
        None, gt=0, le=100_000_000, json_schema_extra=NEUTRAL_DEFAULT,
        description="optimizer steps; when set, replaces epochs (a suite's [training] budget sets it)")
    batch_size: int = Field(32, gt=0, le=4096, description="rows per optimizer step (over all micro-batches)")
    grad_accum_steps: int = Field(
        1, gt=0, le=1024, description="micro-batches per optimizer step (batch_size must divide by it)")
    eval_batch_size: int = Field(256, gt=0, le=65536)
    weight_decay: float = Field(0.01, ge=0, le=1.0)
    warmup_ratio: float = Field(0.06, ge=0, lt=1.0)
    grad_clip: float = Field(1.0, gt=0)
    length_grouping: bool = Field(True, description="batch rows of similar length together")
    evals_per_epoch: int = Field(1, ge=0, le=100, description="selection-split evaluations per epoch")
    early_stopping_patience: int = Field(
        0, ge=0, description="stop after this many scheduled evaluations without improvement and restore "
                             "the best weights (0: off; needs evals_per_epoch > 0)")
    min_evals: int = Field(
        4, ge=0, le=100, json_schema_extra=NEUTRAL_DEFAULT,
        description="at least this many selection-split evaluations per run, evenly spread over its steps, "
                    "for the curve (and checkpoint = best); never reported to the tuning pruner nor counted "
                    "by early stopping (0: off)")
    checkpoint: Literal["last", "best"] | None = Field(
        None, json_schema_extra=NEUTRAL_DEFAULT,
        description="the weights a run ends with: last (the final step's) or best (those of the best "
                    "selection evaluation) [default: best with early stopping, else last]")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast on GPUs that support it, fp32 on CPU")
    backbone_dtype: Literal["fp32", "bf16"] = Field(
        "fp32", json_schema_extra=NEUTRAL_DEFAULT,
        description="the dtype the backbone's weights are held in, whatever the checkpoint's: fp32, or "
                    "bf16 (half the memory of a large frozen backbone; what trains stays fp32; needs "
                    "bf16 autocast: precision bf16, or auto on a GPU)")

    @model_validator(mode="after")
    def _consistent(self) -> EngineOptions:
        if self.batch_size % self.grad_accum_steps:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of grad_accum_steps "
                             f"({self.grad_accum_steps})")
        if self.early_stopping_patience and not self.evals_per_epoch:
            raise ValueError("early_stopping_patience needs evaluations: set evals_per_epoch > 0")
        if self.checkpoint == "last" and self.early_stopping_patience:
            raise ValueError("early stopping restores the best weights: checkpoint = 'last' contradicts "
                             "early_stopping_patience > 0")
        if self.backbone_dtype == "bf16" and self.precision == "fp32":
            raise ValueError("backbone_dtype = 'bf16' computes under bf16 autocast: precision = 'fp32' "
                             "turns it off; set precision = 'bf16' (or 'auto' on a GPU)")
        if self.checkpoint == "best" and not (self.evals_per_epoch or self.min_evals):
            raise ValueError("checkpoint = 'best' needs evaluations: set evals_per_epoch or min_evals > 0")
        return self

    @property
    def restores_best(self) -> bool:
        """Whether the run ends with the weights of its best selection evaluation."""
        return self.checkpoint == "best" or (self.checkpoint is None and self.early_stopping_patience > 0)



def head_problem(spec: HeadSpec, head: str) -> str | None:
    """Why ``head`` cannot serve a task needing ``spec`` (None when it can)."""
    if head == "crf" and spec.kind != "token_classification":
        return f"head 'crf' labels token sequences; this task's head is {spec.kind!r}"
    if head == "knn" and spec.kind not in ("classification", "regression", "token_classification"):
        return f"head 'knn' predicts labels or values; this task's head is {spec.kind!r} (use linear or mlp)"
    return None
