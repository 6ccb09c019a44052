"""``adapter``: AdapterHub bottleneck adapters on the frozen encoder; the task head trains.

The strategy runs the `adapters` library (AdapterHub, https://docs.adapterhub.ml; tested with
1.3.0) inside tlbench's shared engine, the way the built-in ``peft`` strategy runs PEFT:

1. the engine loads the bare encoder; :meth:`Adapter.prepare_backbone` calls ``adapters.init(backbone)``
   (which swaps the model's classes for adapter-aware ones in place), ``backbone.add_adapter(NAME,
   config=...)`` and ``backbone.train_adapter(NAME)``, which freezes every pretrained weight,
   unfreezes the new adapter's and makes it the active adapter of every forward pass;
2. the engine's ``EncoderModel`` puts its pooling and the task head on top: the head is a plain
   module outside the library, always trains, and is saved with the adapter (the engine saves
   exactly the parameters with ``requires_grad`` set: adapter + head, nothing of the encoder);
3. reloading builds the same model (same adapter name and configuration) and reads those
   parameters back.

Option ``config`` names one of the library's **bottleneck** configurations (``seq_bn``: Pfeiffer et
al. 2020; ``double_seq_bn``: Houlsby et al. 2019; ``par_bn``: He et al. 2022; ``scaled_par_bn``;
``seq_bn_inv`` / ``double_seq_bn_inv``: with invertible adapters after the embeddings; ``compacter``
/ ``compacter++``: Mahabadi et al. 2021). The allowed names are read from the library's own registry
(``adapters.ADAPTER_CONFIG_MAP``, the entries that are ``BnConfig``) when a suite loads; the library's
deprecated aliases (``pfeiffer``, ``houlsby``, ...) are accepted and recorded under the current name.

**Environment.** adapters 1.3.0 requires transformers~=4.57.6, while tlbench is usually installed with
transformers 5.x: this plugin needs its own virtual environment (README.md). Nothing here imports
``adapters`` (or torch) at module level, so ``tlbench plugins`` lists the strategy in any environment;
where the library is missing or incompatible, a run of the strategy fails at fit time with
:class:`AdaptersUnavailable` saying why, and the runner records that failure.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from functools import cache
from typing import Any

from pydantic import Field, field_validator

from tlbench import (
    Choice,
    EncoderOptions,
    EncoderStrategy,
    Float,
    Job,
    Register,
    TlbenchError,
    did_you_mean,
    hookimpl,
)

#: the name the adapter gets inside the model (parameter names contain it: changing it breaks
#: reloading of saved results)
NAME = "tlbench"
TESTED_ADAPTERS = "1.3.0"
#: the library's deprecated config strings (adapters' ADAPTER_CONFIG_MAP, "DEPRECATED STRINGS") and
#: the current names they equal; a suite may use either, records carry the current one
ALIASES = {"pfeiffer": "seq_bn", "houlsby": "double_seq_bn", "parallel": "par_bn",
           "scaled_parallel": "scaled_par_bn", "pfeiffer+inv": "seq_bn_inv",
           "houlsby+inv": "double_seq_bn_inv"}
#: adapters 1.3.0's bottleneck configurations and their default reduction factors, used only where the
#: library cannot be imported (validating a suite in tlbench's main environment); with the library
#: installed, its registry is the reference
FALLBACK_BOTTLENECKS = {"seq_bn": 16.0, "double_seq_bn": 16.0, "par_bn": 2.0, "scaled_par_bn": 2.0,
                        "seq_bn_inv": 16.0, "double_seq_bn_inv": 16.0, "compacter": 32.0,
                        "compacter++": 32.0}
_ENV_HINT = ("adapters cannot share an environment with tlbench's usual transformers 5.x: install tlbench "
             "and this plugin in their own virtual environment (see plugins/tlbench-adapterhub/README.md; "
             ".ci/adapterhub.sh builds one)")


class AdaptersUnavailable(TlbenchError, ImportError):  # reads better at the call site
    """The `adapters` library is missing, or the installed transformers is not one it supports."""


# -- the library and its registry -----------------------------------------------------------------
def adapters_problem() -> str | None:
    """Why ``import adapters`` cannot work here (None when it can), from package metadata alone:
    no import of torch, transformers or adapters."""
    from importlib.metadata import PackageNotFoundError, requires, version

    try:
        have = version("adapters")
    except PackageNotFoundError:
        return (f"the adapter strategy needs AdapterHub's `adapters` library (tested with "
                f"{TESTED_ADAPTERS}), which is not installed in this environment ({_ENV_HINT})")
    from packaging.requirements import InvalidRequirement, Requirement

    for line in requires("adapters") or []:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.name.lower() != "transformers" or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        try:
            transformers = version("transformers")
        except PackageNotFoundError:
            return f"adapters {have} requires transformers{req.specifier}, which is not installed"
        if not req.specifier.contains(transformers, prereleases=True):
            return (f"adapters {have} requires transformers{req.specifier}, but this environment has "
                    f"transformers {transformers}; {_ENV_HINT}")
    return None


def require_adapters() -> Any:
    """The imported ``adapters`` module, or :class:`AdaptersUnavailable` saying what is wrong."""
    problem = adapters_problem()
    if problem:
        raise AdaptersUnavailable(problem)
    try:
        import adapters
    except ImportError as exc:
        raise AdaptersUnavailable(f"`import adapters` failed: {exc} ({_ENV_HINT})") from exc
    return adapters


def _registry() -> dict[str, Any] | None:
    """adapters' ``ADAPTER_CONFIG_MAP`` (name -> config object), or None where it cannot be imported."""
    if adapters_problem():
        return None
    try:
        from adapters import ADAPTER_CONFIG_MAP
    except ImportError:
        return None
    return ADAPTER_CONFIG_MAP


