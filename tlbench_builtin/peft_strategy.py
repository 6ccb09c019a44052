"""``peft`` and ``lora``: parameter-efficient fine-tuning with Hugging Face PEFT.

``peft`` runs any PEFT method tlbench has checked on a bare encoder, by name (``method``) with that
method's own config fields (``config``, passed to its PEFT config class, e.g. ``LoraConfig``);
``lora`` is LoRA with flat options (``r``, ``alpha``, ``lora_dropout``, ``target_modules``; unset, every
linear layer of any architecture: PEFT's ``all-linear``). Without ``target_modules`` in ``config``,
``peft`` takes PEFT's own per-architecture defaults, or ``all-linear`` for LoRA, LoHa and LoKr on a
model type PEFT has none for (:func:`with_default_targets`).

The backbone is wrapped with ``peft.get_peft_model`` (task type ``FEATURE_EXTRACTION``, so PEFT
adds no head of its own) *before* the engine's :class:`~tlbench.EncoderModel` puts its
pooling and head on top: the head is a plain module outside PEFT, always trains, and is saved with
the adapter (``save_trained`` writes every parameter with ``requires_grad``). Costs are honest:
trainable = adapter + head, total = base + adapter + head, stored bytes = that file.

Prompt-learning methods run through a small wrapper instead of PEFT's forward, which drops
``token_type_ids`` (sentence-pair tasks would lose their segments) and, for prompt and P-tuning,
returns the virtual tokens' states in front of the real ones: the wrapper keeps the segment ids
(virtual tokens get segment 0) and strips the virtual positions, so pooling masks, token
classification and span heads stay aligned with ``input_ids``. Virtual tokens take position
embeddings, so the task's ``max_length`` plus ``num_virtual_tokens`` must fit the encoder's
``max_position_embeddings`` (checked when the model is built).

Tested here (peft 0.21, transformers 5.23, BERT; ``tests/plugins/test_peft.py``: training, frozen base
weights, save -> reload -> same predictions; padding does not change a row's outputs):

- ``lora``, ``loha``, ``lokr``, ``ia3``: adapters on the encoder's linear layers (PEFT's BERT defaults
  when ``target_modules`` is not given: query and value; IA3: key, value and both ``output.dense``).
- ``vera``, ``oft``: VeRA's scaling vectors over shared frozen random projections, OFT's orthogonal
  rotations (PEFT's BERT defaults: query and value; ``tests/plugins/test_peft_presets.py``, which also
  checks the named presets ``vera``, ``oft``, ``dora``, ``rslora`` and ``pissa`` of ``peft_presets.py``).
  OFT on query and value trains and reloads but did not learn the toy classification task there.
- ``prompt_tuning``, ``p_tuning``: virtual token embeddings (P-tuning: produced by an MLP or LSTM).
- ``prefix_tuning``: per-layer key/value prefixes. BERT in transformers 5 takes ``past_key_values``
  (a ``DynamicCache``) in its self-attention even as an encoder, with a bidirectional mask over
  prefix + tokens; real tokens' positions start after the prefix (as in PEFT for decoders).

Refused, with the reason in :data:`REFUSED`: ``adalora`` (its rank re-allocation needs a call after
every optimizer step that the shared engine does not make), methods that need ``task_ids``
(``multitask_prompt_tuning``, ``poly``) and methods built for decoders (``xlora``, ``adaption_prompt``,
``cpt``, ``cartridge``). Every other PEFT method is refused as not checked here: adding one is a line
in :data:`TESTED` and a contract test (fourierft, hra and ln_tuning trained and reloaded exactly in a
first try). vera's frozen random projections are buffers PEFT regenerates from a seed, so they are
neither counted nor stored.
"""

from __future__ import annotations

import dataclasses
import warnings
from functools import cache
from typing import Any

from pydantic import Field, field_validator, model_validator

from tlbench import (
    NEUTRAL_DEFAULT,
    Choice,
    EncoderOptions,
    EncoderStrategy,
    Float,
    Job,
    did_you_mean,
    hookimpl,
    unknown_name_message,
)

