"""Loading plugins and building the registries of strategies, tasks and samplers.

Like pytest's ``default_plugins`` and llm's ``DEFAULT_PLUGINS``, the built-ins are a tuple of
modules in code (:data:`BUILTIN_PLUGINS`), registered through the same :meth:`Plugins.add` as the
third-party plugins named in the ``tlbench`` entry-point group: a source checkout lists them
without being installed, and they have no privilege a third-party plugin lacks.

pluggy's ``load_setuptools_entrypoints`` stops at the first plugin that fails to import; a
benchmark harness must keep working when one plugin is broken, so the loop over entry points is
ours, with per-plugin error capture. Ownership and failure are per plugin (pluggy's plugin name,
a hookimpl's ``plugin_name``): every registered name records the plugin that registered it, and a
plugin whose hook raises, or whose registration the registry refuses, loses only its own names.
Only a name registered twice is always fatal. ``TLBENCH_DISABLE_PLUGINS`` is pluggy's
``set_blocked``; ``TLBENCH_LOAD_PLUGINS`` selects third-party plugins and keeps the built-ins.

Tests are hermetic as llm's are: when ``sys._called_from_test`` is set (tests/conftest.py),
:func:`get_plugins` registers the built-ins only; a test that wants the installed third-party
plugins builds ``Plugins()`` itself or runs ``tlbench`` in a subprocess.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy

from tlbench import hookspecs
from tlbench.errors import NameCollisionError, PluginError
from tlbench.registry import Registry

GROUP = "tlbench"
#: the distribution the built-ins are listed under
BUILTIN_DISTRIBUTION = "tlbench"
#: the built-in plugins, one module each, registered in this order under the module's last name
#: (``TLBENCH_DISABLE_PLUGINS=full_finetune`` blocks one)
BUILTIN_PLUGINS: tuple[str, ...] = (
    "tlbench_builtin.full_finetune",
    "tlbench_builtin.partial_freeze",
    "tlbench_builtin.linear_probe",
    "tlbench_builtin.ridge_probe", "tlbench_builtin.lp_ft", "tlbench_builtin.tapt",
    "tlbench_builtin.setfit_strategy",
    "tlbench_builtin.peft_strategy", "tlbench_builtin.peft_presets",
    "tlbench_builtin.multitask",
    "tlbench_builtin.samplers",
    "tlbench_builtin.glue",
    "tlbench_builtin.imdb",
    "tlbench_builtin.conll",
    "tlbench_builtin.squad",
    "tlbench_builtin.kinds",
    "tlbench_builtin.models",
    "tlbench_builtin.providers",
)
#: register hook -> the kind of name it registers. A new kind of plugin is one line here (and its
#: base class in :func:`_bases`).
KINDS = {"register_strategies": "strategy", "register_tasks": "task", "register_samplers": "sampler"}


@dataclass(frozen=True)
class PluginStatus:
    name: str  # the plugin's name: an entry point's name, or a built-in module's last name
    distribution: str
    version: str
    status: str  # "ok" | "failed" | "disabled"
    error: str = ""


@dataclass(frozen=True)
class Provider:
    """A distribution that provides a name, as a plugin declared (``register_providers``)."""

    distribution: str
    install: str  # how to install it, e.g. "pip install tlbench-foo"
    plugin: str  # the plugin that declared it


def _bases() -> dict[str, type]:
    """Each registry's base class (imported here: interfaces may one day import this module)."""
    from tlbench.interfaces import Strategy, Task
    from tlbench.samplers import Sampler

    return {"strategy": Strategy, "task": Task, "sampler": Sampler}


