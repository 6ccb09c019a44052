"""Task samplers of multitask training: which task the next batch comes from.

A sampler turns the tasks' training-set sizes (and how far training is) into probabilities. The
built-ins are jiant's (``tlbench_builtin/samplers.py``); a plugin adds one with the
``register_samplers`` hook. Nothing here imports torch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from tlbench import interfaces
from tlbench.interfaces import Options


class Sampler(ABC):
    """Probabilities of drawing each task's next batch.

    ``sizes`` are the training rows per task (after the strategy's cap), ``progress`` is the share of
    training done (0 at the first step, approaching 1 at the last) and ``temperature`` is the
    strategy's one sampling knob (samplers that have none ignore it).
    """

    Options: ClassVar[type[Options]] = Options  # samplers take no options of their own
    description: ClassVar[str] = ""

    def __init__(self, name: str, options: interfaces.Options | None = None):  # not the class attribute
        self.name, self.options = name, options or Options()

    @abstractmethod
    def probabilities(self, sizes: Mapping[str, int], *, progress: float,
                      temperature: float) -> dict[str, float]:
        """Task -> probability (non-negative, summing to 1, every task of ``sizes`` present)."""


def size_power(sizes: Mapping[str, int], exponent: float) -> dict[str, float]:
    """Probabilities proportional to ``size ** exponent`` (1: proportional, 0: uniform)."""
    weights = np.asarray([max(0, n) for n in sizes.values()], dtype=float) ** exponent
    if weights.sum() <= 0:
        weights = np.ones(len(sizes))
    return dict(zip(sizes, (weights / weights.sum()).tolist(), strict=True))


def checked(probabilities: Mapping[str, float], sizes: Mapping[str, int], who: str) -> dict[str, float]:
    """A third-party sampler's answer, checked once per step: a bad one fails the run, naming it."""
    if set(probabilities) != set(sizes):
        raise ValueError(f"sampler {who!r} gave probabilities for {sorted(probabilities)}, "
                         f"not for the tasks {sorted(sizes)}")
    values = np.asarray([probabilities[t] for t in sizes], dtype=float)
    if not np.all(np.isfinite(values)) or (values < 0).any() or not np.isclose(values.sum(), 1.0, atol=1e-6):
        raise ValueError(f"sampler {who!r} gave {dict(probabilities)}: probabilities must be >= 0 "
                         "and sum to 1")
    return {t: float(p) / float(values.sum()) for t, p in zip(sizes, values, strict=True)}
