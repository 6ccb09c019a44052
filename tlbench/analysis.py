"""Records -> the numbers of a leaderboard (a plain dict, also written as JSON). Pure: no training.

Per task and strategy: the reported runs (tuned where tuning produced them, else the defaults'), their
mean with a t-interval over the replicates (seeds; training subsets × seeds; or, with several seeds
per training subset, the subset means: :func:`tlbench.stats.replicate_summary`), every run's value,
secondary metrics, costs, the defaults' score next to the tuned one, and the spread of selection
scores over tuning trials. Per task: every pair of strategies compared once with
:mod:`tlbench.bootstrap`'s two-level paired bootstrap (seeds and test items both vary), the
comparisons with the baseline and with the task's leader as views of those pairs, and P(row
outperforms column) (:mod:`tlbench.comparisons`, whose one Holm family, every pair on every task,
gives the verdicts). Across tasks: mean ranks with bootstrap intervals and a Friedman test with
Nemenyi's critical difference (:mod:`tlbench.ranks`), for the strategies that have every task
unless allowed. Learning curves: each size's points, crossovers and Welch differences.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np

from tlbench import ranks, stats
from tlbench.bootstrap import TaskBootstrap
from tlbench.comparisons import ALPHA, METHOD, compare_task, exclusion, holm_family, leader, transfer, versus
from tlbench.curves import compare as compare_curves
from tlbench.curves import crossover, curve_differences, largest_size, size_label, training_draw
from tlbench.curves import curves as learning_curves
from tlbench.record import RunRecord, last_line
from tlbench.records import MODEL_JOIN, by_variant, latest, model_axis, reported

# exclusion, leader and versus (tlbench.comparisons), crossover, curve_differences, size_label and
# training_draw (tlbench.curves) are importable from here too
__all__ = ["ALPHA", "COST_FIELDS", "METHOD", "analyse", "crossover", "curve_differences", "exclusion",
           "leader", "ordered", "replicate", "secondary_columns", "size_label", "training_draw", "versus"]


def ordered(values: Any) -> list[Any]:
    """Distinct values in first-seen order."""
    return list(dict.fromkeys(values))


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def replicate(r: RunRecord) -> tuple[int, int]:
    """A reported run's replicate: (training subset, seed). Runs of different training subsets with
    the same seed are different replicates (different training rows), never merged; records made
    before subsets existed drew subset 0's rows."""
    return (r.train_subset or 0, r.seed)


def _items(records: list[RunRecord]) -> tuple[dict[tuple[int, int], np.ndarray], str] | None:
    """(subset, seed) -> item statistics ``[items, k]`` of records that kept valid ones, and the
    reducer. The two-level bootstrap resamples these replicates as its seed level."""
    out, how = {}, None
    for r in records:
        if r.items is None or r.items.stats is None:
            return None
        out[replicate(r)] = np.asarray(r.items.stats, dtype=float)
        how = r.items.reduce
    return (out, how) if out and how else None


def _still_improving(records: list[RunRecord]) -> dict[str, int] | None:
    """How many of the reported runs were still improving at their end (``RunRecord.still_improving``),
    of those judged; None when none was (older records, fewer than 3 curve points)."""
    judged = [r.still_improving for r in records if r.still_improving is not None]
    return {"count": sum(judged), "of": len(judged)} if judged else None


def secondary_columns(records: list[RunRecord]) -> list[str]:
    """The secondary metrics a task declares (``Task.secondary_metrics``, kept in its records); for
    records that did not keep them, every reported metric but the primary one, alphabetically."""
    declared = ordered(m for r in records for m in r.secondary_metrics)
    if declared:
        return declared
    return sorted({k for r in records if r.metrics for k in r.metrics.report if k != r.primary_metric})


COST_FIELDS = ("trainable_params", "total_params", "trainable_share", "stored_bytes", "train_seconds",
               "peak_memory_bytes", "eval_examples_per_second",
               # the compute behind the result (``Cost``'s optional fields): the mean over the seeds
               # whose records have them, None when none has (records made before they were counted)
               "optimizer_steps", "epochs", "examples_seen", "tokens", "padded_tokens", "oneoff_seconds",
               "own_train_seconds", "prepare_seconds", "eval_seconds")


