"""Named PEFT presets: ``dora``, ``rslora``, ``pissa`` (LoRA variants) and ``vera``, ``oft``.

Each is a strategy of its own with flat options, built on :mod:`tlbench_builtin.peft_strategy`
(the same wrapping, head, saving and counting as ``lora`` and ``peft``), so a suite can name it
like ``lora`` and compare it cell for cell:

- ``dora``: DoRA, Weight-Decomposed Low-Rank Adaptation (Liu et al., ICML 2024,
  arXiv:2402.09353). Each adapted weight is split into a magnitude vector (trained) and a direction
  that LoRA updates. PEFT: ``LoraConfig(use_dora=True)``.
- ``rslora``: rank-stabilized LoRA (Kalajdzievski 2023, arXiv:2312.03732): the update is scaled by
  ``alpha / sqrt(r)`` instead of ``alpha / r``, so its learning does not collapse as the rank grows.
  PEFT: ``LoraConfig(use_rslora=True)``.
- ``pissa``: PiSSA, Principal Singular values and Singular vectors Adaptation (Meng, Wang and Zhang,
  NeurIPS 2024, arXiv:2404.02948): the adapter starts as the top-``r`` singular components of each
  weight and the frozen base keeps the residual (the model's outputs at initialisation are the
  pretrained ones). PEFT: ``LoraConfig(init_lora_weights="pissa")``, the exact SVD: the fast
  randomized one (``pissa_niter_K``) draws random numbers, so a reloaded model would get another
  residual. The residual is recomputed from the pretrained weights when the model is built, so
  it is neither stored nor counted as trained (like the frozen base it replaces).
- ``vera``: VeRA, Vector-based Random Matrix Adaptation (Kopiczko, Blankevoort and Asano, ICLR 2024,
  arXiv:2310.11454): one pair of frozen random low-rank matrices shared by every adapted layer, and
  two trained scaling vectors per layer. The random matrices are buffers PEFT draws from
  ``projection_prng_key``, so they are regenerated, not stored, and not counted as trained.
  PEFT: ``VeraConfig``.
- ``oft``: OFT, Orthogonal Finetuning (Qiu et al., NeurIPS 2023, arXiv:2306.07280): each weight is
  multiplied by a trained block-diagonal orthogonal matrix (Cayley parameterisation), which keeps
  the angles between its neurons. PEFT: ``OFTConfig`` (PEFT's OFT is the OFTv2 implementation of
  Qiu et al. 2025, with the Cayley-Neumann approximation by default).

``dora``, ``rslora`` and ``pissa`` take exactly ``lora``'s options (their options classes subclass
``LoraOptions``) and differ from ``lora`` only in the one LoRA config flag they mean, which is fixed.
``vera`` and ``oft`` take their PEFT config's main fields. Every preset adapts every linear layer of
the blocks unless ``target_modules`` is set (PEFT's ``all-linear``, as ``lora``), so the presets
differ from each other in the method, not in where it sits; this also serves model families PEFT
has no default target modules for (DistilBERT, ALBERT, ModernBERT, ...).

A preset given another method's option fails validation naming the key, the method it belongs to and
the preset's own options (``[strategies.dora]`` with ``vera_dropout``; ``[strategies.vera]`` with
``lora_dropout``); other methods' fields, or a combination of flags, go through ``peft``
(``method = "lora"``, ``config = {use_dora = true, use_rslora = true}``).

Defaults and where they came from are in each field's description and in docs/strategies.md; none
was tuned, on selection or report splits. Tested: ``tests/plugins/test_peft_presets.py`` (the
conformance kit on a tiny BERT, text and token classification; the flags in the built model; PiSSA's
residual; validation errors; a family without PEFT default targets).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, ClassVar

from pydantic import Field, model_validator

from tlbench import Choice, EncoderOptions, Float, Job, hookimpl
from tlbench_builtin.peft_strategy import (
    ALL_LINEAR,
    TESTED,
    LoraOptions,
    LoraStrategy,
    PeftStrategy,
    peft_config,
    wrap_backbone,
)

#: the LoRA config flag each LoRA preset fixes
LORA_FLAGS: dict[str, dict[str, Any]] = {
    "dora": {"use_dora": True},
    "rslora": {"use_rslora": True},
    "pissa": {"init_lora_weights": "pissa"},
}


def _own_keys(options: type[Any]) -> set[str]:
    """The options a preset adds to the engine's (``EncoderOptions``)."""
    return set(options.model_fields) - set(EncoderOptions.model_fields)