#: methods checked on a bare BERT encoder here, and the default peak learning rate of each.
#: Adapters start as the identity (LoRA's B = 0) and have few parameters: they need and tolerate
#: steps about 10x full fine-tuning's 5e-5 (the LoRA paper's RoBERTa-base GLUE runs used 4e-4 to
#: 5e-4). IA3 only rescales activations (T-Few used 3e-3). Virtual tokens and prefixes move even
#: less per step and are trained at 1e-2-ish rates (P-tuning v2 used 5e-3 to 1e-2 on BERT-size models).
#: VeRA trains only scaling vectors, as IA3 does: IA3's rate; OFT starts at the identity rotation, as
#: LoRA at B = 0: LoRA's rate (neither from its own paper's encoder runs; none tuned here).
TESTED: dict[str, float] = {
    "lora": 5e-4, "loha": 5e-4, "lokr": 5e-4, "ia3": 3e-3, "vera": 3e-3, "oft": 5e-4,
    "prompt_tuning": 1e-2, "p_tuning": 1e-2, "prefix_tuning": 1e-2,
}
#: PEFT methods with a known reason not to run here (any other untested method is refused too)
REFUSED: dict[str, str] = {
    "adalora": "AdaLoRA re-allocates ranks through update_and_allocate() after every optimizer step and "
               "adds an orthogonality loss; the shared engine does neither, so it would train as a "
               "fixed-rank SVD LoRA under AdaLoRA's name",
    "multitask_prompt_tuning": "it needs task_ids for every batch (one prompt per task)",
    "poly": "it routes each batch through task-specific adapters and needs task_ids",
    "xlora": "it mixes already trained LoRA adapters and is built for causal language models",
    "adaption_prompt": "it patches the attention of LLaMA, Mistral and GPT-2 decoders only",
    "cpt": "context-aware prompt tuning is defined for causal language models only",
    "cartridge": "it is a stored key/value prefix with frozen attention-sink tokens, designed for causal "
                 "language models; the encoder wrapper here drives prefix_tuning's prefix only",
}
#: config fields tlbench sets itself (an encoder with tlbench's head, trained, no Hub round trip)
MANAGED = ("task_type", "peft_type", "inference_mode", "auto_mapping", "peft_version",
           "base_model_name_or_path", "revision")
_QUIET = r"`is_gradient_checkpointing` is deprecated"  # transformers 5 warning triggered inside PEFT


@cache
def peft_registry() -> dict[str, type]:
    """PEFT's own registry: method name (lower case ``PeftType`` value) -> config class."""
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING

    return {str(getattr(t, "value", t)).lower(): cls for t, cls in PEFT_TYPE_TO_CONFIG_MAPPING.items()}


def allowed_methods() -> list[str]:
    return sorted(m for m in TESTED if m in peft_registry())


def check_method(method: str) -> str:
    method = method.lower()
    registry = peft_registry()
    allowed = allowed_methods()
    if method in allowed:
        return method
    if method in registry:
        why = REFUSED.get(method, "it has not been checked on a bare encoder with tlbench's engine")
        raise ValueError(f"PEFT method {method!r} is not supported by tlbench's peft strategy: {why}. "
                         f"Allowed: {', '.join(allowed)}.")
    raise ValueError(unknown_name_message(
        "PEFT method", method, allowed,
        f"(PEFT {_peft_version()} knows {len(registry)} methods; the others are refused here)"))


