"""Learning curves and training sizes: each task's score per training size, where one strategy's
mean overtakes another's, and the difference at every size with Welch's interval over the
replicates (over the training subsets' means where seeds are nested in subsets). Also how the
leaderboard names a size and which runs its tables show (each task's largest size). Pure functions
of records and of the curves dict :func:`curves` returns (``analysis["curves"]``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tlbench import stats
from tlbench.record import PerClass, RunRecord
from tlbench.records import reported

__all__ = ["compare", "crossover", "curve_differences", "curves", "largest_size", "size_label",
           "training_draw"]


def _size_key(size: Any, record: RunRecord | None = None) -> float:
    """A training size's place on the size axis: its rows; ``"full"`` last; a per-class size its
    rows per class times the record's classes (the rows it drew), per class alone without them."""
    if size == "full":
        return float("inf")
    if isinstance(size, PerClass):
        classes = len(record.data.label_names) if record is not None and record.data else 0
        return float(size.per_class * max(classes, 1))
    return float(size)


def size_label(size: Any) -> str:
    """How the leaderboard names a training size: ``1,000``, ``full``, ``8/class``."""
    if isinstance(size, PerClass):
        return str(size)
    return size if isinstance(size, str) else f"{size:,}"


def largest_size(runs: list[RunRecord]) -> list[RunRecord]:
    """The runs the tables show: with a train_sizes axis, each task's largest size."""
    largest: dict[str, float] = {}
    for r in runs:
        if r.train_size is not None:
            largest[r.task] = max(largest.get(r.task, -1.0), _size_key(r.train_size, r))
    return [r for r in runs if r.train_size is None or _size_key(r.train_size, r) == largest[r.task]]


def training_draw(runs: list[RunRecord]) -> str | None:
    """How a cell's training rows were drawn, when the suite has a size axis or subsets:
    ``8/class × 5 subsets``, ``1,000 rows × 3 subsets``, ``full``; None without either axis."""
    sizes = list(dict.fromkeys(r.train_size for r in runs if r.train_size is not None))
    subsets = len({r.train_subset or 0 for r in runs})
    if not sizes and subsets < 2:
        return None
    size = " / ".join(size_label(s) + (" rows" if isinstance(s, int) else "") for s in sizes) or "rows"
    return f"{size} × {subsets} subset{'s' * (subsets != 1)}" if subsets > 1 else size


def curves(ok: list[RunRecord]) -> dict[str, Any]:
    """task -> strategy -> one point per training size: the rows actually used (the mean over the
    replicates of the train split's size) and the reported score's mean and t-interval over the
    replicates (training subsets × seeds: ``n``; with several seeds per subset, over the subset
    means: ``n`` subsets, ``nested``), with how many subsets and seeds they are."""
    sized: dict[Any, list[RunRecord]] = {}
    for r in ok:
        if r.train_size is not None:
            sized.setdefault(r.train_size, []).append(r)
    curves: dict[str, Any] = {}
    for size in sorted(sized, key=lambda x: min(_size_key(x, r) for r in sized[x])):
        for (s, t), (_, rs) in reported(sized[size]).items():
            summary = stats.replicate_summary([r.score() for r in rs], [r.train_subset or 0 for r in rs])
            rows = float(np.mean([r.data.sizes.get("train", 0) if r.data else 0 for r in rs]))
            point = {"size": size.model_dump() if isinstance(size, PerClass) else size,
                     "label": size_label(size), "rows": rows,
                     "subsets": len({r.train_subset or 0 for r in rs}), "seeds": len({r.seed for r in rs}),
                     **summary.as_dict()}
            curves.setdefault(t, {"metric": rs[0].primary_metric, "strategies": {}})["strategies"].setdefault(
                s, []).append(point)
    return curves


def crossover(curve: dict[str, Any], leader: str, other: str) -> Any:
    """The smallest training size from which ``leader``'s mean stays above ``other``'s (None: never;
    "always": already at the smallest size). Sizes both strategies ran only."""
    a = {p["rows"]: p["mean"] for p in curve["strategies"].get(leader, [])}
    b = {p["rows"]: p["mean"] for p in curve["strategies"].get(other, [])}
    rows = sorted(set(a) & set(b))
    if not rows:
        return None
    ahead = [a[x] > b[x] for x in rows]
    for i, x in enumerate(rows):
        if all(ahead[i:]):
            return "always" if i == 0 else x
    return None


def curve_differences(curve: dict[str, Any], leader: str, other: str) -> list[dict[str, Any]]:
    """At every size both strategies ran: ``leader``'s mean minus ``other``'s, with Welch's 95%
    t-interval over their replicates (training subsets × seeds; with seeds nested in subsets, over the
    subset means: each point's ``n`` and ``sd`` are then the subsets'), unpaired: strategies share the
    subsets' training rows, so this errs on the wide side where a subset helps every strategy."""
    from scipy import stats as st

    a = {p["rows"]: p for p in curve["strategies"].get(leader, [])}
    b = {p["rows"]: p for p in curve["strategies"].get(other, [])}
    out = []
    for x in sorted(set(a) & set(b)):
        pa, pb = a[x], b[x]
        delta = pa["mean"] - pb["mean"]
        low = high = None
        if pa["n"] > 1 and pb["n"] > 1:
            va, vb = pa["sd"] ** 2 / pa["n"], pb["sd"] ** 2 / pb["n"]
            se = float(np.sqrt(va + vb))
            if se > 0:
                df = (va + vb) ** 2 / (va ** 2 / (pa["n"] - 1) + vb ** 2 / (pb["n"] - 1))
                half = float(st.t.ppf(0.975, df)) * se
                low, high = delta - half, delta + half
            else:
                low = high = delta
        out.append({"label": pa.get("label", f"{x:,.0f}"), "rows": x, "delta": delta,
                    "ci95": [low, high], "n": [pa["n"], pb["n"]]})
    return out


def compare(found: dict[str, Any], baseline: str) -> None:
    """On each curve with the baseline: where its mean overtakes every other strategy's for good
    (``crossovers``) and the difference at every size (``differences``)."""
    for curve in found.values():
        if baseline in curve["strategies"]:
            curve["crossovers"] = {s: crossover(curve, baseline, s)
                                   for s in curve["strategies"] if s != baseline}
            curve["differences"] = {s: curve_differences(curve, baseline, s)
                                    for s in curve["strategies"] if s != baseline}