@cache
def bottleneck_defaults() -> dict[str, Any]:
    """Bottleneck config name -> its default reduction factor: the library's registry (the
    ``ADAPTER_CONFIG_MAP`` entries that are ``BnConfig``, aliases left out) when it can be imported,
    else :data:`FALLBACK_BOTTLENECKS`."""
    registry = _registry()
    if registry is None:
        return dict(FALLBACK_BOTTLENECKS)
    from adapters import BnConfig

    return {name: config.reduction_factor for name, config in registry.items()
            if isinstance(config, BnConfig) and name not in ALIASES}


def check_config(name: str) -> str:
    """``name`` as the current bottleneck configuration name, or ValueError listing the allowed ones."""
    known = bottleneck_defaults()
    current = ALIASES.get(name, name)
    if current in known:
        return current
    allowed = ", ".join(sorted(known))
    registry = _registry()
    usable = registry is not None
    if registry is not None and name in registry:
        kind = type(registry[name]).__name__
        raise ValueError(f"adapter config {name!r} ({kind}) is not a bottleneck adapter; the adapter "
                         f"strategy trains bottleneck adapters only. Allowed: {allowed}.")
    close = did_you_mean(name, [*known, *ALIASES])
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    source = ("the bottleneck configurations in adapters' registry" if usable else
              f"the bottleneck configurations of adapters {TESTED_ADAPTERS}; the library is not importable "
              "here, so this is the plugin's copy of its list")
    aliases = ", ".join(f"{a} (= {c})" for a, c in ALIASES.items())
    raise ValueError(f"Unknown adapter config {name!r}.{hint} Allowed ({source}): {allowed}. The library's "
                     f"deprecated aliases are accepted too: {aliases}.")


def adapter_config(name: str, reduction_factor: float | dict[str, float] | None) -> Any:
    """The library's config object for ``name``, with ``reduction_factor`` when given. Read from the
    local registry: nothing is looked up on AdapterHub."""
    require_adapters()
    from adapters import ADAPTER_CONFIG_MAP

    config = ADAPTER_CONFIG_MAP[check_config(name)]
    if reduction_factor is not None:
        config = config.replace(reduction_factor=reduction_factor)
    return config


def is_adapter_parameter(name: str) -> bool:
    """Whether the backbone parameter ``name`` belongs to this strategy's adapter: bottleneck layers
    (``...adapters.<NAME>...``), invertible adapters and Compacter's shared PHM parameters."""
    return (f".adapters.{NAME}." in f".{name}" or name.startswith(f"invertible_adapters.{NAME}.")
            or name.startswith(f"shared_parameters.{NAME}."))


@contextlib.contextmanager
def _quiet_activation() -> Iterator[None]:
    """``train_adapter`` resets adapters under a forward context before it activates the new one, and
    the library then warns "adapters available but none are activated": true only for that instant."""
    log = logging.getLogger("adapters.model_mixin")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