def peft_config(method: str, config: dict[str, Any], *, quiet: bool = False) -> Any:
    """The PEFT config object for ``method`` with the user's fields; ValueError naming a bad key."""
    cls = peft_registry()[method]
    fields = sorted(f.name for f in dataclasses.fields(cls) if f.init and f.name not in MANAGED)
    for key in config:
        if key in MANAGED:
            raise ValueError(f"config key {key!r} is set by tlbench (the encoder is wrapped for feature "
                             f"extraction and trained); remove it")
        if key not in fields:
            close = did_you_mean(key, fields)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ValueError(f"unknown config key {key!r} for {cls.__name__} (PEFT method {method!r}).{hint} "
                             f"Allowed: {', '.join(fields)}.")
    try:
        with warnings.catch_warnings():
            if quiet:  # checking options: PEFT's warnings come when the model is built
                warnings.simplefilter("ignore")
            return cls(task_type="FEATURE_EXTRACTION", **config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{cls.__name__} rejected config {config!r}: {exc}") from None


def _peft_version() -> str:
    from importlib.metadata import version

    return version("peft")


# -- options -----------------------------------------------------------------------------------
class PeftOptions(EncoderOptions):
    method: str = Field("lora", description="PEFT method by name (lower case PeftType), e.g. lora, ia3, "
                                            "prompt_tuning")
    config: dict[str, Any] = Field(default_factory=dict,
                                   description="fields of the method's PEFT config class, e.g. {r = 16}")
    lr: float = Field(5e-4, gt=0, le=1.0, description="peak learning rate (default: by method, see TESTED)")

    @model_validator(mode="before")
    @classmethod
    def _lr_by_method(cls, data: Any) -> Any:
        method = str(data.get("method", "lora")).lower() if isinstance(data, dict) else None
        if isinstance(data, dict) and "lr" not in data and method in TESTED:
            data = {**data, "lr": TESTED[method]}
        return data

    @field_validator("method")
    @classmethod
    def _known_method(cls, method: str) -> str:
        return check_method(method)

    @field_validator("config")
    @classmethod
    def _known_fields(cls, config: dict[str, Any], info: Any) -> dict[str, Any]:
        if "method" in info.data:  # else the method's own error is reported
            peft_config(info.data["method"], config, quiet=True)
        return config


#: the ``target_modules`` default before it became PEFT's all-linear (BERT's module names)
BERT_SUFFIXES = ("query", "key", "value", "output.dense", "intermediate.dense")


class LoraOptions(EncoderOptions):
    r: int = Field(8, gt=0, le=4096, description="rank of the low-rank update")
    alpha: float = Field(16.0, gt=0, description="scaling numerator: the update is scaled by alpha / r")
    lora_dropout: float = Field(0.1, ge=0, lt=1, description="dropout on the adapter's input "
                                                            "(`dropout` is the head's, as in full_finetune)")
    # Every linear layer of the transformer blocks, not only query and value: at small ranks, adapting
    # all of them is what brings LoRA close to full fine-tuning (QLoRA, Dettmers et al. 2023; the LoRA
    # paper's query+value choice was made for GPT-3's parameter budget), and at r=8 it is still about
    # 1.5% of MiniLM's weights. Unset, PEFT's own "all-linear" rule picks them in any architecture
    # (every nn.Linear and GPT-2 Conv1D of the bare model, which has no output layer): on BERT exactly
    # query, key, value, both output.dense and intermediate.dense (the pooler is not loaded), the
    # suffixes this default named before, with bit-identical adapters (tests/plugins/test_families.py).
    target_modules: tuple[str, ...] | None = Field(
        None, min_length=1,
        description="module name suffixes that get an adapter (unset: every linear layer, PEFT's all-linear)")
    lr: float = Field(5e-4, gt=0, le=1.0, description="peak learning rate (AdamW)")
    # LoRA+ (Hayou et al. 2024): B's learning rate is loraplus_lr_ratio x A's; the paper's
    # recommended ratio is 2^4 = 16. PEFT's create_loraplus_optimizer builds the groups.
    loraplus_lr_ratio: float | None = Field(
        None, ge=1.0, le=1024, json_schema_extra=NEUTRAL_DEFAULT,
        description="LoRA+: the adapters' B matrices (and, as in PEFT's helper, every 1-D parameter) "
                    "train at lr x this ratio; unset: plain LoRA (the LoRA+ paper recommends 16)")

    @model_validator(mode="after")
    def _one_lr_rule(self) -> LoraOptions:
        if self.loraplus_lr_ratio is not None and self.layer_decay is not None:
            raise ValueError("loraplus_lr_ratio and layer_decay both set learning rates per parameter group; "
                             "set one of them")
        return self

    def identity(self) -> dict[str, Any]:
        """Ids hash unset ``target_modules`` as the suffixes the default named before it was unset:
        on the BERT-style encoders that default served, PEFT's all-linear picks exactly those (with
        bit-identical adapters), so their runs keep their ids (``tests/integration/test_ids.py``)."""
        out = super().identity()
        if out.get("target_modules") is None:
            out["target_modules"] = list(BERT_SUFFIXES)
        return out


# -- the model ---------------------------------------------------------------------------------
@cache
def _prompt_wrapper() -> type:
    import torch
    from torch import nn
    from transformers.modeling_outputs import BaseModelOutput

    class PromptLearningEncoder(nn.Module):
        """A PEFT prompt-learning model whose outputs line up with ``input_ids`` (see module doc)."""

        def __init__(self, peft_model: nn.Module):
            super().__init__()
            self.peft = peft_model
            self.config = peft_model.config  # what EncoderModel reads (hidden_size)
            peft_type = peft_model.active_peft_config.peft_type
            self.prefix = getattr(peft_type, "value", peft_type) == "PREFIX_TUNING"

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor | None = None, output_hidden_states: bool = False,
                    **_: object) -> BaseModelOutput:
            peft, batch = self.peft, input_ids.shape[0]
            virtual = peft.active_peft_config.num_virtual_tokens
            mask = torch.cat([attention_mask.new_ones(batch, virtual), attention_mask], dim=1)
            base = peft.get_base_model()
            if self.prefix:  # keys and values get the prefix in every layer; outputs are the tokens'
                kwargs = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
                out = base(input_ids=input_ids, attention_mask=mask, past_key_values=peft.get_prompt(batch),
                           output_hidden_states=output_hidden_states, **kwargs)
                return BaseModelOutput(last_hidden_state=out.last_hidden_state,
                                       hidden_states=out.hidden_states)
            embeds = peft.word_embeddings(input_ids)
            prompts = peft.get_prompt(batch_size=batch).to(embeds.dtype)
            if prompts.shape[1] != virtual:
                raise RuntimeError(f"expected {virtual} virtual tokens, PEFT made {prompts.shape[1]}")
            kwargs = {}
            if token_type_ids is not None:
                kwargs["token_type_ids"] = torch.cat([token_type_ids.new_zeros(batch, virtual),
                                                      token_type_ids], dim=1)
            out = base(inputs_embeds=torch.cat([prompts, embeds], dim=1), attention_mask=mask,
                       output_hidden_states=output_hidden_states, **kwargs)
            layers = tuple(h[:, virtual:] for h in out.hidden_states) if output_hidden_states else None
            return BaseModelOutput(last_hidden_state=out.last_hidden_state[:, virtual:], hidden_states=layers)

    return PromptLearningEncoder