def _foreign_key_message(preset: str, options: type[Any], key: str) -> str | None:
    """Why ``key`` is not an option of ``preset`` when it belongs to another PEFT method (a flat
    option of another preset or of ``lora``, a LoRA flag a preset fixes, a field of a PEFT config
    class); None for any other key (pydantic's unknown-key error lists the allowed ones)."""
    allowed = ", ".join(sorted(options.model_fields))
    for flag_preset, flag in LORA_FLAGS.items():
        if key in flag:
            return (f"{key!r} is the LoRA flag the {flag_preset} preset sets (always {flag[key]!r}); "
                    f"{preset} takes flat options only: {allowed}. To combine flags, use strategy "
                    f"'peft' with method = 'lora' and config = {{{key} = ...}}")
    owners = [name for name, cls in PRESET_OPTIONS.items() if name != preset and key in _own_keys(cls)]
    if key in _own_keys(LoraOptions):
        owners = ["lora", *owners]
    if owners:
        return (f"{key!r} is an option of {', '.join(owners)}, not of the {preset} preset "
                f"({PRESET_METHOD[preset]}). Allowed: {allowed}")
    from tlbench_builtin.peft_strategy import peft_registry

    for method in TESTED:
        cls = peft_registry().get(method)
        if cls is not None and key in {f.name for f in dataclasses.fields(cls) if f.init}:
            return (f"{key!r} is a field of PEFT's {cls.__name__}, not an option of the {preset} preset "
                    f"(flat options only). Allowed: {allowed}. Other PEFT fields: strategy 'peft' with "
                    f"method = {method!r} and config = {{{key} = ...}}")
    return None


def _check_keys(preset: str, options: type[Any], data: Any) -> Any:
    if isinstance(data, dict):
        for key in data:
            if key not in options.model_fields:
                message = _foreign_key_message(preset, options, str(key))
                if message:
                    raise ValueError(message)
    return data


# -- LoRA variants --------------------------------------------------------------------------------
class DoraOptions(LoraOptions):
    """``lora``'s options; DoRA trains a magnitude vector per adapted weight besides A and B."""

    @model_validator(mode="before")
    @classmethod
    def _other_methods_keys(cls, data: Any) -> Any:
        return _check_keys("dora", cls, data)


class RsloraOptions(LoraOptions):
    """``lora``'s options; the update is scaled by alpha / sqrt(r) (at the defaults r 8, alpha 16:
    5.66, where ``lora`` scales by 2)."""

    @model_validator(mode="before")
    @classmethod
    def _other_methods_keys(cls, data: Any) -> Any:
        return _check_keys("rslora", cls, data)


class PissaOptions(LoraOptions):
    """``lora``'s options, with no dropout by default (see ``lora_dropout``)."""

    # With PiSSA the adapter holds the top-r singular components of each weight (the base keeps the
    # residual), so dropout on the adapter's input drops part of the layer's main signal in training,
    # not a small update; PiSSA's own fine-tuning recipes use lora_dropout 0 (recalled from the PiSSA
    # repository's examples; not re-checked here, no network).
    lora_dropout: float = Field(
        0.0, ge=0, lt=1,
        description="dropout on the adapter's input; 0 by default: PiSSA's adapter carries the weight's "
                    "principal components, so dropping its input perturbs the layer's main signal "
                    "(PiSSA's examples use 0)")

    @model_validator(mode="before")
    @classmethod
    def _other_methods_keys(cls, data: Any) -> Any:
        return _check_keys("pissa", cls, data)


