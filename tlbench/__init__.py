"""tlbench: which way of transferring a pretrained encoder works best on your tasks, and at what cost.

**The public API is this package's namespace** (``__all__``) **and** ``tlbench.testing`` (the
plugin conformance kit). Every other module (``tlbench.interfaces``, ``tlbench.engine``, ``tlbench.
runner``, ...) is an implementation module, private by convention as in optuna's layout: plugins
and user code import from ``tlbench`` only, and a name that is not exported here may change in any
release. ``docs/plugins.md`` describes what a plugin author uses.

Importing tlbench does not import torch (``tlbench --help`` and ``tlbench validate`` stay fast):
names that need torch (the shared engine: ``train``, ``ModuleFitted``, ``EncoderModel``, ...) or
numpy (``TextTask``, ``Sampler``, the data helpers) are imported on first access (PEP 562).
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

from tlbench.config import Component, Suite, load_suite
from tlbench.encoder_strategy import EncoderOptions, EncoderStrategy, EngineStrategy
from tlbench.engine.options import EngineOptions
from tlbench.errors import (
    ConfigError,
    DataError,
    PluginError,
    StopTrial,
    TlbenchError,
    UnknownNameError,
    unknown_name_message,
)
from tlbench.errors import suggest as did_you_mean
from tlbench.grid import Cell, Run, build_grid, build_runs
from tlbench.hookspecs import Register, hookimpl, hookspec
from tlbench.interfaces import (
    DESCRIPTIVE,
    HEAD_KINDS,
    NEUTRAL_DEFAULT,
    ROLES,
    DataSource,
    Fitted,
    HeadKind,
    HeadSpec,
    Job,
    ModelRef,
    Options,
    Role,
    Strategy,
    StrategyOptions,
    Task,
    TaskData,
    TaskOptions,
)
from tlbench.model_facts import ModelFacts
from tlbench.plugins import Plugins, get_plugins
from tlbench.progress import Progress
from tlbench.registry import Entry, Registry
from tlbench.space import Choice, Float, Int

if TYPE_CHECKING:  # what __getattr__ imports on first access, for type checkers and editors
    from tlbench.data import cap, carve, label_names, load_split, mirror_file
    from tlbench.engine import (
        Collator,
        EncoderModel,
        FeatureModel,
        ModuleFitted,
        count_parameters,
        length_grouped_loader,
        load_backbone,
        load_tokenizer,
        load_trained,
        rows_of,
        save_trained,
        train,
    )
    from tlbench.runner import prepare_job
    from tlbench.samplers import Sampler, size_power
    from tlbench.text_task import TextTask, classification_metrics, correlations, encode_texts

#: public names imported on first access (they import torch or numpy): name -> module
_LAZY = {
    **dict.fromkeys(("Collator", "EncoderModel", "FeatureModel", "ModuleFitted", "count_parameters",
                     "length_grouped_loader", "load_backbone", "load_tokenizer", "load_trained",
                     "rows_of", "save_trained", "train"), "tlbench.engine"),
    **dict.fromkeys(("TextTask", "classification_metrics", "correlations", "encode_texts"),
                    "tlbench.text_task"),
    **dict.fromkeys(("cap", "carve", "label_names", "load_split", "mirror_file"), "tlbench.data"),
    **dict.fromkeys(("Sampler", "size_power"), "tlbench.samplers"),
    "prepare_job": "tlbench.runner",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'tlbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})

try:
    __version__ = metadata.version("tlbench")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    # configuration, the grid and plugins
    "Cell", "Component", "Entry", "Plugins", "Register", "Registry", "Run", "Suite", "build_grid",
    "build_runs", "get_plugins", "hookimpl", "hookspec", "load_suite",
    # the plugin contract
    "DESCRIPTIVE", "HEAD_KINDS", "NEUTRAL_DEFAULT", "ROLES", "DataSource", "Fitted", "HeadKind", "HeadSpec",
    "Job", "ModelFacts", "ModelRef", "Options",
    "Progress", "Role", "Strategy", "StrategyOptions", "Task", "TaskData", "TaskOptions",
    # reusable bases, options and search spaces
    "Choice", "EncoderOptions", "EncoderStrategy", "EngineOptions", "EngineStrategy", "Float", "Int",
    "Sampler", "TextTask", "size_power",
    # errors and messages
    "ConfigError", "DataError", "PluginError", "StopTrial", "TlbenchError", "UnknownNameError",
    "did_you_mean", "unknown_name_message",
    # the shared engine (imports torch on first access)
    "Collator", "EncoderModel", "FeatureModel", "ModuleFitted", "count_parameters",
    "length_grouped_loader", "load_backbone", "load_tokenizer", "load_trained", "prepare_job", "rows_of",
    "save_trained", "train",
    # task helpers: data files and metrics
    "cap", "carve", "classification_metrics", "correlations", "encode_texts", "label_names", "load_split",
    "mirror_file",
    "__version__",
]
