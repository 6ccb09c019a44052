"""Statistics of a leaderboard: intervals over seeds, paired tests against a baseline, ranks.

Numbers come from scipy and numpy; nothing here trains or reads a database.

Paired comparisons need per-item data. A task turns its predictions on the report split into *item
statistics*: one row per evaluation item and a *reducer* that turns rows back into the metric
(:data:`REDUCERS`): ``mean`` for metrics that are an average over items (accuracy, SQuAD's per-question
F1), ``f1`` for micro F1 from per-item (true positive, false positive, false negative) counts (CoNLL's
entity F1, binary F1), ``pearson`` from (prediction, gold) pairs, ``mcc`` from (prediction, gold) binary
pairs. Resampling items and reducing gives the metric on a bootstrap sample exactly, not an
approximation by per-item averages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as st


def _mean(x: np.ndarray) -> np.ndarray:
    return x[..., 0].mean(axis=-1)


def _f1(x: np.ndarray) -> np.ndarray:
    tp, fp, fn = x[..., 0].sum(-1), x[..., 1].sum(-1), x[..., 2].sum(-1)
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(denominator, dtype=float), where=denominator > 0)


def _pearson(x: np.ndarray) -> np.ndarray:
    a, b = x[..., 0], x[..., 1]
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    denominator = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    return np.divide((a * b).sum(-1), denominator, out=np.zeros(denominator.shape), where=denominator > 0)


def _mcc(x: np.ndarray) -> np.ndarray:
    p, g = x[..., 0] > 0.5, x[..., 1] > 0.5
    tp, tn = (p & g).sum(-1), (~p & ~g).sum(-1)
    fp, fn = (p & ~g).sum(-1), (~p & g).sum(-1)
    denominator = np.sqrt(((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)).astype(float))
    numerator = (tp * tn - fp * fn).astype(float)
    return np.divide(numerator, denominator, out=np.zeros(denominator.shape), where=denominator > 0)


#: reducer name -> function of item statistics ``[..., items, k]`` -> metric ``[...]``
REDUCERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": _mean, "f1": _f1, "pearson": _pearson, "mcc": _mcc}


def reduce(items: np.ndarray, how: str) -> np.ndarray:
    return REDUCERS[how](np.asarray(items, dtype=float))


# -- over seeds -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeedSummary:
    values: tuple[float, ...]
    mean: float
    sd: float
    t_low: float
    t_high: float
    boot_low: float
    boot_high: float

    @property
    def n(self) -> int:
        return len(self.values)

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "values": list(self.values), "mean": self.mean, "sd": self.sd,
                "ci95_t": [self.t_low, self.t_high], "ci95_bootstrap": [self.boot_low, self.boot_high]}


def seed_summary(values: Sequence[float], seed: int = 0) -> SeedSummary:
    """Mean, sample sd, and two 95% intervals of the mean over seeds: Student's t and a percentile
    bootstrap (scipy). With one seed the intervals are undefined (NaN)."""
    v = np.asarray(values, dtype=float)
    n, mean = len(v), float(v.mean()) if len(v) else float("nan")
    if n < 2:
        return SeedSummary(tuple(v.tolist()), mean, float("nan"), *(float("nan"),) * 4)
    sd = float(v.std(ddof=1))
    if sd == 0:
        return SeedSummary(tuple(v.tolist()), mean, 0.0, mean, mean, mean, mean)
    t_low, t_high = st.t.interval(0.95, n - 1, loc=mean, scale=sd / np.sqrt(n))
    boot = st.bootstrap((v,), np.mean, confidence_level=0.95, n_resamples=2000, method="percentile",
                        rng=np.random.default_rng(seed))
    return SeedSummary(tuple(v.tolist()), mean, sd, float(t_low), float(t_high),
                       float(boot.confidence_interval.low), float(boot.confidence_interval.high))


# -- paired comparison ------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """A strategy against the baseline on one task, over the seeds both have."""

    delta: float  # mean over seeds of (strategy - baseline), on all items
    low: float  # 95% paired-bootstrap interval of delta (items resampled, seeds averaged)
    high: float
    p_value: float  # two-sided, from the bootstrap distribution
    seeds: int
    mcnemar_p: float | None = None  # exact McNemar on correctness (accuracy-type metrics)
    p_holm: float | None = None
    resampled: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def verdict(self) -> str:
        """"better" or "worse" when the interval excludes zero, else "tie"."""
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "tie"


def resample_indices(n_items: int, n_resamples: int, seed: int = 0) -> np.ndarray:
    """Bootstrap samples of item indices, shared by every strategy of a task (so they stay paired)."""
    return np.random.default_rng(seed).integers(0, n_items, size=(n_resamples, n_items))


def resampled_metric(items: np.ndarray, how: str, indices: np.ndarray) -> np.ndarray:
    """Metric per bootstrap sample, averaged over seeds: ``items`` is ``[seeds, items, k]``."""
    items = np.asarray(items, dtype=float)
    out = np.zeros(len(indices))
    for s in range(items.shape[0]):
        out += reduce(items[s][indices], how)  # [resamples, items, k] -> [resamples]
    return out / items.shape[0]


def paired_bootstrap(strategy: np.ndarray, baseline: np.ndarray, how: str, indices: np.ndarray) -> Comparison:
    """Difference of ``strategy`` and ``baseline`` (each ``[seeds, items, k]``, same items and seeds)."""
    a, b = np.asarray(strategy, dtype=float), np.asarray(baseline, dtype=float)
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(f"paired data must have the same seeds and items, got {a.shape} and {b.shape}")
    delta = float(np.mean(reduce(a, how) - reduce(b, how)))
    diffs = resampled_metric(a, how, indices) - resampled_metric(b, how, indices)
    low, high = np.percentile(diffs, [2.5, 97.5])
    # two-sided p: how often the resampled difference falls on the far side of zero (x2, at most 1);
    # the +1 terms keep it from being exactly 0 with finitely many resamples
    far = min(np.sum(diffs <= 0), np.sum(diffs >= 0))
    p = min(1.0, 2 * (far + 1) / (len(diffs) + 1)) if np.any(diffs != 0) else 1.0
    return Comparison(delta, float(low), float(high), float(p), a.shape[0], resampled=diffs)


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Exact McNemar test of two classifiers' correctness on the same items (pooled over seeds:
    ``[seeds, items]`` arrays of 0/1). The discordant pairs under H0 are Binomial(n, 1/2)."""
    a, b = np.asarray(correct_a) > 0.5, np.asarray(correct_b) > 0.5
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    if only_a + only_b == 0:
        return 1.0
    return float(st.binomtest(only_a, only_a + only_b, 0.5).pvalue)


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


def win_probability(resampled: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Share of bootstrap samples (the same item samples for all) where the row beats the column."""
    names = list(resampled)
    return {r: {c: float(np.mean(resampled[r] > resampled[c])) for c in names if c != r} for r in names}


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
