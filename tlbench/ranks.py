"""Ranks across tasks: which strategies does the leaderboard actually separate?

Two questions, both on ranks within each task (1 = best, ties get the average rank), so that tasks with
different metrics and scales count alike:

- :func:`friedman`: do the strategies' mean ranks over N tasks differ more than chance would make them
  (Friedman's chi-square and the Iman-Davenport F, Demšar 2006, section 3.2.2), and which pairs are
  apart by more than the Nemenyi critical difference CD = q_alpha * sqrt(k (k + 1) / (6 N)). Strategies
  within CD of each other form the *cliques* a critical-difference diagram joins with a bar
  (:func:`tlbench.plots.critical_difference`).
- :func:`rank_intervals`: how sure is each mean rank, given that every task's scores are estimates? On
  each bootstrap resample the strategies are ranked within every task and the ranks averaged over tasks;
  the spread of that mean rank over resamples gives a percentile interval, and the share of resamples
  in which a strategy has the lowest mean rank its probability of being best (``p_best``).

Assumes: higher scores are better (negate an error first); every strategy has a score on every task (a
strategy missing a task has no mean rank, as in :func:`tlbench.stats.mean_ranks`); tasks are independent
and each is one "data set" in Demšar's sense. The Friedman statistic is Demšar's, without a correction
for ties (scipy's ``friedmanchisquare`` corrects for them and differs when there are ties). The Nemenyi
test is conservative and its CD depends only on k and N, not on the scores. Fewer than two tasks or
two strategies raise ``ValueError``: there is nothing to rank across. Numbers come from numpy and scipy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as st

__all__ = ["Friedman", "RankIntervals", "cliques", "friedman", "nemenyi_q", "rank_draws", "rank_intervals"]


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """Demšar's q_alpha for k strategies: the studentized range quantile (infinite df) over sqrt(2)."""
    if k < 2:
        raise ValueError(f"the Nemenyi test needs at least 2 strategies, got {k}")
    return float(st.studentized_range.ppf(1.0 - alpha, k, np.inf) / np.sqrt(2.0))


def cliques(mean_ranks: Sequence[float], cd: float) -> list[tuple[int, ...]]:
    """Maximal groups of two or more strategies whose mean ranks all lie within ``cd`` of each other,
    as a critical-difference diagram draws them: each a tuple of indices into ``mean_ranks``, best rank
    first, the groups ordered by their best member. A strategy in no group is separable from all others."""
    order = sorted(range(len(mean_ranks)), key=lambda i: (mean_ranks[i], i))
    groups: list[tuple[int, ...]] = []
    last_end = -1
    for start in range(len(order)):
        end = start
        while end + 1 < len(order) and mean_ranks[order[end + 1]] - mean_ranks[order[start]] <= cd:
            end += 1
        # a run ending where an earlier one ended is contained in it (ranks are sorted)
        if end > start and end > last_end:
            groups.append(tuple(order[start:end + 1]))
            last_end = end
    return groups


@dataclass(frozen=True)
class Friedman:
    """Friedman test over N tasks and k strategies, with the Nemenyi critical difference."""

    mean_ranks: tuple[float, ...]  # per strategy, in the input's order; 1 = best
    chi2: float  # Friedman's chi-square, k - 1 df
    p_chi2: float
    ff: float  # Iman-Davenport F, (k - 1, (k - 1)(N - 1)) df; inf when every task ranks alike
    p_ff: float
    cd: float  # Nemenyi critical difference of mean ranks at alpha
    q_alpha: float
    n: int  # tasks
    k: int  # strategies
    alpha: float

    def separable(self) -> list[tuple[int, int]]:
        """Index pairs (i < j) whose mean ranks differ by more than the critical difference."""
        r = self.mean_ranks
        return [(i, j) for i in range(self.k) for j in range(i + 1, self.k) if abs(r[i] - r[j]) > self.cd]

    def cliques(self) -> list[tuple[int, ...]]:
        """Maximal groups not separated by the Nemenyi test (see :func:`cliques`)."""
        return cliques(self.mean_ranks, self.cd)

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "k": self.k, "alpha": self.alpha, "mean_ranks": list(self.mean_ranks),
                "chi2": self.chi2, "p_chi2": self.p_chi2, "ff": self.ff, "p_ff": self.p_ff,
                "q_alpha": self.q_alpha, "cd": self.cd, "separable": [list(p) for p in self.separable()],
                "cliques": [list(c) for c in self.cliques()]}


