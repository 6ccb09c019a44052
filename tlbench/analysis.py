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
from tlbench.config import DEFAULT_BASELINE
from tlbench.store import latest


def _ordered(values: Any) -> list[Any]:
    return list(dict.fromkeys(values))


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _items(records: list[dict[str, Any]]) -> tuple[dict[int, np.ndarray], str] | None:
    """seed -> item statistics ``[items, k]`` of records that kept valid ones, and the reducer."""
    out, how = {}, None
    for r in records:
        items = r.get("items") or {}
        if "stats" not in items:
            return None
        out[r["seed"]] = np.asarray(items["stats"], dtype=float)
        how = items["reduce"]
    return (out, how) if out and how else None


def analyse(records: list[dict[str, Any]], *, baseline: str = DEFAULT_BASELINE, n_resamples: int = 1000,
            seed: int = 0, allow_missing: bool = False) -> dict[str, Any]:
    runs = latest(records)
    curves = _curves([r for r in runs if r["status"] == "ok"], seed)
    runs = _largest_size(runs)  # with a train_sizes axis, the tables show each task's largest size
    ok = [r for r in runs if r["status"] == "ok"]
    strategies = _ordered(r["strategy"] for r in runs)
    tasks = _ordered(r["task"] for r in runs)
    by: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in ok:
        by.setdefault((r["strategy"], r["task"], r.get("variant", "default")), []).append(r)

    def reported(s: str, t: str) -> tuple[str, list[dict[str, Any]]]:
        if by.get((s, t, "tuned")):
            return "tuned", by[(s, t, "tuned")]
        return "default", by.get((s, t, "default"), [])

    result: dict[str, Any] = {"baseline": baseline, "n_resamples": n_resamples, "tasks": {},
                              "strategies": strategies, "failed": [], "missing": [], "curves": curves}
    means: dict[str, dict[str, float]] = {s: {} for s in strategies}
    for t in tasks:
        task_runs = [r for r in ok if r["task"] == t]
        if not task_runs:
            continue
        primary = task_runs[0]["primary_metric"]
        first = task_runs[0]
        entry: dict[str, Any] = {
            "primary_metric": primary, "label": first.get("data", {}).get("label") or t,
            "sizes": first.get("data", {}).get("sizes", {}),
            "report_split": first.get("data", {}).get("sources", {}).get("report", {}).get("location", ""),
            "truncated_share": first.get("data", {}).get("truncated_share", {}).get("report"),
            "strategies": {}, "comparisons": {}, "win_probability": {}}
        item_data: dict[str, tuple[dict[int, np.ndarray], str]] = {}
        for s in strategies:
            variant, rs = reported(s, t)
            if not rs:
                failed = [r for r in runs if r["strategy"] == s and r["task"] == t and r["status"] != "ok"]
                (result["failed"] if failed else result["missing"]).append(
                    {"strategy": s, "task": t, "errors": sorted({_last_line(r["error"]) for r in failed})})
                continue
            rs = sorted(rs, key=lambda r: r["seed"])
            values = [float(r["metrics"]["report"][primary]) for r in rs]
            summary = stats.seed_summary(values, seed=seed)
            means[s][t] = summary.mean
            secondary = sorted({k for r in rs for k in r["metrics"]["report"] if k != primary})
            default = by.get((s, t, "default"), [])
            tuning = next((r.get("tuning") for r in rs if r.get("tuning")), None)
            entry["strategies"][s] = {
                "variant": variant, "seeds": [r["seed"] for r in rs], **summary.as_dict(),
                "secondary": {k: _mean([float(r["metrics"]["report"][k]) for r in rs
                                        if k in r["metrics"]["report"]]) for k in secondary},
                "default_mean": _mean([float(r["metrics"]["report"][primary]) for r in default]),
                "tuned_params": rs[0].get("tuned_params") or {},
                "tuning": ({k: tuning.get(k) for k in ("trials", "complete", "pruned", "failed", "seconds",
                                                       "best_select", "select_spread")} if tuning else None),
                "cost": {k: _mean([float(r["cost"][k]) for r in rs if k in r.get("cost", {})])
                         for k in ("trainable_params", "total_params", "trainable_share", "stored_bytes",
                                   "train_seconds", "peak_memory_bytes", "eval_examples_per_second")},
            }
            found = _items(rs)
            if found:
                item_data[s] = found
        _compare(entry, item_data, baseline, n_resamples, seed)
        result["tasks"][t] = entry
    result["transfer"] = _transfer(ok, result["tasks"], baseline)
    result["mean_rank"] = stats.mean_ranks(means, tasks, allow_missing=allow_missing)
    result["coverage"] = {s: {"tasks": sum(t in means[s] for t in tasks), "of": len(tasks)}
                          for s in strategies}
    return result


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


def _transfer(ok: list[dict[str, Any]], tasks: dict[str, Any], baseline: str) -> dict[str, Any]:
    """For each strategy that trained tasks together (records with a ``group``): per task of its
    group, the paired Δ against the baseline trained on that task alone, and the tasks that lost
    (negative transfer: the interval lies below zero)."""
    out: dict[str, Any] = {}
    if any(r.get("group") for r in ok if r["strategy"] == baseline):
        return out  # the baseline itself spans tasks: no single-task reference
    for s in _ordered(r["strategy"] for r in ok if r.get("group")):
        group = next(r["group"]["tasks"] for r in ok if r["strategy"] == s and r.get("group"))
        rows = {t: tasks.get(t, {}).get("comparisons", {}).get(s) for t in group}
        out[s] = {"tasks": group, "rows": rows,
                  "lost": [t for t, c in rows.items() if c and c["verdict"] == "worse"],
                  "gained": [t for t, c in rows.items() if c and c["verdict"] == "better"]}
    return out


def _size_key(size: Any) -> float:
    return float("inf") if size == "full" else float(size)


def _largest_size(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    largest: dict[str, float] = {}
    for r in runs:
        if r.get("train_size") is not None:
            largest[r["task"]] = max(largest.get(r["task"], -1.0), _size_key(r["train_size"]))
    return [r for r in runs
            if r.get("train_size") is None or _size_key(r["train_size"]) == largest[r["task"]]]


def _curves(ok: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    """task -> strategy -> one point per training size: the rows actually used (the mean over
    seeds of the train split's size) and the reported score's mean and intervals."""
    groups: dict[tuple[str, str, Any], dict[str, list[dict[str, Any]]]] = {}
    for r in ok:
        if r.get("train_size") is not None:
            key = (r["task"], r["strategy"], r["train_size"])
            groups.setdefault(key, {}).setdefault(r.get("variant", "default"), []).append(r)
    curves: dict[str, Any] = {}
    for (t, s, size), by_variant in sorted(groups.items(), key=lambda kv: _size_key(kv[0][2])):
        rs = by_variant.get("tuned") or by_variant.get("default") or []
        if not rs:
            continue
        metric = rs[0]["primary_metric"]
        summary = stats.seed_summary([float(r["metrics"]["report"][metric]) for r in rs], seed=seed)
        rows = float(np.mean([r.get("data", {}).get("sizes", {}).get("train", 0) for r in rs]))
        curves.setdefault(t, {"metric": metric, "strategies": {}})["strategies"].setdefault(s, []).append(
            {"size": size, "rows": rows, **summary.as_dict()})
    return curves


def crossover(curve: dict[str, Any], leader: str = "full_finetune", other: str = "linear_probe") -> Any:
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


def _last_line(error: str) -> str:
    return error.strip().splitlines()[-1] if error and error.strip() else "unknown error"
