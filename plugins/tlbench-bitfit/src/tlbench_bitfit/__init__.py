"""``bitfit``: only the encoder's bias terms and the task head train (Ben Zaken et al., ACL 2022).

A complete tlbench strategy plugin. tlbench finds it through the entry point in this
distribution's pyproject.toml (``[project.entry-points.tlbench] bitfit = "tlbench_bitfit"``),
imports this module, and calls its ``@hookimpl`` functions.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

# Import from `tlbench` only: its namespace (and tlbench.testing, for tests) is the plugin API;
# every other tlbench module is private and may change in any release.
# EncoderStrategy is the core's encoder-plus-head strategy (the built-in full_finetune is it as is):
# its shared engine does the training, evaluation, saving and loading; a subclass only says which
# parameters train.
from tlbench import EncoderOptions, EncoderStrategy, Float, ModelFacts, Register, hookimpl

# Import nothing heavy (torch, transformers) at module level: tlbench imports every plugin to list
# them and to validate suites, and those commands must stay fast. Import inside methods instead.


class BitFitOptions(EncoderOptions):
    """Everything ``full_finetune`` takes (lr, epochs, pooling, head, ...) with BitFit's defaults.

    Options are a frozen pydantic model that refuses unknown keys: a suite's ``[strategies.bitfit]``
    table is validated against it by ``tlbench validate``, before any compute.
    """

    # a redeclared field changes its default; the paper's best rates were 1e-4..1e-3, far higher
    # than full fine-tuning's, because the few parameters that train must move further
    lr: float = Field(1e-3, gt=0, le=1.0, description="peak learning rate (AdamW)")


class BitFit(EncoderStrategy):
    description = "only the encoder's bias terms and the head train (BitFit)"  # `tlbench plugins`
    Options = BitFitOptions  # the registry requires every registered class to carry an Options model
    # What `[tuning]` may change: option name -> tlbench.space.Float | Int | Choice. Each name must
    # be a field of Options and each bound a value Options accepts (checked when a suite loads).
    # weight_decay is left out: the engine never decays biases, so it would only touch the head.
    search_space = {"lr": Float(1e-4, 3e-3, log=True), "warmup_ratio": Float(0.0, 0.2)}
    options: BitFitOptions  # for type checkers: self.options is a validated BitFitOptions

    def model_problem(self, model: ModelFacts) -> str | None:
        """Refuse, when the suite is validated, a model whose config.json switches every bias off
        (Llama, Qwen3, ModernBERT); ``choose_trainable`` checks again on the built model."""
        if model.biases is False:
            return (f"bitfit trains the encoder's biases, and {model.id} ({model.model_type}) has none (its "
                    "config.json switches them off), so BitFit would train only the head; use "
                    "linear_probe for that, or lora")
        return super().model_problem(model)

    def choose_trainable(self, model: Any) -> None:
        """Set ``requires_grad`` on the model EncoderStrategy built: an ``EncoderModel`` whose
        ``backbone`` is the pretrained encoder and whose ``head`` is the task head."""
        model.requires_grad_(False)  # freeze everything (including anything added later) ...
        biases = 0
        for name, parameter in model.backbone.named_parameters():
            # ... then unfreeze every bias of the encoder, by the parameter's own name in any
            # architecture: attention, feed-forward, LayerNorm (BERT's ``dense.bias``, GPT-2's
            # ``c_attn.bias``, DistilBERT's ``q_lin.bias``, Qwen2's ``q_proj.bias``)
            if name.rsplit(".", 1)[-1] == "bias":
                parameter.requires_grad_(True)
                biases += 1
        if not biases:  # Llama-style blocks have no biases at all: BitFit would train only the head
            raise ValueError(f"bitfit: {type(model.backbone).__name__} has no bias parameters (its linear "
                             "layers and norms are built without them), so BitFit would train only the "
                             "head; use linear_probe for that, or lora")
        model.head.requires_grad_(True)  # the task head is new, so it always trains
        # The engine optimizes, counts and saves exactly the parameters with requires_grad set.


# The registration hook: called once when tlbench builds its registries, with a ``register``
# callback bound to this distribution (so `tlbench plugins` and collision errors can name it).
# The hook's name and argument name must match tlbench.hookspecs; a typo fails when it loads.
@hookimpl
def register_strategies(register: Register) -> None:
    register("bitfit", BitFit)  # the name a suite uses: [strategies.bitfit]
