"""Name -> registered class, with the plugin (and distribution) that registered it.

A registry of one kind (strategies, tasks, samplers) has a base class, as lm-eval's ``base_cls``:
a registration that is not an identifier, has no ``Options`` model or does not subclass the base
is refused with a :class:`PluginError` (the registering plugin's failure). Two plugins registering
one name raise :class:`NameCollisionError`, naming both. Misses say "Did you mean" and list what
exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tlbench.errors import NameCollisionError, PluginError, UnknownNameError


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str
    factory: type[Any]
    distribution: str
    version: str
    #: the plugin (pluggy's plugin name: an entry point's name, a built-in module's) that registered it
    plugin: str = ""


class Registry:
    """One namespace of names (``kind`` is "strategy", "task", ...), holding subclasses of ``base``."""

    def __init__(self, kind: str, hint: Callable[[str], str] | None = None, base: type | None = None):
        self.kind = kind
        self.base = base
        self._entries: dict[str, Entry] = {}
        #: ``hint(name) -> str``: what to add to an unknown-name error (which distribution provides it)
        self.hint = hint or (lambda name: "")

    def add(self, name: str, factory: type[Any], distribution: str, version: str = "",
            plugin: str = "") -> None:
        """Register ``factory`` as ``name``; raise :class:`PluginError` when refused."""
        who = f"plugin {plugin} ({distribution})" if plugin and plugin != distribution else distribution
        if not isinstance(name, str) or not name.isidentifier():
            raise PluginError(f"{who} registered {self.kind} {name!r}: a name must be a Python identifier")
        if not isinstance(factory, type) or not hasattr(factory, "Options"):
            raise PluginError(f"{who} registered {self.kind} {name!r} without an Options model")
        if self.base is not None and not issubclass(factory, self.base):
            raise PluginError(
                f"{who} registered {self.kind} {name!r} as {factory.__module__}.{factory.__qualname__}, "
                f"which is not a subclass of {self.base.__module__}.{self.base.__qualname__}"
            )
        if name in self._entries:
            first = self._entries[name]
            was = f"{first.plugin} ({first.distribution})" if first.plugin else first.distribution
            raise NameCollisionError(
                f"{self.kind} {name!r} is registered twice: by {was} and by {who.removeprefix('plugin ')}. "
                f"Uninstall one, or disable it with TLBENCH_DISABLE_PLUGINS."
            )
        self._entries[name] = Entry(name, self.kind, factory, distribution, version, plugin)

    def remove(self, name: str) -> None:
        self._entries.pop(name, None)

    def remove_plugin(self, plugin: str) -> list[str]:
        """Drop every name ``plugin`` registered (it failed); return those names."""
        names = [e.name for e in self._entries.values() if e.plugin == plugin]
        for name in names:
            del self._entries[name]
        return names

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._entries, self.hint(name)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def names(self) -> list[str]:
        return sorted(self._entries)