class LoraPreset(LoraStrategy):
    """``lora`` plus one fixed LoRA config flag (:data:`LORA_FLAGS`)."""

    preset: ClassVar[str]

    def peft_config(self) -> Any:
        # lora's own config (so its options and their mapping stay one definition), with the flag;
        # dataclasses.replace re-runs LoraConfig's own checks on the result
        return dataclasses.replace(super().peft_config(), **LORA_FLAGS[self.preset])


class DoraStrategy(LoraPreset):
    description = "DoRA (PEFT): LoRA on a magnitude/direction split of every linear layer; the head trains"
    Options = DoraOptions  # type: ignore[assignment]  # as LoraStrategy's: a narrower options class
    preset = "dora"


class RsloraStrategy(LoraPreset):
    description = "rank-stabilized LoRA (PEFT): updates scaled by alpha/sqrt(r); the head trains"
    Options = RsloraOptions  # type: ignore[assignment]  # as LoraStrategy's: a narrower options class
    preset = "rslora"


class PissaStrategy(LoraPreset):
    description = "PiSSA (PEFT): LoRA started from each weight's top singular components; the head trains"
    Options = PissaOptions  # type: ignore[assignment]  # as LoraStrategy's: a narrower options class
    preset = "pissa"


# -- VeRA and OFT ---------------------------------------------------------------------------------
_TARGETS = ("module name suffixes that get an adapter (unset: every linear layer, PEFT's all-linear, "
            "as lora)")


class VeraOptions(EncoderOptions):
    r: int = Field(256, gt=0, le=65536,
                   description="rank of the shared random projections (PEFT's VeraConfig default 256; "
                               "VeRA needs far higher ranks than LoRA for its few trained values)")
    d_initial: float = Field(0.1, gt=0, le=10,
                             description="initial value of the trained vector lambda_d (PEFT's default 0.1; "
                                         "the VeRA paper recommends <= 0.1, its Table 6c)")
    vera_dropout: float = Field(0.0, ge=0, lt=1,
                                description="dropout on the adapter's input (PEFT's default 0)")
    projection_prng_key: int = Field(0, ge=0,
                                     description="seed of the frozen random projections (PEFT's default 0); "
                                                 "they are regenerated from it on reload, not stored")
    target_modules: tuple[str, ...] | None = Field(None, min_length=1, description=_TARGETS)
    # VeRA trains only per-feature scaling vectors on frozen weights, as IA3 does: IA3's rate (T-Few,
    # peft_strategy.TESTED) rather than LoRA's. The VeRA paper's own GLUE rates (its appendix) were not
    # available offline to check; nothing here was tuned.
    lr: float = Field(TESTED["ia3"], gt=0, le=1.0,
                      description="peak learning rate (AdamW); IA3's 3e-3 (T-Few): both train only scaling "
                                  "vectors on frozen weights. Not tuned")

    @model_validator(mode="before")
    @classmethod
    def _other_methods_keys(cls, data: Any) -> Any:
        return _check_keys("vera", cls, data)


class OftOptions(EncoderOptions):
    oft_block_size: int = Field(32, gt=0, le=4096,
                                description="size of the orthogonal blocks; must divide every adapted "
                                            "layer's input width (PEFT's OFTConfig default 32)")
    module_dropout: float = Field(0.0, ge=0, lt=1,
                                  description="probability of replacing a block by the identity in training "
                                              "(OFT's multiplicative dropout; PEFT's default 0)")
    coft: bool = Field(False, description="constrained OFT: keep each rotation within eps of the identity "
                                          "(PEFT's default off)")
    eps: float = Field(6e-5, gt=0, description="COFT's radius (PEFT's default 6e-5); only with coft")
    block_share: bool = Field(False, description="one block shared by all blocks of a layer "
                                                 "(PEFT's default off)")
    use_cayley_neumann: bool = Field(True, description="the Cayley transform by a Neumann series (PEFT's "
                                                       "default; false: the exact inverse, slower)")
    target_modules: tuple[str, ...] | None = Field(None, min_length=1, description=_TARGETS)
    # OFT starts at the identity rotation, as LoRA starts at B = 0, and trains a similar number of
    # parameters per layer; the OFT paper's recipes are for diffusion models, so LoRA's rate is taken.
    lr: float = Field(TESTED["lora"], gt=0, le=1.0,
                      description="peak learning rate (AdamW); lora's 5e-4 (the OFT paper's recipes are for "
                                  "diffusion models). Not tuned")

    @model_validator(mode="before")
    @classmethod
    def _other_methods_keys(cls, data: Any) -> Any:
        return _check_keys("oft", cls, data)