# -- options and strategy ---------------------------------------------------------------------------
class AdapterOptions(EncoderOptions):
    config: str = Field("seq_bn", description="bottleneck adapter configuration, by the adapters library's "
                                              "name: seq_bn (Pfeiffer), double_seq_bn (Houlsby), par_bn, "
                                              "scaled_par_bn, seq_bn_inv, double_seq_bn_inv, compacter, "
                                              "compacter++")
    reduction_factor: float | dict[str, float] | None = Field(
        None, description="hidden size / bottleneck size; a number, or per layer {\"0\" = 8, default = 16}; "
                          "unset: the configuration's own default (16 for seq_bn and double_seq_bn, 2 for "
                          "par_bn, 32 for compacter)")
    # Adapters start near the identity and are small: they need far larger steps than full
    # fine-tuning's 5e-5. AdapterHub's docs recommend 1e-4, with 10 epochs in their GLUE example;
    # tlbench's runs are short (2 epochs by default) and small. Measured here (seq_bn, the
    # frozen all-MiniLM-L6-v2, 400 SST-2 rows, 2 epochs, batch 16, mean pooling, one seed; accuracy on
    # the 872 validation sentences): 1e-4 0.559, 3e-4 0.549, 1e-3 0.694, 3e-3 0.786.
    lr: float = Field(3e-3, gt=0, le=1.0, description="peak learning rate (AdamW)")

    @field_validator("config")
    @classmethod
    def _known_config(cls, config: str) -> str:
        return check_config(config)

    @field_validator("reduction_factor")
    @classmethod
    def _positive(cls, value: float | dict[str, float] | None) -> float | dict[str, float] | None:
        if value is None:
            return None
        values = value.values() if isinstance(value, dict) else [value]
        if any(v <= 0 for v in values):
            raise ValueError(f"reduction_factor must be > 0, got {value!r}")
        if isinstance(value, dict):
            bad = [k for k in value if not (k == "default" or k.isdigit())]
            if bad:
                raise ValueError(f"reduction_factor keys are layer numbers (\"0\", \"1\", ...) or "
                                 f"\"default\", got {bad}")
        return value


class Adapter(EncoderStrategy):
    description = ("AdapterHub bottleneck adapters (adapters 1.3; its own venv) on the frozen encoder; "
                   "the head trains")
    Options = AdapterOptions
    options: AdapterOptions

    @staticmethod
    def search_space(options: AdapterOptions) -> dict[str, Any]:
        """lr, warmup, and the bottleneck width around the cell's reduction factor (x0.5, x1, x2: the
        configurations' defaults differ 16-fold, from par_bn's 2 to compacter's 32)."""
        space: dict[str, Any] = {"lr": Float(3e-4, 1e-2, log=True), "warmup_ratio": Float(0.0, 0.2)}
        rf = options.reduction_factor
        if rf is None:
            rf = bottleneck_defaults().get(options.config)
        if isinstance(rf, int | float):
            space["reduction_factor"] = Choice(*sorted({float(rf) / 2, float(rf), float(rf) * 2}))
        return space

    def prepare_backbone(self, backbone: Any, job: Job) -> Any:
        adapters = require_adapters()
        config = adapter_config(self.options.config, self.options.reduction_factor)
        adapters.init(backbone)  # in place: the model's classes become adapter-aware
        backbone.add_adapter(NAME, config=config)
        with _quiet_activation():
            backbone.train_adapter(NAME)  # freezes the encoder, unfreezes and activates the adapter
        return backbone

    def choose_trainable(self, model: Any) -> None:
        """The library set the encoder's flags; the head (outside the library) trains. Anything else
        that trains would be saved and counted as the adapter's, so it is refused."""
        for name, parameter in model.named_parameters():
            if not name.startswith("head."):
                inner = name.removeprefix("backbone.")
                ours = name.startswith("backbone.") and is_adapter_parameter(inner)
                if parameter.requires_grad and not ours:
                    raise RuntimeError(f"{name} trains but is not part of adapter {NAME!r}: the adapters "
                                       "library froze less than expected")
        if not any(p.requires_grad for p in model.backbone.parameters()):
            raise RuntimeError(f"adapter {NAME!r} added no trainable parameters to the encoder")
        model.head.requires_grad_(True)


@hookimpl
def register_strategies(register: Register) -> None:
    register("adapter", Adapter)
