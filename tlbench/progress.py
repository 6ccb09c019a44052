"""Progress reporting that the engine calls and the CLI draws (with rich); silent by default."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class Progress(Protocol):
    def task(self, description: str, total: int) -> AbstractContextManager[Callable[[int], None]]: ...


class NullProgress:
    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        yield lambda n: None
