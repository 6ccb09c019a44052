"""Name -> registered class, with the distribution that owns it.

Collisions raise (naming both distributions); misses say "Did you mean" and list what exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tlbench.errors import PluginError, UnknownNameError


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str
    factory: type[Any]
    distribution: str
    version: str


class Registry:
    """One namespace of names (``kind`` is "strategy", "task", ...)."""

    def __init__(self, kind: str, hint: Any = None):
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        #: ``hint(name) -> str``: what to add to an unknown-name error (which distribution provides it)
        self.hint = hint or (lambda name: "")

    def add(self, name: str, factory: type[Any], distribution: str, version: str = "") -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise PluginError(
                f"{distribution} registered {self.kind} {name!r}: a name must be a Python identifier"
            )
        if not hasattr(factory, "Options"):
            raise PluginError(
                f"{distribution} registered {self.kind} {name!r} without an Options model"
            )
        if name in self._entries:
            first = self._entries[name].distribution
            raise PluginError(
                f"{self.kind} {name!r} is registered twice: by {first} and by {distribution}. "
                f"Uninstall one, or disable it with TLBENCH_DISABLE_PLUGINS."
            )
        self._entries[name] = Entry(name, self.kind, factory, distribution, version)

    def remove(self, name: str) -> None:
        self._entries.pop(name, None)

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
