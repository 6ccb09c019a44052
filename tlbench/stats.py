"""Statistics of a leaderboard's cells: the metric from item statistics, intervals over seeds, Holm.

Numbers come from scipy and numpy; nothing here trains or reads a database. Comparisons between
strategies are :mod:`tlbench.bootstrap`'s, ranks across tasks :mod:`tlbench.ranks`'s.

Paired comparisons need per-item data. A task turns its predictions on the report split into *item
statistics*: one row per evaluation item and a *reducer* that turns rows back into the metric
(:data:`REDUCERS`): ``mean`` for metrics that are an average over items (accuracy, SQuAD's per-question
F1), ``f1`` for micro F1 from per-item (true positive, false positive, false negative) counts (CoNLL's
entity F1, binary F1), ``pearson`` from (prediction, gold) pairs, ``mcc`` from (prediction, gold) binary
pairs. Each reducer is a function of *sums* of per-item features, so a bootstrap resample (items
weighted by how often they were drawn) gives the metric exactly, not an approximation by per-item
averages, and all resamples are one matrix product.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as st

__all__ = ["REDUCERS", "Reducer", "SeedSummary", "format_p", "holm", "mean_ranks", "nested", "reduce",
           "replicate_summary", "seed_summary"]


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator, denominator = np.broadcast_arrays(np.asarray(numerator, float), np.asarray(denominator, float))
    return np.divide(numerator, denominator, out=np.zeros(numerator.shape), where=denominator > 0)


@dataclass(frozen=True)
class Reducer:
    """A metric as a function of per-item features summed over items: ``metric(sums, n)``."""

    features: Callable[[np.ndarray], np.ndarray]  # item statistics [..., items, k] -> [..., items, m]
    metric: Callable[[np.ndarray, np.ndarray], np.ndarray]  # sums [..., m], item count [...] -> [...]

    def __call__(self, items: np.ndarray) -> np.ndarray:
        """The metric of item statistics ``[..., items, k]`` (every item once)."""
        f = self.features(np.asarray(items, dtype=float))
        return self.metric(f.sum(axis=-2), np.asarray(f.shape[-2], dtype=float))


def _mean(sums: np.ndarray, n: np.ndarray) -> np.ndarray:
    return _safe_divide(sums[..., 0], n)


def _f1(sums: np.ndarray, n: np.ndarray) -> np.ndarray:
    tp, fp, fn = sums[..., 0], sums[..., 1], sums[..., 2]
    return _safe_divide(2 * tp, 2 * tp + fp + fn)


def _pearson_features(x: np.ndarray) -> np.ndarray:
    a, b = x[..., 0], x[..., 1]
    return np.stack([a, b, a * a, b * b, a * b], axis=-1)


def _pearson(sums: np.ndarray, n: np.ndarray) -> np.ndarray:
    sa, sb, saa, sbb, sab = (sums[..., i] for i in range(5))
    n = np.maximum(n, 1.0)
    cov, va, vb = sab - sa * sb / n, saa - sa * sa / n, sbb - sb * sb / n
    return _safe_divide(cov, np.sqrt(np.clip(va, 0, None) * np.clip(vb, 0, None)))


def _mcc_features(x: np.ndarray) -> np.ndarray:
    p, g = x[..., 0] > 0.5, x[..., 1] > 0.5
    return np.stack([p & g, ~p & ~g, p & ~g, ~p & g], axis=-1).astype(float)


def _mcc(sums: np.ndarray, n: np.ndarray) -> np.ndarray:
    tp, tn, fp, fn = (sums[..., i] for i in range(4))
    return _safe_divide(tp * tn - fp * fn, np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))


#: reducer name -> metric of item statistics ``[..., items, k]``
REDUCERS: dict[str, Reducer] = {
    "mean": Reducer(lambda x: x[..., :1], _mean),
    "f1": Reducer(lambda x: x[..., :3], _f1),
    "pearson": Reducer(_pearson_features, _pearson),
    "mcc": Reducer(_mcc_features, _mcc),
}


def reduce(items: np.ndarray, how: str) -> np.ndarray:
    return REDUCERS[how](np.asarray(items, dtype=float))


# -- over seeds -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeedSummary:
    """A cell's scores over seeds: the mean with Student's t 95% interval (n - 1 degrees of freedom).
    No bootstrap over seeds: with fewer than about 10 values a percentile bootstrap is the range of
    the values (with 3 seeds a 75% interval), so the range is given as what it is."""

    values: tuple[float, ...]
    mean: float
    sd: float
    t_low: float
    t_high: float
    # seeds nested in training subsets (:func:`replicate_summary`): each subset's mean over its seeds
    # and how many seeds it has; ``mean``, ``sd`` and the interval are then over the subset means
    subset_means: tuple[float, ...] | None = None
    subset_seeds: tuple[int, ...] | None = None

    @property
    def n(self) -> int:
        """The independent units the interval is over: the values, or the subsets they are nested in."""
        return len(self.values) if self.subset_means is None else len(self.subset_means)

    def as_dict(self) -> dict[str, Any]:
        v = self.values
        out = {"n": self.n, "values": list(v), "mean": self.mean, "sd": self.sd,
               "ci95_t": [self.t_low, self.t_high], "range": [min(v), max(v)] if v else [None, None]}
        if self.subset_means is not None:
            out["nested"] = {"subsets": self.n, "seeds": list(self.subset_seeds or ()),
                             "subset_means": list(self.subset_means)}
        return out


def seed_summary(values: Sequence[float]) -> SeedSummary:
    """Mean, sample sd and the 95% t-interval of the mean over seeds (NaN with one seed)."""
    v = np.asarray(values, dtype=float)
    n, mean = len(v), float(v.mean()) if len(v) else float("nan")
    if n < 2:
        return SeedSummary(tuple(v.tolist()), mean, float("nan"), float("nan"), float("nan"))
    sd = float(v.std(ddof=1))
    if sd == 0:
        return SeedSummary(tuple(v.tolist()), mean, 0.0, mean, mean)
    t_low, t_high = st.t.interval(0.95, n - 1, loc=mean, scale=sd / np.sqrt(n))
    return SeedSummary(tuple(v.tolist()), mean, sd, float(t_low), float(t_high))


def nested(subsets: Sequence[Any]) -> bool:
    """Replicates labelled by their training subset are nested: two or more subsets, and some subset
    with more than one replicate (seed). One replicate per subset, or one subset, is flat."""
    distinct = len(set(subsets))
    return 2 <= distinct < len(subsets)


def replicate_summary(values: Sequence[float], subsets: Sequence[Any] | None = None) -> SeedSummary:
    """A cell's summary over its replicates. Flat (no subsets, one subset, or one seed per subset):
    :func:`seed_summary` of the values, exactly. Nested (:func:`nested`): the seeds of a subset share
    its training rows and are not independent, so the mean, sd and t-interval are over the subset
    means (n = subsets, each subset weighing the same), the values kept as they are."""
    if subsets is None or not nested(subsets):
        return seed_summary(values)
    keys = sorted(set(subsets))
    groups = [[float(v) for v, g in zip(values, subsets, strict=True) if g == k] for k in keys]
    over = seed_summary([float(np.mean(g)) for g in groups])
    return SeedSummary(tuple(float(v) for v in values), over.mean, over.sd, over.t_low, over.t_high,
                       over.values, tuple(len(g) for g in groups))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone). scipy has Benjamini-Hochberg
    (``false_discovery_control``) but not Holm, and statsmodels is not a dependency for 8 lines."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def format_p(p: float | None, floor: float = 1e-4) -> str:
    """A p-value as printed: two significant digits, ``< 1e-04`` below ``floor`` (the precision the
    standard error of a 10,000-resample bootstrap supports), ``-`` when there is none."""
    if p is None or p != p:
        return "-"
    return f"< {floor:.0e}" if p < floor else f"{p:.2g}"


def mean_ranks(scores: dict[str, dict[str, float]], tasks: Sequence[str],
               allow_missing: bool = False) -> dict[str, float | None]:
    """Mean rank over tasks (1 = best; ties get the average rank). A strategy missing a task gets no
    rank (None) unless ``allow_missing``, in which case it is ranked on the tasks it has."""
    ranks: dict[str, list[float]] = {s: [] for s in scores}
    for t in tasks:
        present = [s for s in scores if t in scores[s] and np.isfinite(scores[s][t])]
        if not present:
            continue
        r = st.rankdata([-scores[s][t] for s in present], method="average")
        for s, value in zip(present, r, strict=True):
            ranks[s].append(float(value))
    return {s: (float(np.mean(r)) if r and (allow_missing or len(r) == len(tasks)) else None)
            for s, r in ranks.items()}