def _targets(options: Any) -> Any:
    return ALL_LINEAR if options.target_modules is None else list(options.target_modules)


class VeraStrategy(PeftStrategy):
    description = "VeRA (PEFT): shared frozen random projections, trained scaling vectors; the head trains"
    Options = VeraOptions  # type: ignore[assignment]  # as LoraStrategy's: a narrower options class
    search_space = {"lr": Float(1e-3, 3e-2, log=True), "r": Choice(64, 256, 1024),
                    "warmup_ratio": Float(0.0, 0.2)}  # type: ignore[assignment]

    def peft_config(self) -> Any:
        o = self.options
        return peft_config("vera", {"r": o.r, "d_initial": o.d_initial, "vera_dropout": o.vera_dropout,
                                    "projection_prng_key": o.projection_prng_key,
                                    "target_modules": _targets(o)})


class OftStrategy(PeftStrategy):
    description = "OFT (PEFT): block-diagonal orthogonal rotations of every linear layer; the head trains"
    Options = OftOptions  # type: ignore[assignment]  # as LoraStrategy's: a narrower options class
    search_space = {"lr": Float(1e-4, 3e-3, log=True), "oft_block_size": Choice(8, 16, 32),
                    "module_dropout": Float(0.0, 0.1), "warmup_ratio": Float(0.0, 0.2)}  # type: ignore[assignment]

    def peft_config(self) -> Any:
        o = self.options
        return peft_config("oft", {"oft_block_size": o.oft_block_size, "r": 0,
                                   "module_dropout": o.module_dropout, "coft": o.coft, "eps": o.eps,
                                   "block_share": o.block_share, "use_cayley_neumann": o.use_cayley_neumann,
                                   "target_modules": _targets(o)})

    def prepare_backbone(self, backbone: Any, job: Job) -> Any:
        """PEFT silently picks another block size for a layer whose width the asked one does not
        divide: here that is an error naming both, so the run is the configuration it says it is."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = wrap_backbone(backbone, self.peft_config(), getattr(job.task.options, "max_length", None))
        adjusted = [str(w.message) for w in caught if "Invalid `oft_block_size`" in str(w.message)]
        if adjusted:
            raise ValueError(f"oft_block_size {self.options.oft_block_size} does not divide the input width "
                             f"of every adapted layer of {type(backbone).__name__} (PEFT: {adjusted[0]}); "
                             "choose a divisor of the hidden and intermediate sizes, e.g. 8, 16 or 32")
        for w in caught:  # the others, as they were
            if "is_gradient_checkpointing" not in str(w.message):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return model


#: preset -> its options class, and what it is (for messages)
PRESET_OPTIONS: dict[str, type[EncoderOptions]] = {
    "dora": DoraOptions, "rslora": RsloraOptions, "pissa": PissaOptions,
    "vera": VeraOptions, "oft": OftOptions,
}
PRESET_METHOD = {"dora": "LoRA with use_dora", "rslora": "LoRA with use_rslora",
                 "pissa": "LoRA with PiSSA initialisation", "vera": "PEFT's VeRA", "oft": "PEFT's OFT"}


@hookimpl
def register_strategies(register: Any) -> None:
    register("dora", DoraStrategy)
    register("rslora", RsloraStrategy)
    register("pissa", PissaStrategy)
    register("vera", VeraStrategy)
    register("oft", OftStrategy)
