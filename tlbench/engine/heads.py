"""Representations, task heads and their losses, chosen by the task's :class:`HeadSpec`.

Kinds: ``classification`` and ``regression`` give one output row per text (pooled); ``token_classification``
gives one row per token; ``span`` gives a start and an end logit per token (extractive QA).

A representation is the last layer's token states or the last four layers' concatenated
(``layers = "last4"``, 4x wider), pooled for text-level kinds (first token or mean). Heads: ``linear``,
``mlp`` (one hidden layer as wide as its input) and ``crf`` (token classification: a linear-chain
CRF from pytorch-crf over the labelled positions, decoded with Viterbi).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from tlbench.engine.model import hidden_size, is_decoder, uses_token_types
from tlbench.engine.options import head_problem
from tlbench.interfaces import HEAD_KINDS, HeadSpec

POOLINGS = ("cls", "mean", "last")
#: what a strategy's ``pooling`` option takes: a mode, or ``auto`` (:func:`resolve_pooling`)
POOLING_OPTIONS = ("auto", *POOLINGS)
LAYERS = {"last": 1, "last4": 4}  # option value -> how many top layers are concatenated
HEADS = ("linear", "mlp", "crf")
TOKEN_KINDS = ("token_classification", "span")  # one output row per token; the others: one per text
SEQUENCE_KINDS = tuple(kind for kind in HEAD_KINDS if kind not in TOKEN_KINDS)
IGNORE = -100  # label of positions no loss is computed on (padding, non-first sub-tokens)

Loss = Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]


class Pooler(nn.Module):
    """One vector per text: the first token's state (``cls``), the mean over real tokens (``mean``)
    or the last real token's state (``last``: a causal decoder's only token that has seen the whole
    text). ``last`` reads the mask, so it is the same with padding on the right or on the left."""

    def __init__(self, mode: str):
        super().__init__()
        if mode not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {mode!r}")
        self.mode = mode

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.mode == "cls":
            return hidden[:, 0]
        if self.mode == "last":
            return hidden[torch.arange(hidden.shape[0], device=hidden.device), last_real(mask)]
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def last_real(mask: torch.Tensor) -> torch.Tensor:
    """Each row's last position whose mask is 1 (left or right padding alike)."""
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    return torch.where(mask.bool(), positions, -1).max(dim=1).values.clamp(min=0)


def resolve_pooling(pooling: str, config: Any, encoder_default: str = "cls") -> str:
    """The pooling ``auto`` stands for: the last real token for a causal decoder
    (:func:`tlbench.engine.model.is_decoder`), else ``encoder_default`` (the strategy's pooling for
    encoders: ``cls`` when fine-tuning, ``mean`` for the frozen probe). Any other value is kept."""
    if pooling != "auto":
        return pooling
    return "last" if is_decoder(config) else encoder_default


def is_token_level(spec: HeadSpec) -> bool:
    return spec.kind in TOKEN_KINDS


def output_width(spec: HeadSpec) -> int:
    return {"regression": 1, "span": 2}.get(spec.kind, spec.num_labels)


#: standard deviation of a new head's weights: BERT's ``initializer_range``, what Hugging Face's task
#: heads use (torch's default uniform init starts ~2.5x larger at width 384 and fine-tunes worse)
INIT_STD = 0.02


def build_head(spec: HeadSpec, width: int, dropout: float = 0.1, head: str = "linear") -> nn.Module:
    """``linear``: dropout and a linear map to the kind's outputs (2 for span: start and end);
    ``mlp``: one hidden GELU layer first; ``crf``: linear emissions and a CRF (token labels only)."""
    is_token_level(spec)
    problem = head_problem(spec, head)
    if problem:
        raise ValueError(problem)
    out = output_width(spec)
    if head == "linear":
        module: nn.Module = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, out))
    elif head == "mlp":
        module = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, width), nn.GELU(),
                               nn.Dropout(dropout), nn.Linear(width, out))
    elif head == "crf":
        from tlbench.engine.crf import CrfHead

        module = CrfHead(width, out, dropout)
    else:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")
    for layer in module.modules():
        if isinstance(layer, nn.Linear):  # BERT's recipe (transformers' _init_weights), not torch's
            nn.init.normal_(layer.weight, std=INIT_STD)
            nn.init.zeros_(layer.bias)
    return module