def analyse(records: list[RunRecord], *, baseline: str, n_resamples: int = 10_000, seed: int = 0,
            allow_missing: bool = False, margin: float | dict[str, float] | None = None,
            skipped: Collection[tuple[str, str]] = ()) -> dict[str, Any]:
    """Every number of a leaderboard from ``records`` (compared with the strategy labelled
    ``baseline``); a plain dict, written as leaderboard.json. ``skipped``: the (strategy, task)
    labels the suite leaves out (``Suite.skipped``), listed as such rather than as missing.
    ``margin``: an equivalence margin in the primary metric's units, for every task or per task
    label (the suite's ``equivalence_margin``); ``seed`` seeds every resampling. With several models, each
    (strategy, model) is a row of its own (:func:`tlbench.records.model_axis`)."""
    records, baseline, models = model_axis(records, baseline)
    runs = latest(records)
    curves = learning_curves([r for r in runs if r.ok])
    runs = largest_size(runs)  # with a train_sizes axis, the tables show each task's largest size
    ok = [r for r in runs if r.ok]
    strategies = ordered(r.strategy for r in runs)
    tasks = ordered(r.task for r in runs)
    variants = by_variant(ok)
    chosen = reported(ok)
    result: dict[str, Any] = {"baseline": baseline, "models": models, "n_resamples": n_resamples,
                              "tasks": {},
                              "strategies": strategies, "failed": [], "missing": [], "skipped": [],
                              "curves": curves,
                              "statistics": {"method": METHOD, "n_resamples": n_resamples, "rng_seed": seed,
                                             "alpha": ALPHA,
                                             # what the seed level resamples: with a subsets axis,
                                             # every (training subset, seed) run is a replicate;
                                             # with seeds nested in subsets, the subsets (below)
                                             "replicates": "training subsets × seeds" if any(
                                                 r.train_subset for r in runs) else "seeds"}}
    means: dict[str, dict[str, float]] = {s: {} for s in strategies}
    draws: dict[str, dict[str, np.ndarray]] = {}
    from tlbench.contamination import contamination

    notes = contamination(ok)  # tasks whose source the model's own training data lists
    for t in tasks:
        task_runs = [r for r in ok if r.task == t]
        if not task_runs:  # every run of the task failed: no section, but every failure is named
            for s in strategies:
                _unreported(result, runs, s, t, skipped)
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
            "contamination": (notes[t].sentence if t in notes else None),
            "trivial": _trivial(task_runs, primary),
            # the training rows of the runs shown: "8/class × 5 subsets" (None: no size or subset axis)
            "training_draw": training_draw(task_runs),
            "strategies": {}, "comparisons": {}, "win_probability": {}}
        item_data: dict[str, tuple[dict[tuple[int, int], np.ndarray], str]] = {}
        for s in strategies:
            variant, rs = chosen.get((s, t), ("default", []))
            if not rs:
                _unreported(result, runs, s, t, skipped)
                continue
            # over the replicates; with seeds nested in training subsets, over the subset means
            summary = stats.replicate_summary([r.score() for r in rs], [r.train_subset or 0 for r in rs])
            means[s][t] = summary.mean
            default = variants.get((s, t, "default"), [])
            tuning = next((r.tuning for r in rs if r.tuning), None)
            entry["strategies"][s] = {
                "variant": variant, "seeds": [r.seed for r in rs],
                # each value's training subset (0 for every run without a subsets axis)
                "subsets": [r.train_subset or 0 for r in rs], **summary.as_dict(),
                "secondary": {k: _mean([r.score(metric=k) for r in rs if r.metrics and k in r.metrics.report])
                              for k in entry["secondary_metrics"]},
                "default_mean": _mean([r.score() for r in default]),
                "tuned_params": rs[0].tuned_params,
                "tuning": (tuning.model_dump(mode="json", include={
                    "trials", "complete", "pruned", "failed", "seconds", "best_select", "select_spread"})
                    if tuning else None),
                "cost": {k: _mean([float(v) for r in rs if r.cost and (v := getattr(r.cost, k)) is not None])
                         for k in COST_FIELDS},
                "calibration": _calibration(rs),
                "still_improving": _still_improving(rs),
            }
            entry["strategies"][s]["above_trivial"] = _above(summary, entry["trivial"])
            found = _items(rs)
            if found:
                item_data[s] = found
        task_margin = margin.get(t) if isinstance(margin, dict) else margin
        boot = _resampler(t, task_runs, item_data, n_resamples, seed)
        entry["leader"] = leader(entry)
        draws[t] = compare_task(entry, item_data, baseline, boot, task_margin)
        cells = [x["above_trivial"] for x in entry["strategies"].values()]
        entry["above_trivial"] = None if entry["trivial"] is None else any(cells)
        result["tasks"][t] = entry
    compare_curves(curves, baseline)  # the baseline against every other strategy on the curve
    if any("nested" in x for e in result["tasks"].values() for x in e["strategies"].values()) or any(
            "nested" in p for c in curves.values() for ps in c["strategies"].values() for p in ps):
        result["statistics"]["replicates"] = "training subsets, each with its seeds nested within it"
    result["statistics"]["family"] = holm_family(result["tasks"])
    result["transfer"] = transfer(ok, result["tasks"], baseline)
    beaten = [t for t in tasks if t in result["tasks"] and result["tasks"][t]["above_trivial"] is not False]
    result["mean_rank"] = stats.mean_ranks(means, beaten, allow_missing=allow_missing)
    result["ranks"] = _ranks(means, draws, beaten, result["mean_rank"])
    result["ranks"]["below_trivial"] = [t for t in tasks if t in result["tasks"] and t not in beaten]
    result["coverage"] = {s: {"tasks": sum(t in means[s] for t in tasks), "of": len(tasks)}
                          for s in strategies}
    return result


