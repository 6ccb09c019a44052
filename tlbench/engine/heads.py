"""Pooling, task heads and their losses, chosen by the task's :class:`HeadSpec`.

Kinds: ``classification`` and ``regression`` give one output row per text (pooled); ``token_classification``
gives one row per token; ``span`` gives a start and an end logit per token (extractive QA).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from tlbench.interfaces import HeadSpec

POOLINGS = ("cls", "mean")
SEQUENCE_KINDS = ("classification", "regression")
TOKEN_KINDS = ("token_classification", "span")
IGNORE = -100  # label of positions no loss is computed on (padding, non-first sub-tokens)


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


def is_token_level(spec: HeadSpec) -> bool:
    if spec.kind not in SEQUENCE_KINDS + TOKEN_KINDS:
        raise NotImplementedError(f"no head for kind {spec.kind!r}; known: {SEQUENCE_KINDS + TOKEN_KINDS}")
    return spec.kind in TOKEN_KINDS


def build_head(spec: HeadSpec, hidden_size: int, dropout: float = 0.1) -> nn.Module:
    """Dropout and a linear map to the kind's outputs (2 for span: start and end)."""
    is_token_level(spec)
    width = {"regression": 1, "span": 2}.get(spec.kind, spec.num_labels)
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden_size, width))


def loss_function(spec: HeadSpec) -> Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]:
    """``loss(outputs, batch)`` for the head kind."""
    ce = nn.CrossEntropyLoss(ignore_index=IGNORE)
    if spec.kind == "classification":
        return lambda out, batch: ce(out, batch["labels"])
    if spec.kind == "regression":
        return lambda out, batch: nn.functional.mse_loss(out.squeeze(-1), batch["labels"].float())
    if spec.kind == "token_classification":
        return lambda out, batch: ce(out.reshape(-1, out.shape[-1]), batch["labels"].reshape(-1))

    def span_loss(out: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        pad = batch["attention_mask"] == 0
        start, end = (out[..., i].masked_fill(pad, torch.finfo(out.dtype).min) for i in (0, 1))
        return (ce(start, batch["start_positions"]) + ce(end, batch["end_positions"])) / 2

    if spec.kind == "span":
        return span_loss
    raise NotImplementedError(f"no loss for head kind {spec.kind!r}")


class EncoderModel(nn.Module):
    """Encoder + (pooling for text-level kinds) + head."""

    def __init__(self, backbone: nn.Module, spec: HeadSpec, pooling: str = "cls", dropout: float = 0.1):
        super().__init__()
        self.backbone = backbone
        self.token_level = is_token_level(spec)
        self.pooler = Pooler(pooling)
        self.head = build_head(spec, backbone.config.hidden_size, dropout)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, **_: object) -> torch.Tensor:
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        return self.head(hidden if self.token_level else self.pooler(hidden, attention_mask))


class FeatureModel(nn.Module):
    """A head on precomputed (frozen) features: ``[B, H]`` pooled, or ``[B, T, H]`` per token."""

    def __init__(self, spec: HeadSpec, hidden_size: int, dropout: float = 0.0):
        super().__init__()
        self.head = build_head(spec, hidden_size, dropout)

    def forward(self, features: torch.Tensor, **_: object) -> torch.Tensor:
        return self.head(features)
