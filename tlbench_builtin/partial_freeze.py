"""``partial_freeze``: the embeddings and the bottom ``frozen_layers`` transformer layers stay as
pretrained; the layers above and the head train.

Between the frozen probe (everything frozen) and full fine-tuning (nothing frozen): the lower layers
hold general lexical features, the upper ones adapt. Freezing also saves the backward pass through
the frozen layers, so training is cheaper. What must be stored per task is the trained top layers
and the head.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tlbench import EncoderOptions, EncoderStrategy, Int, hookimpl


class PartialFreezeOptions(EncoderOptions):
    frozen_layers: int = Field(
        3, ge=0, le=128, description="transformer layers frozen from the bottom (embeddings always)")


def transformer_layers(backbone: Any) -> Any:
    """The encoder's stack of transformer layers: the longest ``ModuleList`` of same-type blocks
    (``encoder.layer`` in BERT, ``transformer.layer`` in DistilBERT, ``layers`` in others)."""
    from torch import nn

    stacks = [m for m in backbone.modules() if isinstance(m, nn.ModuleList) and len(m)
              and len({type(x) for x in m}) == 1]
    if not stacks:
        raise ValueError(f"{type(backbone).__name__} has no list of transformer layers to freeze")
    return max(stacks, key=len)


class PartialFreeze(EncoderStrategy):
    description = "embeddings and the bottom k encoder layers frozen; the rest and the head train"
    Options = PartialFreezeOptions
    search_space = {**EncoderStrategy.search_space, "frozen_layers": Int(1, 4)}
    options: PartialFreezeOptions

    def choose_trainable(self, model: Any) -> None:
        model.requires_grad_(True)
        backbone = model.backbone
        layers = transformer_layers(backbone)
        k = self.options.frozen_layers
        if k > len(layers):
            raise ValueError(f"frozen_layers = {k}, but the model has only {len(layers)} layers")
        backbone.get_input_embeddings().requires_grad_(False)
        embeddings = getattr(backbone, "embeddings", None)  # BERT-style: positions, types, norm too
        if embeddings is not None:
            embeddings.requires_grad_(False)
        for layer in layers[:k]:
            layer.requires_grad_(False)


@hookimpl
def register_strategies(register):
    register("partial_freeze", PartialFreeze)