def _unreported(result: dict[str, Any], runs: list[RunRecord], strategy: str, task: str,
                skipped: Collection[tuple[str, str]] = ()) -> None:
    """A cell with no reported run: failed (with its distinct errors), skipped by the suite (its
    strategy label, less a model axis suffix, and task in ``skipped``) or missing."""
    failed = [r for r in runs if r.strategy == strategy and r.task == task and not r.ok]
    suite_skips = (strategy.split(MODEL_JOIN)[0], task) in skipped
    kind = "failed" if failed else "skipped" if suite_skips else "missing"
    result[kind].append(
        {"strategy": strategy, "task": task, "errors": sorted({last_line(r.error) for r in failed})})


def _resampler(task: str, runs: list[RunRecord],
              item_data: dict[str, tuple[dict[tuple[int, int], np.ndarray], str]],
               n_resamples: int, seed: int) -> TaskBootstrap | None:
    """The task's shared resamples, by the clusters its records declare (None: nothing is paired)."""
    sizes = {d[next(iter(d))].shape[0] for d, _ in item_data.values()}
    if len(sizes) != 1:  # different report items: nothing is paired
        return None
    n = sizes.pop()
    declared = {(tuple(r.items.clusters), r.items.cluster_by) for r in runs
                if r.items and r.items.clusters and len(r.items.clusters) == n}
    clusters, cluster_by = next(iter(declared)) if len(declared) == 1 else (None, None)
    return TaskBootstrap(n, clusters=clusters, cluster_by=cluster_by, n_resamples=n_resamples, seed=seed,
                         task=task)


CALIBRATION_FIELDS = ("ece", "brier", "nll", "accuracy", "temperature", "ece_scaled", "brier_scaled",
                      "nll_scaled", "accuracy_scaled")


def _calibration(runs: list[RunRecord]) -> dict[str, Any] | None:
    """The cell's calibration (``RunRecord.calibration``): each number's mean over the seeds that
    kept one, and how many did (``n``). None when none did (not a classification, older records)."""
    kept = [r.calibration for r in runs if r.calibration is not None]
    if not kept:
        return None
    return {"n": len(kept), **{k: _mean([float(getattr(c, k)) for c in kept]) for k in CALIBRATION_FIELDS}}


def _trivial(runs: list[RunRecord], primary: str) -> dict[str, Any] | None:
    """The task's trivial baseline (``RunRecord.trivial``: the same report items for every run)."""
    found = next((r.trivial for r in runs if r.trivial and primary in r.trivial.metrics), None)
    if found is None:
        return None
    return {"method": found.method, "score": found.metrics[primary], "metrics": dict(found.metrics)}


def _above(summary: stats.SeedSummary, trivial: dict[str, Any] | None) -> bool | None:
    """The cell beats the trivial baseline: its 95% t-interval over seeds lies above it (one seed:
    its score does). None without a trivial baseline."""
    if trivial is None or summary.n == 0:
        return None
    low = summary.mean if summary.n < 2 else summary.t_low
    return bool(low > trivial["score"])


def _ranks(means: dict[str, dict[str, float]], draws: dict[str, dict[str, np.ndarray]], tasks: list[str],
           mean_rank: dict[str, float | None]) -> dict[str, Any]:
    """Across tasks, for the strategies that have a mean rank: the Friedman test with Nemenyi's
    critical difference (2+ strategies, 2+ tasks, all of them present), and bootstrap intervals of
    the mean ranks (when every such task has resamples of every such strategy)."""
    ranked = [s for s, r in mean_rank.items() if r is not None]
    complete = [t for t in tasks if all(t in means[s] for s in ranked)]
    out: dict[str, Any] = {"strategies": ranked, "tasks": complete, "friedman": None, "intervals": None}
    if len(ranked) < 2 or len(complete) < 2:
        out["note"] = "a test across tasks needs at least two strategies with scores on at least two tasks"
        return out
    scores = np.array([[means[s][t] for s in ranked] for t in complete])
    out["friedman"] = ranks.friedman(scores, alpha=ALPHA).as_dict()
    if all(s in draws.get(t, {}) for t in complete for s in ranked):
        iv = ranks.rank_intervals([np.stack([draws[t][s] for s in ranked]) for t in complete])
        out["intervals"] = {s: {"low": iv.low[i], "high": iv.high[i], "p_best": iv.p_best[i]}
                            for i, s in enumerate(ranked)}
    return out
