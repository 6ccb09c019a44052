"""Discovering plugins through the ``tlbench`` entry-point group and building the registries.

pluggy's ``load_setuptools_entrypoints`` stops at the first plugin that fails to import; a
benchmark harness must keep working when one third-party plugin is broken, so the loop over entry
points is ours (same semantics plus per-plugin error capture), and everything else is pluggy.
"""

from __future__ import annotations

import functools
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from tlbench import hookspecs
from tlbench.errors import PluginError
from tlbench.registry import Registry

GROUP = "tlbench"
#: register hook -> the kind of name it registers. A new kind of plugin is one line here.
KINDS = {"register_strategies": "strategy", "register_tasks": "task", "register_samplers": "sampler"}


@dataclass(frozen=True)
class PluginStatus:
    name: str  # the entry point's name
    distribution: str
    version: str
    status: str  # "ok" | "failed" | "disabled"
    error: str = ""


def _split_env(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {_norm(v) for v in value.split(",") if v.strip()}


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


class Plugins:
    """A pluggy PluginManager plus one :class:`Registry` per kind of name."""

    def __init__(self, *, strict: bool = False, entry_points: bool = True):
        self.strict = strict
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.statuses: list[PluginStatus] = []
        self._dist: dict[str, tuple[str, str]] = {}  # plugin name -> (distribution, version)
        self.registries: dict[str, Registry] = {}
        if entry_points:
            self._load_entry_points()
        self.refresh()

    # -- loading ---------------------------------------------------------------------------
    def _load_entry_points(self) -> None:
        only = _split_env("TLBENCH_LOAD_PLUGINS")
        skip = _split_env("TLBENCH_DISABLE_PLUGINS") or set()
        for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist else "(unknown)"
            version = ep.dist.version if ep.dist else ""
            keys = {_norm(dist), _norm(ep.name)}
            if (only is not None and not keys & only) or keys & skip:
                self.statuses.append(PluginStatus(ep.name, dist, version, "disabled"))
                continue
            try:
                self.add(ep.load(), ep.name, dist, version)
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the others
                self._fail(ep.name, dist, version, exc)

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
        """Rebuild the registries by calling every plugin's ``register_*`` hooks."""
        self.registries = {kind: Registry(kind, functools.partial(self.provider_hint, kind))
                           for kind in KINDS.values()}
        failed: set[str] = set()
        for hook_name, kind in KINDS.items():
            registry = self.registries[kind]
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin_name in failed:
                    continue
                dist, version = self._dist.get(impl.plugin_name, (impl.plugin_name, ""))

                register = functools.partial(registry.add, distribution=dist, version=version)
                try:
                    impl.function(register=register)
                except PluginError:
                    raise  # a name collision is always fatal: the leaderboard would be ambiguous
                except Exception as exc:  # noqa: BLE001
                    failed.add(impl.plugin_name)
                    self._mark_failed(impl.plugin_name, exc)
        for name in failed:
            for registry in self.registries.values():
                for entry in list(registry):
                    if entry.distribution == self._dist.get(name, (name,))[0]:
                        registry.remove(entry.name)

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

    def listing(self) -> list[dict[str, str]]:
        """One row per registered name, plus one per plugin that failed or was disabled."""
        rows = [
            {"name": e.name, "kind": e.kind, "distribution": e.distribution,
             "version": e.version, "status": "ok", "error": "",
             "description": getattr(e.factory, "description", "")}
            for registry in self.registries.values() for e in registry
        ]
        for s in self.statuses:
            if s.status != "ok":
                rows.append({"name": s.name, "kind": "plugin", "distribution": s.distribution,
                             "version": s.version, "status": s.status, "error": s.error,
                             "description": ""})
        return rows

    def provider_hint(self, kind: str, name: str) -> str:
        """Which distribution provides ``name``, when tlbench knows, and why it is not available."""
        return _provider_hint(self, kind, name)

    def resolve_model(self, model_id: str) -> Any:
        return self.pm.hook.resolve_model(model_id=model_id)


#: names that distributions of the tlbench project provide, so that a suite naming one that is not
#: available can say what to install. Other third-party names are unknown until installed.
KNOWN_PROVIDERS: dict[tuple[str, str], str] = {
    ("strategy", "bitfit"): "tlbench-bitfit",
    ("strategy", "adapter"): "tlbench-adapterhub",
}


def _provider_hint(plugins: Plugins, kind: str, name: str) -> str:
    dist = KNOWN_PROVIDERS.get((kind, name))
    if dist is None:
        return ""
    status = next((s for s in plugins.statuses if _norm(s.distribution) == _norm(dist)), None)
    if status is not None and status.status != "ok":
        why = f": {status.error}" if status.error else ""
        return (f"{kind.capitalize()} {name!r} is provided by {dist}, which is installed but "
                f"{status.status}{why} (see `tlbench plugins`).")
    return (f"{kind.capitalize()} {name!r} is provided by the {dist} distribution, which is not installed: "
            f"pip install {dist} (from tlbench's repository: pip install plugins/{dist}).")


_default: Plugins | None = None


def get_plugins(*, strict: bool = False) -> Plugins:
    """The process-wide plugin manager, loaded on first use."""
    global _default
    if _default is None or (strict and not _default.strict):
        _default = Plugins(strict=strict)
    return _default
