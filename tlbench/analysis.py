"""Records -> the numbers of a leaderboard (a plain dict, also written as JSON). Pure: no training.

Per task and strategy: the reported runs (tuned where tuning produced them, else the defaults'), their
mean with a t-interval and a bootstrap interval over seeds, the per-seed values, secondary metrics,
costs, the defaults' score next to the tuned one, and the spread of selection scores over tuning
trials. Per task: every strategy against the baseline on the same items and seeds (paired bootstrap
over items, exact McNemar for accuracy-type metrics, Holm across the task's comparisons) and a
win-probability matrix. Across tasks: mean ranks, only for strategies with every task unless allowed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tlbench import stats
from tlbench.record import RunRecord, last_line
from tlbench.records import by_variant, latest, reported


def ordered(values: Any) -> list[Any]:
    """Distinct values in first-seen order."""
    return list(dict.fromkeys(values))


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _items(records: list[RunRecord]) -> tuple[dict[int, np.ndarray], str] | None:
    """seed -> item statistics ``[items, k]`` of records that kept valid ones, and the reducer."""
    out, how = {}, None
    for r in records:
        if r.items is None or r.items.stats is None:
            return None
        out[r.seed] = np.asarray(r.items.stats, dtype=float)
        how = r.items.reduce
    return (out, how) if out and how else None


def secondary_columns(records: list[RunRecord]) -> list[str]:
    """The secondary metrics a task declares (``Task.secondary_metrics``, kept in its records); for
    records that did not keep them, every reported metric but the primary one, alphabetically."""
    declared = ordered(m for r in records for m in r.secondary_metrics)
    if declared:
        return declared
    return sorted({k for r in records if r.metrics for k in r.metrics.report if k != r.primary_metric})


COST_FIELDS = ("trainable_params", "total_params", "trainable_share", "stored_bytes", "train_seconds",
               "peak_memory_bytes", "eval_examples_per_second")


def analyse(records: list[RunRecord], *, baseline: str, n_resamples: int = 1000,
            seed: int = 0, allow_missing: bool = False) -> dict[str, Any]:
    """Every number of a leaderboard from ``records`` (compared with the strategy labelled
    ``baseline``); a plain dict, written as leaderboard.json."""
    runs = latest(records)
    curves = _curves([r for r in runs if r.ok], seed)
    runs = _largest_size(runs)  # with a train_sizes axis, the tables show each task's largest size
    ok = [r for r in runs if r.ok]
    strategies = ordered(r.strategy for r in runs)
    tasks = ordered(r.task for r in runs)
    variants = by_variant(ok)
    chosen = reported(ok)
    result: dict[str, Any] = {"baseline": baseline, "n_resamples": n_resamples, "tasks": {},
                              "strategies": strategies, "failed": [], "missing": [], "curves": curves}
    means: dict[str, dict[str, float]] = {s: {} for s in strategies}
    for t in tasks:
        task_runs = [r for r in ok if r.task == t]
        if not task_runs:  # every run of the task failed: no section, but every failure is named
            for s in strategies:
                _unreported(result, runs, s, t)
            continue
        first = task_runs[0]
        primary = first.primary_metric
        data = first.data
        report_source = data.sources.get("report") if data else None
        entry: dict[str, Any] = {
            "primary_metric": primary, "label": (data.label if data else "") or t,
            "sizes": data.sizes if data else {},
            "report_split": report_source.location if report_source else "",
            "notes": ordered(s.description for s in (data.sources.values() if data else ()) if s.description),
            "truncated_share": data.truncated_share.get("report") if data else None,
            "secondary_metrics": [m for m in secondary_columns(task_runs) if m != primary],
            "strategies": {}, "comparisons": {}, "win_probability": {}}
        item_data: dict[str, tuple[dict[int, np.ndarray], str]] = {}
        for s in strategies:
            variant, rs = chosen.get((s, t), ("default", []))
            if not rs:
                _unreported(result, runs, s, t)
                continue
            values = [r.score() for r in rs]
            summary = stats.seed_summary(values, seed=seed)
            means[s][t] = summary.mean
            default = variants.get((s, t, "default"), [])
            tuning = next((r.tuning for r in rs if r.tuning), None)
            entry["strategies"][s] = {
                "variant": variant, "seeds": [r.seed for r in rs], **summary.as_dict(),
                "secondary": {k: _mean([r.score(metric=k) for r in rs if r.metrics and k in r.metrics.report])
                              for k in entry["secondary_metrics"]},
                "default_mean": _mean([r.score() for r in default]),
                "tuned_params": rs[0].tuned_params,
                "tuning": (tuning.model_dump(mode="json", include={
                    "trials", "complete", "pruned", "failed", "seconds", "best_select", "select_spread"})
                    if tuning else None),
                "cost": {k: _mean([float(getattr(r.cost, k)) for r in rs if r.cost]) for k in COST_FIELDS},
            }
            found = _items(rs)
            if found:
                item_data[s] = found
        _compare(entry, item_data, baseline, n_resamples, seed)
        result["tasks"][t] = entry
    for curve in curves.values():  # the baseline against every other strategy on the curve
        if baseline in curve["strategies"]:
            curve["crossovers"] = {s: crossover(curve, baseline, s)
                                   for s in curve["strategies"] if s != baseline}
    result["transfer"] = _transfer(ok, result["tasks"], baseline)
    result["mean_rank"] = stats.mean_ranks(means, tasks, allow_missing=allow_missing)
    result["coverage"] = {s: {"tasks": sum(t in means[s] for t in tasks), "of": len(tasks)}
                          for s in strategies}
    return result


def _unreported(result: dict[str, Any], runs: list[RunRecord], strategy: str, task: str) -> None:
    """A cell with no reported run: failed (with its distinct errors) or missing."""
    failed = [r for r in runs if r.strategy == strategy and r.task == task and not r.ok]
    (result["failed"] if failed else result["missing"]).append(
        {"strategy": strategy, "task": task, "errors": sorted({last_line(r.error) for r in failed})})


def _compare(entry: dict[str, Any], item_data: dict[str, tuple[dict[int, np.ndarray], str]],
             baseline: str, n_resamples: int, seed: int) -> None:
    sizes = {d[next(iter(d))].shape[0] for d, _ in item_data.values()}
    if len(sizes) != 1:  # different report items: nothing is paired
        return
    indices = stats.resample_indices(sizes.pop(), n_resamples, seed)
    resampled = {s: stats.resampled_metric(np.stack(list(d.values())), how, indices)
                 for s, (d, how) in item_data.items()}
    entry["win_probability"] = stats.win_probability(resampled)
    if baseline not in item_data:
        return
    base, how = item_data[baseline]
    found: dict[str, stats.Comparison] = {}
    for s, (d, s_how) in item_data.items():
        common = sorted(set(d) & set(base))
        if s == baseline or s_how != how or not common:
            continue
        a, b = np.stack([d[k] for k in common]), np.stack([base[k] for k in common])
        c = stats.paired_bootstrap(a, b, how, indices)
        binary = how == "mean" and np.isin(a, (0.0, 1.0)).all() and np.isin(b, (0.0, 1.0)).all()
        mcnemar = stats.mcnemar_exact(a[..., 0], b[..., 0]) if binary else None
        found[s] = stats.Comparison(c.delta, c.low, c.high, c.p_value, c.seeds, mcnemar)
    adjusted = stats.holm([c.p_value for c in found.values()])
    for (s, c), p_holm in zip(found.items(), adjusted, strict=True):
        entry["comparisons"][s] = {"delta": c.delta, "ci95": [c.low, c.high], "p_value": c.p_value,
                                   "p_holm": p_holm, "mcnemar_p": c.mcnemar_p, "seeds": c.seeds,
                                   "verdict": c.verdict}


def _transfer(ok: list[RunRecord], tasks: dict[str, Any], baseline: str) -> dict[str, Any]:
    """For each strategy that trained tasks together (records with a ``group``): per task of its
    group, the paired Δ against the baseline trained on that task alone, and the tasks that lost
    (negative transfer: the interval lies below zero)."""
    out: dict[str, Any] = {}
    if any(r.group for r in ok if r.strategy == baseline):
        return out  # the baseline itself spans tasks: no single-task reference
    for s in ordered(r.strategy for r in ok if r.group):
        group = list(next(r.group.tasks for r in ok if r.strategy == s and r.group))
        rows = {t: tasks.get(t, {}).get("comparisons", {}).get(s) for t in group}
        out[s] = {"tasks": group, "rows": rows,
                  "lost": [t for t, c in rows.items() if c and c["verdict"] == "worse"],
                  "gained": [t for t, c in rows.items() if c and c["verdict"] == "better"]}
    return out


def _size_key(size: Any) -> float:
    return float("inf") if size == "full" else float(size)


def _largest_size(runs: list[RunRecord]) -> list[RunRecord]:
    largest: dict[str, float] = {}
    for r in runs:
        if r.train_size is not None:
            largest[r.task] = max(largest.get(r.task, -1.0), _size_key(r.train_size))
    return [r for r in runs if r.train_size is None or _size_key(r.train_size) == largest[r.task]]


def _curves(ok: list[RunRecord], seed: int) -> dict[str, Any]:
    """task -> strategy -> one point per training size: the rows actually used (the mean over
    seeds of the train split's size) and the reported score's mean and intervals."""
    sized: dict[Any, list[RunRecord]] = {}
    for r in ok:
        if r.train_size is not None:
            sized.setdefault(r.train_size, []).append(r)
    curves: dict[str, Any] = {}
    for size in sorted(sized, key=_size_key):
        for (s, t), (_, rs) in reported(sized[size]).items():
            summary = stats.seed_summary([r.score() for r in rs], seed=seed)
            rows = float(np.mean([r.data.sizes.get("train", 0) if r.data else 0 for r in rs]))
            curves.setdefault(t, {"metric": rs[0].primary_metric, "strategies": {}})["strategies"].setdefault(
                s, []).append({"size": size, "rows": rows, **summary.as_dict()})
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


