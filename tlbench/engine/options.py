"""The engine's knobs, shared by every strategy that trains with it (no torch import here)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tlbench.interfaces import StrategyOptions


class EngineOptions(StrategyOptions):
    lr: float = Field(5e-5, gt=0, le=1.0, description="peak learning rate (AdamW)")
    epochs: float = Field(2.0, gt=0, le=100, description="passes over the training rows")
    batch_size: int = Field(32, gt=0, le=4096)
    eval_batch_size: int = Field(256, gt=0, le=65536)
    weight_decay: float = Field(0.01, ge=0, le=1.0)
    warmup_ratio: float = Field(0.06, ge=0, lt=1.0)
    grad_clip: float = Field(1.0, gt=0)
    length_grouping: bool = Field(True, description="batch rows of similar length together")
    evals_per_epoch: int = Field(1, ge=0, le=100, description="selection-split evaluations per epoch")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast on GPUs that support it, fp32 on CPU")
