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

from tlbench import EncoderOptions, EncoderStrategy, Int, ModelFacts, hookimpl


class PartialFreezeOptions(EncoderOptions):
    frozen_layers: int = Field(
        3, ge=0, le=128, description="transformer layers frozen from the bottom (embeddings always)")


class PartialFreeze(EncoderStrategy):
    description = "embeddings and the bottom k encoder layers frozen; the rest and the head train"
    Options = PartialFreezeOptions
    search_space = {**EncoderStrategy.search_space, "frozen_layers": Int(1, 4)}
    options: PartialFreezeOptions

    def model_problem(self, model: ModelFacts) -> str | None:
        k, layers = self.options.frozen_layers, model.layers
        if layers is not None and k > layers:
            return f"frozen_layers = {k}, but {model.id} has only {layers} layers"
        if k > 0 and model.shared_layers:
            return (f"partial_freeze cannot freeze {k} layer(s) of {model.id} ({model.model_type}): its "
                    "layers share one set of weights (ALBERT-style), so freezing the bottom layers would "
                    "freeze the top ones too. Use full_finetune, lora or linear_probe")
        return super().model_problem(model)

    def choose_trainable(self, model: Any) -> None:
        """Freezes the input embeddings, every backbone parameter registered before the first
        layer's (BERT's ``embeddings``, GPT-2's ``wpe``, ALBERT/ELECTRA's embedding projection) and
        the bottom ``frozen_layers`` layers; the rest (top layers, final norms, shared relative
        position tables such as DeBERTa-v2's) and the head train."""
        from tlbench.engine.layers import shared_layers_problem, transformer_layers

        model.requires_grad_(True)
        backbone = model.backbone
        layers = transformer_layers(backbone)
        k = self.options.frozen_layers
        if k > len(layers):
            raise ValueError(f"frozen_layers = {k}, but the model has only {len(layers)} layers")
        problem = shared_layers_problem(backbone, layers)
        if problem and k > 0:
            raise ValueError(f"partial_freeze cannot freeze {k} layer(s): {problem}: freezing the bottom "
                             "layers would freeze the top ones too. Use full_finetune, lora or linear_probe")
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
