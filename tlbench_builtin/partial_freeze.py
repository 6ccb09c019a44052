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
    (``encoder.layer`` in BERT, ELECTRA, DeBERTa-v2; ``transformer.layer`` in DistilBERT; ``h`` in
    GPT-2; ``layers`` in Llama, Qwen2, ModernBERT)."""
    from torch import nn

    stacks = [m for m in backbone.modules() if isinstance(m, nn.ModuleList) and len(m)
              and len({type(x) for x in m}) == 1]
    if not stacks:
        raise ValueError(f"{type(backbone).__name__} has no list of transformer layers to freeze")
    return max(stacks, key=len)


def layers_run(backbone: Any) -> int | None:
    """How many transformer layers the model runs: its config's ``num_hidden_layers`` (GPT-2's
    ``n_layer``, DistilBERT's ``n_layers``)."""
    config = getattr(backbone, "config", None)
    for key in ("num_hidden_layers", "n_layer", "n_layers"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    return None


def shared_layers_problem(backbone: Any, layers: Any) -> str | None:
    """Why the bottom layers cannot be frozen apart from the top ones: the model runs more layers
    than it holds (ALBERT runs one shared layer ``num_hidden_layers`` times), so freezing a layer
    freezes it everywhere it runs."""
    run = layers_run(backbone)
    if run is not None and run > len(layers):
        return (f"{type(backbone).__name__} runs {run} transformer layers with {len(layers)} set(s) of "
                f"weights shared between them (ALBERT-style cross-layer sharing): freezing the bottom "
                "layers would freeze the top ones too. Use full_finetune, lora or linear_probe")
    return None


class PartialFreeze(EncoderStrategy):
    description = "embeddings and the bottom k encoder layers frozen; the rest and the head train"
    Options = PartialFreezeOptions
    search_space = {**EncoderStrategy.search_space, "frozen_layers": Int(1, 4)}
    options: PartialFreezeOptions

    def choose_trainable(self, model: Any) -> None:
        """Freezes the input embeddings, every backbone parameter registered before the first
        layer's (BERT's ``embeddings``, GPT-2's ``wpe``, ALBERT/ELECTRA's embedding projection) and
        the bottom ``frozen_layers`` layers; the rest (top layers, final norms, shared relative
        position tables such as DeBERTa-v2's) and the head train."""
        model.requires_grad_(True)
        backbone = model.backbone
        layers = transformer_layers(backbone)
        k = self.options.frozen_layers
        if k > len(layers):
            raise ValueError(f"frozen_layers = {k}, but the model has only {len(layers)} layers")
        problem = shared_layers_problem(backbone, layers)
        if problem and k > 0:
            raise ValueError(f"partial_freeze cannot freeze {k} layer(s): {problem}")
        backbone.get_input_embeddings().requires_grad_(False)
        embeddings = getattr(backbone, "embeddings", None)  # BERT-style: positions, types, norm too
        if embeddings is not None:
            embeddings.requires_grad_(False)
        in_layers = {id(p) for p in layers.parameters()}
        for parameter in backbone.parameters():  # in registration order: what comes before the stack
            if id(parameter) in in_layers:
                break
            parameter.requires_grad_(False)
        for layer in layers[:k]:
            layer.requires_grad_(False)


@hookimpl
def register_strategies(register):
    register("partial_freeze", PartialFreeze)
