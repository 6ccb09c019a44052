"""Pooling, task heads and their losses, chosen by the task's :class:`HeadSpec`."""

from __future__ import annotations

import torch
from torch import nn

from tlbench.interfaces import HeadSpec

POOLINGS = ("cls", "mean")


class Pooler(nn.Module):
    """One vector per text: the first token's state (``cls``) or the mean over real tokens."""

    def __init__(self, mode: str):
        super().__init__()
        if mode not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {mode!r}")
        self.mode = mode

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.mode == "cls":
            return hidden[:, 0]
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def build_head(spec: HeadSpec, hidden_size: int, dropout: float = 0.1) -> nn.Module:
    if spec.kind in ("classification", "regression"):
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden_size, spec.num_labels))
    raise NotImplementedError(f"no head for kind {spec.kind!r} yet")


def loss_function(spec: HeadSpec):  # noqa: ANN201 - a torch loss module
    if spec.kind == "classification":
        return nn.CrossEntropyLoss()
    if spec.kind == "regression":
        return lambda out, y: nn.functional.mse_loss(out.squeeze(-1), y.float())
    raise NotImplementedError(f"no loss for head kind {spec.kind!r} yet")


class SequenceModel(nn.Module):
    """Encoder + pooling + head: one output row per text."""

    def __init__(self, backbone: nn.Module, spec: HeadSpec, pooling: str, dropout: float = 0.1):
        super().__init__()
        self.backbone = backbone
        self.pooler = Pooler(pooling)
        self.head = build_head(spec, backbone.config.hidden_size, dropout)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: object) -> torch.Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(self.pooler(hidden, attention_mask))
