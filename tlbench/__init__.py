"""tlbench: which way of transferring a pretrained encoder works best on your tasks, and at what cost.

Importing tlbench does not import torch; the engine (``tlbench.engine``) does, when a run starts.
"""

from __future__ import annotations

from importlib import metadata

from tlbench.config import Component, Suite, load_suite
from tlbench.errors import ConfigError, DataError, PluginError, TlbenchError, UnknownNameError
from tlbench.grid import Cell, Run, build_grid, build_runs
from tlbench.hookspecs import Register, hookimpl, hookspec
from tlbench.interfaces import (
    ROLES,
    DataSource,
    Fitted,
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
from tlbench.plugins import Plugins, get_plugins
from tlbench.registry import Entry, Registry

try:
    __version__ = metadata.version("tlbench")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "ROLES", "Cell", "Component", "ConfigError", "DataError", "DataSource", "Entry", "Fitted",
    "HeadSpec", "Job", "ModelRef", "Options", "PluginError", "Plugins", "Register", "Registry", "Role", "Run",
    "Strategy", "StrategyOptions", "Suite", "Task", "TaskData", "TaskOptions", "TlbenchError",
    "UnknownNameError", "__version__", "build_grid", "build_runs", "get_plugins", "hookimpl",
    "hookspec", "load_suite",
]
