"""The plugin API reference: every hook a tlbench plugin may implement.

A plugin is a module (or any object) named by an entry point in the ``tlbench`` group::

    [project.entry-points.tlbench]
    foo = "tlbench_foo"

whose functions are marked with :data:`tlbench.hookimpl`. The built-in strategies, tasks and
samplers (the modules of ``tlbench_builtin``, listed in ``tlbench.plugins.BUILTIN_PLUGINS``) are
registered through the same ``Plugins.add`` as entry points, so they have no privilege a
third-party plugin lacks. Hook implementations are checked against these specifications when the
plugins load: a misspelt hook name or argument is an error (pluggy's ``check_pending``).

Calling rules: the ``register_*`` hooks are called once per plugin, with a ``register`` callback
bound to that plugin (and its distribution), so the registry knows who owns each name. A hook
that raises, or a registration the registry refuses, is that plugin's failure: its names are
dropped, the other plugins keep theirs. They must not import torch or transformers: do that inside
the registered classes' methods, so that ``tlbench --help`` and ``tlbench validate`` stay fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from tlbench.contamination import TrainingData

PROJECT = "tlbench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: ``register(name, cls)``: ``name`` a Python identifier, ``cls`` a subclass of the hook's base class
#: (:class:`tlbench.Strategy`, :class:`tlbench.Task`, :class:`tlbench.samplers.Sampler`) with an
#: ``Options`` pydantic model. Anything else is refused, as that plugin's failure.
Register = Callable[[str, type[Any]], None]

#: ``register(kind, name, distribution, install="")``: see :func:`register_providers`.
RegisterProvider = Callable[..., None]


@hookspec
def register_strategies(register: Register) -> None:
    """Register strategies: ``register("bitfit", BitFit)``.

    ``BitFit`` subclasses :class:`tlbench.Strategy`. Its ``Options`` (a subclass of
    :class:`tlbench.StrategyOptions`) is validated against the suite's ``[strategies.<label>]``
    table when the suite loads. A name registered twice, by any plugins, is an error that names
    both plugins and their distributions.
    """


@hookspec
def register_tasks(register: Register) -> None:
    """Register tasks: ``register("my_task", MyTask)``.

    ``MyTask`` subclasses :class:`tlbench.Task`; its ``Options`` (a subclass of
    :class:`tlbench.TaskOptions`) is validated against the suite's ``[tasks.<label>]`` table
    (the task is that table's ``task`` key, else its label).
    """


@hookspec
def register_samplers(register: Register) -> None:
    """Register task samplers for multitask training: ``register("round_robin", RoundRobin)``.

    ``RoundRobin`` subclasses :class:`tlbench.samplers.Sampler` and implements
    ``probabilities(sizes, *, progress, temperature) -> dict[task, probability]``. A suite names it
    with ``sampler = "round_robin"`` in a multitask strategy's table; ``tlbench plugins`` lists it
    with kind ``sampler``.
    """


@hookspec
def register_providers(register: RegisterProvider) -> None:
    """Name what other distributions provide: ``register("strategy", "bitfit", "tlbench-bitfit")``.

    When a suite names something no plugin registered, the error says which distribution provides
    it and how to install it (``install``, default ``pip install <distribution>``), or that it is
    installed but failed or disabled. The core names no plugin: the built-in ``providers`` plugin
    declares the tlbench project's other distributions this way.
    """


@hookspec(firstresult=True)
def resolve_model(model_id: str) -> Path | None:
    """Return a local directory holding ``model_id``'s weights, or ``None`` to pass.

    The first plugin returning a path wins; when none does, the id is loaded as usual (a local path
    or the Hugging Face Hub). A plugin that ships weights for offline use implements this.
    """


@hookspec(firstresult=True)
def model_training_data(model_id: str, path: Path | None) -> TrainingData | None:
    """Declare what ``model_id`` was trained on, or return ``None`` to pass.

    ``path``: the model's local directory (``resolve_model``'s answer, or the suite's local path);
    None when it is loaded from the Hub. Return ``{"source": ..., "datasets": [...]}``: the
    datasets' names as the model card or training configuration gives them, and where that list
    comes from. The first plugin answering wins; each record keeps the answer
    (``provenance.model.training_data``), and the leaderboard marks the tasks whose
    ``Task.source_datasets`` match a name in it (:mod:`tlbench.contamination`).
    """