def friedman(scores: np.ndarray, *, alpha: float = 0.05) -> Friedman:
    """The Friedman test of ``scores`` [N tasks, k strategies] (higher is better), Demšar (2006):
    chi2 = 12N / (k(k+1)) * (sum_j R_j^2 - k(k+1)^2 / 4) over mean ranks R_j, and
    F_F = (N-1) chi2 / (N(k-1) - chi2). Raises ``ValueError`` below 2 tasks or 2 strategies, or on a
    score that is not finite."""
    x = np.asarray(scores, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"scores must be [tasks, strategies], got shape {x.shape}")
    n, k = x.shape
    if n < 2 or k < 2:
        raise ValueError(f"ranks across tasks need at least 2 tasks and 2 strategies, got {n} and {k}")
    if not np.isfinite(x).all():
        raise ValueError("every strategy needs a finite score on every task")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    r = st.rankdata(-x, axis=1, method="average").mean(axis=0)
    chi2 = max(float(12.0 * n / (k * (k + 1)) * (np.sum(r**2) - k * (k + 1) ** 2 / 4.0)), 0.0)
    p_chi2 = float(st.chi2.sf(chi2, k - 1))
    # every task ranking the strategies alike (no ties) gives chi2 = N(k-1): F_F's denominator is 0
    denominator = n * (k - 1) - chi2
    if denominator <= 1e-12 * n * (k - 1):
        ff, p_ff = float("inf"), 0.0
    else:
        ff = (n - 1) * chi2 / denominator
        p_ff = float(st.f.sf(ff, k - 1, (k - 1) * (n - 1)))
    q = nemenyi_q(k, alpha)
    return Friedman(mean_ranks=tuple(float(v) for v in r), chi2=chi2, p_chi2=p_chi2, ff=float(ff),
                    p_ff=p_ff, cd=q * float(np.sqrt(k * (k + 1) / (6.0 * n))), q_alpha=q, n=n, k=k,
                    alpha=alpha)


def _rank_sums(draws: Sequence[np.ndarray]) -> np.ndarray:
    """[k, B]: per resample, the sum over tasks of each strategy's rank within the task (exact halves)."""
    if len(draws) < 1:
        raise ValueError("rank draws need at least one task")
    arrays = [np.asarray(d, dtype=float) for d in draws]
    if any(a.ndim != 2 for a in arrays) or len({a.shape for a in arrays}) != 1:
        raise ValueError(f"each task's draws must be [strategies, resamples] of one shape, got "
                         f"{[a.shape for a in arrays]}")
    x = np.stack(arrays)  # [N, k, B]
    if not np.isfinite(x).all():
        raise ValueError("rank draws must be finite")
    k = x.shape[1]
    if k < 1 or x.shape[2] < 1:
        raise ValueError(f"rank draws need strategies and resamples, got shape {x.shape[1:]}")
    # average rank of i = 1 + #(j better than i) + (#(j tied with i, j != i)) / 2; k passes over
    # [N, k, B] rather than a sort per column (several times faster than rankdata for small k)
    better = np.zeros(x.shape, dtype=np.int32)
    tied = np.zeros(x.shape, dtype=np.int32)
    for j in range(k):
        other = x[:, j:j + 1, :]
        better += other > x
        tied += other == x
    ranks = 1.0 + better + (tied - 1) / 2.0
    return ranks.sum(axis=0)


def rank_draws(draws: Sequence[np.ndarray]) -> np.ndarray:
    """[k, B]: each strategy's mean rank over tasks on each resample. ``draws`` holds one array per task,
    [k strategies, B resamples] of that task's resampled scores (higher is better), strategies in the
    same order and B equal in every task. Ties get the average rank."""
    return _rank_sums(draws) / len(draws)


@dataclass(frozen=True)
class RankIntervals:
    """Percentile intervals of each strategy's mean rank over resamples, and its chance of being best."""

    low: tuple[float, ...]
    high: tuple[float, ...]
    p_best: tuple[float, ...]  # share of resamples with the lowest mean rank (ties split); sums to 1
    level: float
    n_resamples: int

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "n_resamples": self.n_resamples,
                "interval": [[lo, hi] for lo, hi in zip(self.low, self.high, strict=True)],
                "p_best": list(self.p_best)}


def rank_intervals(draws: Sequence[np.ndarray], level: float = 0.95) -> RankIntervals:
    """Mean-rank intervals at ``level`` and ``p_best`` from per-task resampled scores (see
    :func:`rank_draws` for ``draws``)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    sums = _rank_sums(draws)  # compared as sums: exact, so equal mean ranks tie exactly
    mean = sums / len(draws)
    low, high = np.quantile(mean, [(1.0 - level) / 2.0, (1.0 + level) / 2.0], axis=1)
    best = sums == sums.min(axis=0, keepdims=True)  # [k, B]
    p_best = (best / best.sum(axis=0, keepdims=True)).mean(axis=1)
    return RankIntervals(low=tuple(float(v) for v in low), high=tuple(float(v) for v in high),
                         p_best=tuple(float(v) for v in p_best), level=level, n_resamples=sums.shape[1])
