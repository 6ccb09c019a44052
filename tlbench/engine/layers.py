"""Which transformer layer a parameter belongs to, in any architecture: the stack of layers that
``partial_freeze`` freezes from the bottom and that layer-wise learning-rate decay
(``EngineOptions.layer_decay``) scales from the top.

No module names are assumed: the stack is the longest ``ModuleList`` of same-type blocks, and what
is registered before it (embeddings, their norm and projection) sits below every layer.
"""

from __future__ import annotations

from torch import nn


def transformer_layers(backbone: nn.Module) -> nn.ModuleList:
    """The encoder's stack of transformer layers: the longest ``ModuleList`` of same-type blocks
    (``encoder.layer`` in BERT, ELECTRA, DeBERTa-v2; ``transformer.layer`` in DistilBERT; ``h`` in
    GPT-2; ``layers`` in Llama, Qwen2, ModernBERT)."""
    stacks = [m for m in backbone.modules() if isinstance(m, nn.ModuleList) and len(m)
              and len({type(x) for x in m}) == 1]
    if not stacks:
        raise ValueError(f"{type(backbone).__name__} has no list of transformer layers")
    return max(stacks, key=len)


def layers_run(backbone: nn.Module) -> int | None:
    """How many transformer layers the model runs: its config's ``num_hidden_layers`` (GPT-2's
    ``n_layer``, DistilBERT's ``n_layers``)."""
    config = getattr(backbone, "config", None)
    for key in ("num_hidden_layers", "n_layer", "n_layers"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    return None


def shared_layers_problem(backbone: nn.Module, layers: nn.ModuleList) -> str | None:
    """Why the bottom layers cannot be treated apart from the top ones: the model runs more layers
    than it holds (ALBERT runs one shared layer ``num_hidden_layers`` times), so a layer's weights
    serve at several depths."""
    run = layers_run(backbone)
    if run is not None and run > len(layers):
        return (f"{type(backbone).__name__} runs {run} transformer layers with {len(layers)} set(s) of "
                f"weights shared between them (ALBERT-style cross-layer sharing)")
    return None


def layer_depths(model: nn.Module, backbone: nn.Module | None = None) -> dict[int, int]:
    """Each trainable parameter's distance from the top (by ``id``): 0 for the head and whatever the
    backbone registers after its layers (final norms, a pooler); ``L - i`` for layer ``i`` of ``L``
    (the top layer 1); ``L + 1`` for what the backbone registers before its layers (embeddings).
    The depths of ELECTRA's layer-wise decay (Clark et al. 2020, ``_get_layer_lrs``) without its
    pooler level. ``backbone``: the encoder inside ``model`` (``model.backbone`` when it has one)."""
    backbone = backbone if backbone is not None else getattr(model, "backbone", model)
    layers = transformer_layers(backbone)
    problem = shared_layers_problem(backbone, layers)
    if problem:
        raise ValueError(f"layer-wise learning-rate decay needs one set of weights per layer: {problem}")
    count = len(layers)
    depth: dict[int, int] = {}
    for i, layer in enumerate(layers):
        for p in layer.parameters():
            depth[id(p)] = count - i
    below = True
    for p in backbone.parameters():  # registration order: what comes before the stack is below it
        if id(p) in depth:
            below = False
        elif below:
            depth[id(p)] = count + 1
    return {id(p): depth.get(id(p), 0) for p in model.parameters() if p.requires_grad}


def decayed_lr_scales(model: nn.Module, decay: float) -> dict[int, float]:
    """Each trainable parameter's learning-rate multiplier ``decay ** depth`` (:func:`layer_depths`)."""
    return {pid: decay ** d for pid, d in layer_depths(model).items()}


__all__ = ["decayed_lr_scales", "layer_depths", "layers_run", "shared_layers_problem",
           "transformer_layers"]
