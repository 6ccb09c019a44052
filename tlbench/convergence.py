"""Was a run still improving when its training ended? A pure function of its curve.

A run's curve is the (step, selection score) pairs its training evaluated (``RunRecord.curve``; the
engine evaluates at least ``min_evals`` evenly spread steps). The run is **still improving** when
its curve has at least 3 points, the last score is the best so far, and it exceeds the best score
of the points before the final third of the run (steps up to 2/3 of the last one) by more than the
selection split's sampling noise. The noise is the standard error of a score on ``n`` selection
rows, at the midpoint of the two scores compared:

- a proportion-like metric (accuracy, F1, exact match) on a scale of ``scale`` (1, or 100 for
  percentages: ``Task.metric_scale``): ``scale * sqrt(p (1 - p) / n)`` with ``p = score / scale``;
- a correlation (pearson, spearman, matthews): ``(1 - r^2) / sqrt(n - 1)``.

A group's curve (multitask: the mean over its tasks of each score's headroom gain,
``tlbench.tuning.group_objective``) has as noise the standard error of that mean, each task's
error at its final selection score scaled by its gain's slope: ``sqrt(sum((slope_t se_t)^2)) / k``.

None: fewer than 3 points, no point before the final third, a non-finite score, or no noise
estimate (fewer than 2 selection rows). The rule is written out in docs/report.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

#: primary metrics on [-1, 1] whose noise is a correlation's
CORRELATIONS = frozenset({"pearson", "spearman", "spearmanr", "matthews", "mcc"})


def standard_error(metric: str, score: float, n: int, scale: float = 1.0) -> float:
    """The sampling standard error of ``score`` (of ``metric``, on ``scale``) over ``n`` rows;
    NaN when ``n < 2``."""
    if n < 2 or not math.isfinite(score) or scale <= 0:
        return math.nan
    x = score / scale
    if metric.lower() in CORRELATIONS:
        r = min(1.0, abs(x))
        return scale * (1.0 - r * r) / math.sqrt(n - 1)
    p = min(1.0, max(0.0, x))
    return scale * math.sqrt(p * (1.0 - p) / n)


def still_improving(curve: Sequence[Sequence[float]], noise: Callable[[float, float], float]) -> bool | None:
    """The rule above for ``curve`` ((step, score) pairs); ``noise(reference, last)`` is the noise
    of the difference between the best early score and the last one."""
    points = sorted((float(s), float(v)) for s, v in curve)
    if len(points) < 3 or not all(math.isfinite(v) for _, v in points):
        return None
    last_step, last = points[-1]
    early = [v for s, v in points[:-1] if s <= last_step * 2 / 3]
    if not early:
        return None
    if last < max(v for _, v in points):
        return False  # an earlier point was better: the run went past its best
    reference = max(early)
    spread = noise(reference, last)
    if not math.isfinite(spread):
        return None
    return last - reference > spread


def run_still_improving(curve: Sequence[Sequence[float]], metric: str, n_select: int,
                        scale: float = 1.0) -> bool | None:
    """One task's run: the noise of its primary ``metric`` over ``n_select`` selection rows."""
    return still_improving(curve, lambda a, b: standard_error(metric, (a + b) / 2, n_select, scale))


def group_noise(terms: Iterable[tuple[str, int, float, float, float]]) -> float:
    """The noise of a group's objective: ``terms`` are each task's (metric, selection rows, final
    selection score, scale, slope of its headroom gain)."""
    parts = [(slope * standard_error(metric, score, n, scale)) ** 2
             for metric, n, score, scale, slope in terms]
    return math.sqrt(sum(parts)) / len(parts) if parts else math.nan


def group_still_improving(curve: Sequence[Sequence[float]],
                          terms: Iterable[tuple[str, int, float, float, float]]) -> bool | None:
    """A group's run (its curve is the group objective's): the noise of the mean of the tasks' gains."""
    spread = group_noise(list(terms))
    return still_improving(curve, lambda a, b: spread)
