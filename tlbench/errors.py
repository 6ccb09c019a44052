"""Errors a user can fix. The CLI prints them without a traceback and exits with status 2.

Any other exception is a bug in tlbench or in a plugin and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TlbenchError(Exception):
    """Base class of every error caused by the user's input (suite, plugin selection, data paths)."""

    exit_code = 2


class ConfigError(TlbenchError):
    """A suite file is wrong. ``problems`` holds one line per problem, each naming the key path."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{source}: {len(problems)} {noun}\n{lines}")


class UnknownNameError(TlbenchError, KeyError):
    """A name that no plugin registered; the message suggests the closest names and lists all."""

    def __init__(self, kind: str, name: str, available: Iterable[str], hint: str = ""):
        self.kind, self.name = kind, name
        self.available = sorted(available)
        super().__init__(unknown_name_message(kind, name, self.available, hint))

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DataError(TlbenchError):
    """Benchmark data cannot be found or read."""


class PluginError(TlbenchError):
    """A plugin failed: it did not import, misspelt a hook, raised inside a ``register_*`` hook, or
    registered something the registry refuses (a name that is not an identifier, a class without an
    ``Options`` model or not of the registry's base class). That plugin's names are dropped and it is
    listed as ``failed`` with this message; the other plugins keep working. Raised only with --strict.
    """


class NameCollisionError(PluginError):
    """Two plugins registered one name. Always fatal, --strict or not: the leaderboard would be
    ambiguous. The message names both plugins and their distributions."""


class StopTrial(Exception):  # a signal, not an error
    """Raised from ``job.report`` when the tuner's pruner judges a trial hopeless: the run stops and
    is recorded as ``pruned`` (not failed)."""


def suggest(name: str, choices: Iterable[str]) -> list[str]:
    return difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)


def unknown_name_message(kind: str, name: str, available: Iterable[str], hint: str = "") -> str:
    available = sorted(available)
    msg = f"Unknown {kind} {name!r}."
    close = suggest(name, available)
    if close:
        msg += f" Did you mean: {', '.join(close)}?"
    msg += f" Available: {', '.join(available) if available else '(none registered)'}."
    if hint:
        msg += f" {hint}"
    return msg