def wrap_backbone(backbone: Any, config: Any, max_length: int | None = None) -> Any:
    """``backbone`` with PEFT's modules (base weights frozen), returning ``.last_hidden_state``
    aligned with ``input_ids``; ``max_length`` is checked against the position embeddings."""
    from peft import get_peft_model

    prompt = bool(getattr(config, "is_prompt_learning", False))
    if prompt and max_length is not None:
        limit = getattr(backbone.config, "max_position_embeddings", None)
        if limit is not None and max_length + config.num_virtual_tokens > limit:
            raise ValueError(f"max_length ({max_length}) + num_virtual_tokens ({config.num_virtual_tokens}) "
                             f"must be <= the encoder's max_position_embeddings ({limit}): virtual tokens "
                             "take positions too; lower the task's max_length or num_virtual_tokens")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_QUIET)
        model = get_peft_model(backbone, config)
    return _prompt_wrapper()(model) if prompt else model


#: PEFT's shorthand for every linear (and GPT-2 Conv1D) layer but a model's output layer
ALL_LINEAR = "all-linear"
#: methods whose adapters may sit on any linear layer: "all-linear" serves a family PEFT has no
#: default target modules for
ANY_LINEAR = ("lora", "loha", "lokr")


def peft_default_targets(method: str, model_type: str) -> list[str] | None:
    """PEFT's own default ``target_modules`` for ``method`` on ``model_type`` (its per-architecture
    ``TRANSFORMERS_MODELS_TO_<METHOD>_TARGET_MODULES_MAPPING``), None when it has none."""
    from peft.utils import constants

    mapping = getattr(constants, f"TRANSFORMERS_MODELS_TO_{method.upper()}_TARGET_MODULES_MAPPING", {})
    targets = mapping.get(model_type)
    return list(targets) if targets else None