def _split_env(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {_norm(v) for v in value.split(",") if v.strip()}


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _own_version() -> str:
    try:
        return metadata.version(BUILTIN_DISTRIBUTION)
    except metadata.PackageNotFoundError:  # a source checkout that is not installed
        return ""


def _called_from_test() -> bool:
    return bool(getattr(sys, "_called_from_test", False))


class Plugins:
    """A pluggy PluginManager plus one :class:`Registry` per kind of name.

    ``builtins`` registers :data:`BUILTIN_PLUGINS`; ``entry_points`` loads the third-party plugins
    of the ``tlbench`` entry-point group. ``strict`` makes any plugin's failure a
    :class:`PluginError`.
    """

    def __init__(self, *, strict: bool = False, entry_points: bool = True, builtins: bool = True):
        self.strict = strict
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.statuses: list[PluginStatus] = []
        self._dist: dict[str, tuple[str, str]] = {}  # plugin name -> (distribution, version)
        self.registries: dict[str, Registry] = {}
        #: (kind, name) -> who provides it, as the ``register_providers`` hooks declared
        self.providers: dict[tuple[str, str], Provider] = {}
        for name in _split_env("TLBENCH_DISABLE_PLUGINS") or ():
            self.pm.set_blocked(name)
        if builtins:
            version = _own_version()
            for module in BUILTIN_PLUGINS:
                name = module.rpartition(".")[2]
                self._load(name, BUILTIN_DISTRIBUTION, version,
                           functools.partial(importlib.import_module, module))
        if entry_points:
            self._load_entry_points()
        self.refresh()

    # -- loading ---------------------------------------------------------------------------
    def _load_entry_points(self) -> None:
        only = _split_env("TLBENCH_LOAD_PLUGINS")  # third parties only: the built-ins always load
        for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist else "(unknown)"
            version = ep.dist.version if ep.dist else ""
            if _norm(dist) == BUILTIN_DISTRIBUTION:
                continue  # an old installation's metadata: the built-ins come from BUILTIN_PLUGINS
            if only is not None and not {_norm(dist), _norm(ep.name)} & only:
                self.statuses.append(PluginStatus(ep.name, dist, version, "disabled"))
                continue
            self._load(ep.name, dist, version, ep.load)

    def _load(self, name: str, dist: str, version: str, load: Callable[[], Any]) -> None:
        """Import one plugin (unless blocked) and add it; a failure is recorded, not raised."""
        if self.is_blocked(name, dist):
            self.statuses.append(PluginStatus(name, dist, version, "disabled"))
            return
        try:
            self.add(load(), name, dist, version)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the others
            self._fail(name, dist, version, exc)

    def is_blocked(self, name: str, distribution: str = "") -> bool:
        """Whether TLBENCH_DISABLE_PLUGINS (pluggy's ``set_blocked``) names the plugin or its
        distribution (case-insensitively, ``-`` and ``_`` alike)."""
        return any(self.pm.is_blocked(_norm(n)) for n in (name, distribution) if n)

    def _fail(self, name: str, dist: str, version: str, exc: BaseException) -> None:
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        if self.strict:
            raise PluginError(f"plugin {name} ({dist} {version}) failed to load: {error}") from exc
        self.statuses.append(PluginStatus(name, dist, version, "failed", error))

    def add(self, plugin: Any, name: str, distribution: str, version: str = "") -> None:
        """Register one plugin object; its hooks are checked against the specs at once."""
        self.pm.register(plugin, name=name)
        try:
            self.pm.check_pending()  # a misspelt hook name fails here, naming the plugin
        except pluggy.PluginValidationError:
            self.pm.unregister(name=name)
            raise
        self._dist[name] = (distribution, version)
        self.statuses.append(PluginStatus(name, distribution, version, "ok"))

    def remove(self, name: str) -> None:
        if self.pm.has_plugin(name):
            self.pm.unregister(name=name)
        self._dist.pop(name, None)
        self.statuses = [s for s in self.statuses if s.name != name]
        self.refresh()

    @contextmanager
    def temporarily(self, plugin: Any, name: str = "test-plugin") -> Iterator[Plugins]:
        """Register ``plugin`` for the duration of a ``with`` block, always unregistering it."""
        self.add(plugin, name, distribution=name)
        try:
            self.refresh()
            yield self
        finally:
            self.remove(name)

    def refresh(self) -> None:
        """Rebuild the registries by calling every plugin's ``register_*`` hooks.

        A hook that raises, or a registration the registry refuses, fails that plugin only: its
        names are removed and its status is ``failed``. A name collision raises.
        """
        bases = _bases()
        self.registries = {kind: Registry(kind, functools.partial(self.provider_hint, kind), bases[kind])
                           for kind in KINDS.values()}
        self.providers = {}
        failed: dict[str, BaseException] = {}
        hooks: list[tuple[str, Callable[[str], Callable[..., None]]]] = [
            (hook_name, functools.partial(self._registrar, kind)) for hook_name, kind in KINDS.items()]
        hooks.append(("register_providers", self._provider_registrar))
        for hook_name, registrar in hooks:
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin_name in failed:
                    continue
                try:
                    impl.function(register=registrar(impl.plugin_name))
                except NameCollisionError:
                    raise  # always fatal: the leaderboard would be ambiguous
                except Exception as exc:  # noqa: BLE001 - this plugin's failure, not the others'
                    failed[impl.plugin_name] = exc
        for name, error in failed.items():
            for registry in self.registries.values():
                registry.remove_plugin(name)
            self.providers = {k: v for k, v in self.providers.items() if v.plugin != name}
            self._mark_failed(name, error)

    def _registrar(self, kind: str, plugin: str) -> Callable[..., None]:
        """The ``register(name, cls)`` a plugin's hook is called with, bound to that plugin."""
        dist, version = self._dist.get(plugin, (plugin, ""))
        return functools.partial(self.registries[kind].add, distribution=dist, version=version,
                                 plugin=plugin)

    def _provider_registrar(self, plugin: str) -> Callable[..., None]:
        """The ``register(kind, name, distribution, install="")`` of ``register_providers``."""

        def register(kind: str, name: str, distribution: str, install: str = "") -> None:
            if kind not in KINDS.values() or not distribution:
                raise PluginError(f"plugin {plugin} declared a provider of {name!r} with kind {kind!r} "
                                  f"(one of {sorted(KINDS.values())}) and distribution {distribution!r}")
            self.providers[(kind, name)] = Provider(distribution, install or f"pip install {distribution}",
                                                    plugin)
        return register

    def _mark_failed(self, plugin_name: str, exc: BaseException) -> None:
        dist, version = self._dist.get(plugin_name, (plugin_name, ""))
        self.statuses = [s for s in self.statuses if s.name != plugin_name]
        self._fail(plugin_name, dist, version, exc)

    # -- queries ---------------------------------------------------------------------------
    @property
    def strategies(self) -> Registry:
        return self.registries["strategy"]

    @property
    def tasks(self) -> Registry:
        return self.registries["task"]

    @property
    def samplers(self) -> Registry:
        return self.registries["sampler"]

    def failures(self) -> list[PluginStatus]:
        """The plugins that failed (each with its error), in load order."""
        return [s for s in self.statuses if s.status == "failed"]

    def listing(self) -> list[dict[str, str]]:
        """One row per registered name, plus one per plugin that failed or was disabled."""
        rows = [
            {"name": e.name, "kind": e.kind, "distribution": e.distribution,
             "version": e.version, "status": "ok", "error": "",
             "description": getattr(e.factory, "description", ""), "plugin": e.plugin}
            for registry in self.registries.values() for e in registry
        ]
        for s in self.statuses:
            if s.status != "ok":
                rows.append({"name": s.name, "kind": "plugin", "distribution": s.distribution,
                             "version": s.version, "status": s.status, "error": s.error,
                             "description": "", "plugin": s.name})
        return rows

    def provider_hint(self, kind: str, name: str) -> str:
        """Which distribution provides ``name`` (as a plugin declared), and why it is not available."""
        provider = self.providers.get((kind, name))
        if provider is None:
            return ""
        dist = provider.distribution
        status = next((s for s in self.statuses if _norm(s.distribution) == _norm(dist)), None)
        if status is not None and status.status != "ok":
            why = f": {status.error}" if status.error else ""
            return (f"{kind.capitalize()} {name!r} is provided by {dist}, which is installed but "
                    f"{status.status}{why} (see `tlbench plugins`).")
        return (f"{kind.capitalize()} {name!r} is provided by the {dist} distribution, which is not "
                f"installed: {provider.install}.")

    def resolve_model(self, model_id: str) -> Any:
        return self.pm.hook.resolve_model(model_id=model_id)

    def model_training_data(self, model_id: str, path: Path | None) -> Any:
        """What a model plugin declares ``model_id`` was trained on (the first answer), or None."""
        return self.pm.hook.model_training_data(model_id=model_id, path=path)


_default: Plugins | None = None


def get_plugins(*, strict: bool = False) -> Plugins:
    """The process-wide plugin manager, loaded on first use (the CLI's; code given a
    :class:`Plugins` uses that one). Under tests (``sys._called_from_test``) it holds the built-ins
    only."""
    global _default
    if _default is None or (strict and not _default.strict):
        _default = Plugins(strict=strict, entry_points=not _called_from_test())
    return _default