def loss_function(spec: HeadSpec) -> Loss:
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


class _Headed(nn.Module):
    """Calls the head (a CRF head also gets the labelled-position mask) and owns the loss."""

    head: nn.Module
    spec: HeadSpec

    def _apply_head(self, x: torch.Tensor, token_mask: torch.Tensor | None) -> torch.Tensor:
        if getattr(self.head, "wants_token_mask", False):
            return self.head(x, token_mask)
        return self.head(x)

    def loss(self, out: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        own = getattr(self.head, "loss", None)
        return own(out, batch) if own is not None else loss_function(self.spec)(out, batch)


class Representation(nn.Module):
    """Encoder token states (last layer, or the last four concatenated), pooled for text-level kinds.

    Segment ids reach the model only when it has a token type embedding of more than one row
    (:func:`~tlbench.engine.model.uses_token_types`). A causal decoder gets position ids counted
    over the real tokens (0 at each row's first real token), so a row's outputs do not depend on
    padding on either side; encoders get the model's own positions, as before."""

    def __init__(self, backbone: nn.Module, *, token_level: bool, pooling: str = "cls",
                 layers: str = "last"):
        super().__init__()
        if layers not in LAYERS:
            raise ValueError(f"layers must be one of {tuple(LAYERS)}, got {layers!r}")
        self.backbone = backbone
        self.layers = layers
        config: Any = getattr(backbone, "config", None)
        self.pooling = None if token_level else resolve_pooling(pooling, config)
        self.pooler = None if self.pooling is None else Pooler(self.pooling)
        self.width = hidden_size(backbone) * LAYERS[layers]
        self.token_types = uses_token_types(config)
        self.decoder = is_decoder(config)

    def _inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None) -> dict[str, torch.Tensor]:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None and self.token_types:
            kwargs["token_type_ids"] = token_type_ids
        if self.decoder:
            kwargs["position_ids"] = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        return kwargs

    def represent(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                  token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        kwargs = self._inputs(input_ids, attention_mask, token_type_ids)
        if self.layers == "last":
            out = self.backbone(**kwargs)
            hidden = out.last_hidden_state
        else:
            out = self.backbone(output_hidden_states=True, **kwargs)
            n = LAYERS[self.layers]
            if len(out.hidden_states) - 1 < n:  # hidden_states[0] is the embeddings' output
                raise ValueError(f"layers = {self.layers!r} needs {n} transformer layers; this model "
                                 f"has {len(out.hidden_states) - 1}")
            hidden = torch.cat(out.hidden_states[-n:], dim=-1)
        return hidden if self.pooler is None else self.pooler(hidden, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, **_: Any) -> torch.Tensor:
        # ``Any``: the batch's other keys are ignored here; subclasses give some of them a type
        return self.represent(input_ids, attention_mask, token_type_ids)


class EncoderModel(Representation, _Headed):
    """Encoder + representation + head."""

    def __init__(self, backbone: nn.Module, spec: HeadSpec, pooling: str = "cls", dropout: float = 0.1,
                 *, head: str = "linear", layers: str = "last"):
        super().__init__(backbone, token_level=is_token_level(spec), pooling=pooling, layers=layers)
        self.spec = spec
        self.token_level = is_token_level(spec)
        self.head = build_head(spec, self.width, dropout, head)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, token_mask: torch.Tensor | None = None,
                **_: object) -> torch.Tensor:
        return self._apply_head(self.represent(input_ids, attention_mask, token_type_ids), token_mask)


class FeatureModel(_Headed):
    """A head on precomputed (frozen) features: ``[B, H]`` pooled, or ``[B, T, H]`` per token."""

    def __init__(self, spec: HeadSpec, width: int, dropout: float = 0.0, *, head: str = "linear"):
        super().__init__()
        self.spec = spec
        self.head = build_head(spec, width, dropout, head)

    def forward(self, features: torch.Tensor, token_mask: torch.Tensor | None = None,
                **_: object) -> torch.Tensor:
        return self._apply_head(features, token_mask)