def with_default_targets(config: Any, model_config: Any) -> Any:
    """``config`` with target modules for this architecture when the user gave none: PEFT's own
    per-architecture default where it has one (PEFT applies it itself), else every linear layer
    (``all-linear``) for methods that take any linear layer; for the others a ValueError asking for
    ``target_modules`` and naming the model type."""
    if getattr(config, "is_prompt_learning", False) or getattr(config, "target_modules", "") is not None:
        return config
    peft_type = getattr(config, "peft_type", "")
    method = str(getattr(peft_type, "value", peft_type)).lower()
    model_type = str(getattr(model_config, "model_type", ""))
    if peft_default_targets(method, model_type) is not None:
        return config
    if method in ANY_LINEAR:
        return dataclasses.replace(config, target_modules=ALL_LINEAR)
    raise ValueError(f"PEFT has no default target modules of {method} for model type {model_type!r}: set "
                     f"config.target_modules (and the method's other module lists) for this model")


class PeftStrategy(EncoderStrategy):
    description = "a PEFT method (adapter or prompts) on the frozen encoder; the head trains"
    Options = PeftOptions

    @staticmethod
    def search_space(options: PeftOptions) -> dict[str, Any]:
        # methods' good learning rates differ by 100x (TESTED): search around the cell's own lr
        return {"lr": Float(options.lr / 5, min(1.0, options.lr * 5), log=True),
                "warmup_ratio": Float(0.0, 0.2)}
    options: Any

    def peft_config(self) -> Any:
        return peft_config(self.options.method, self.options.config)

    def prepare_backbone(self, backbone: Any, job: Job) -> Any:
        config = with_default_targets(self.peft_config(), backbone.config)
        return wrap_backbone(backbone, config, getattr(job.task.options, "max_length", None))

    def choose_trainable(self, model: Any) -> None:
        """PEFT froze the base and unfroze its own modules; the head (outside PEFT) trains."""
        for p in model.head.parameters():
            p.requires_grad_(True)


class LoraStrategy(PeftStrategy):
    description = "LoRA (PEFT) on every linear layer of the frozen encoder; the head trains"
    Options = LoraOptions
    search_space = {"lr": Float(1e-4, 3e-3, log=True), "r": Choice(4, 8, 16),
                    "lora_dropout": Float(0.0, 0.2), "warmup_ratio": Float(0.0, 0.2)}

    def make_optimizer(self, device: str) -> Any:
        """LoRA+ through PEFT's ``create_loraplus_optimizer`` (the engine's fused AdamW, its groups)
        when ``loraplus_lr_ratio`` is set; else the engine's optimizer."""
        o = self.options
        if o.loraplus_lr_ratio is None:
            return None

        def build(module: Any) -> Any:
            import torch
            from peft.optimizers import create_loraplus_optimizer

            fused = device.split(":")[0] in ("cuda", "cpu")
            return create_loraplus_optimizer(module, torch.optim.AdamW, lr=o.lr,
                                             loraplus_lr_ratio=o.loraplus_lr_ratio,
                                             loraplus_weight_decay=o.weight_decay, fused=fused or None)
        return build

    def peft_config(self) -> Any:
        o = self.options
        targets = ALL_LINEAR if o.target_modules is None else list(o.target_modules)
        return peft_config("lora", {"r": o.r, "lora_alpha": o.alpha, "lora_dropout": o.lora_dropout,
                                    "target_modules": targets})


@hookimpl
def register_strategies(register):
    register("peft", PeftStrategy)
    register("lora", LoraStrategy)
