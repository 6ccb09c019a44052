"""Records -> the numbers of a leaderboard (a plain dict, also written as JSON). Pure: no training.

Per task and strategy: the reported runs (tuned where tuning produced them, else the defaults'), their
mean with a t-interval over seeds, every seed's value, secondary metrics, costs, the defaults' score
next to the tuned one, and the spread of selection scores over tuning trials. Per task: every
strategy against the baseline (:mod:`tlbench.bootstrap`'s two-level paired bootstrap: seeds and
test items both vary), every strategy against the task's *leader* (:func:`leader`: the highest mean
among the cells open to claims) with the same resamples, and the matrix of P(row outperforms
column). The verdicts come from Holm-adjusted p-values over *one family*: every comparison the
leaderboard prints, those with the baseline and those with each task's leader (the leader against
the baseline counted once; the Transfer table reprints some of them). Across tasks: mean ranks with
bootstrap intervals and a Friedman test with Nemenyi's critical difference (:mod:`tlbench.ranks`),
for the strategies that have every task unless allowed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tlbench import ranks, stats
from tlbench.bootstrap import TaskBootstrap, p_outperform
from tlbench.record import PerClass, RunRecord, last_line
from tlbench.records import by_variant, latest, model_axis, reported


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


ALPHA = 0.05
METHOD = ("two-level paired bootstrap: report items resampled and shared by all strategies (by cluster "
          "where the task declares clusters), seeds resampled within each strategy; standard error with "
          "the seed level corrected for few seeds (sqrt(n/(n-1))) and the seed x item interaction counted "
          "once; 95% intervals and two-sided p-values from Student's t with Welch-Satterthwaite degrees "
          "of freedom")


def analyse(records: list[RunRecord], *, baseline: str, n_resamples: int = 10_000, seed: int = 0,
            allow_missing: bool = False, margin: float | dict[str, float] | None = None) -> dict[str, Any]:
    """Every number of a leaderboard from ``records`` (compared with the strategy labelled
    ``baseline``); a plain dict, written as leaderboard.json. ``margin``: an equivalence margin in
    the primary metric's units, for every task or per task label (the suite's
    ``equivalence_margin``); ``seed`` seeds every resampling. With several models, each
    (strategy, model) is a row of its own (:func:`tlbench.records.model_axis`)."""
    records, baseline, models = model_axis(records, baseline)
    runs = latest(records)
    curves = _curves([r for r in runs if r.ok])
    runs = _largest_size(runs)  # with a train_sizes axis, the tables show each task's largest size
    ok = [r for r in runs if r.ok]
    strategies = ordered(r.strategy for r in runs)
    tasks = ordered(r.task for r in runs)
    variants = by_variant(ok)
    chosen = reported(ok)
    result: dict[str, Any] = {"baseline": baseline, "models": models, "n_resamples": n_resamples,
                              "tasks": {},
                              "strategies": strategies, "failed": [], "missing": [], "curves": curves,
                              "statistics": {"method": METHOD, "n_resamples": n_resamples, "rng_seed": seed,
                                             "alpha": ALPHA,
                                             # what the seed level resamples: with a subsets axis,
                                             # every (training subset, seed) run is a replicate
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
            "contamination": (notes[t].sentence if t in notes else None),
            "trivial": _trivial(task_runs, primary),
            # the training rows of the runs shown: "8/class × 5 subsets" (None: no size or subset axis)
            "training_draw": training_draw(task_runs),
            "strategies": {}, "comparisons": {}, "win_probability": {}}
        item_data: dict[str, tuple[dict[tuple[int, int], np.ndarray], str]] = {}
        for s in strategies:
            variant, rs = chosen.get((s, t), ("default", []))
            if not rs:
                _unreported(result, runs, s, t)
                continue
            values = [r.score() for r in rs]
            summary = stats.seed_summary(values)
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
        draws[t] = _compare(entry, item_data, baseline, boot, task_margin)
        cells = [x["above_trivial"] for x in entry["strategies"].values()]
        entry["above_trivial"] = None if entry["trivial"] is None else any(cells)
        for name, c in [*entry["comparisons"].items(), *entry["leader_comparisons"].items()]:
            c["above_trivial"] = entry["strategies"][name]["above_trivial"]
        result["tasks"][t] = entry
    for curve in curves.values():  # the baseline against every other strategy on the curve
        if baseline in curve["strategies"]:
            curve["crossovers"] = {s: crossover(curve, baseline, s)
                                   for s in curve["strategies"] if s != baseline}
            curve["differences"] = {s: curve_differences(curve, baseline, s)
                                    for s in curve["strategies"] if s != baseline}
    result["statistics"]["family"] = _holm_family(result["tasks"])
    result["transfer"] = _transfer(ok, result["tasks"], baseline)
    beaten = [t for t in tasks if t in result["tasks"] and result["tasks"][t]["above_trivial"] is not False]
    result["mean_rank"] = stats.mean_ranks(means, beaten, allow_missing=allow_missing)
    result["ranks"] = _ranks(means, draws, beaten, result["mean_rank"])
    result["ranks"]["below_trivial"] = [t for t in tasks if t in result["tasks"] and t not in beaten]
    result["coverage"] = {s: {"tasks": sum(t in means[s] for t in tasks), "of": len(tasks)}
                          for s in strategies}
    return result


def _unreported(result: dict[str, Any], runs: list[RunRecord], strategy: str, task: str) -> None:
    """A cell with no reported run: failed (with its distinct errors) or missing."""
    failed = [r for r in runs if r.strategy == strategy and r.task == task and not r.ok]
    (result["failed"] if failed else result["missing"]).append(
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


def exclusion(cell: dict[str, Any]) -> str | None:
    """Why a cell (``tasks[t]["strategies"][s]``) is no finding about its strategy, None when it is
    open to claims: not above the task's trivial baseline, or still improving when training ended
    (in any of its reported runs: its score is where training stopped, not where it would settle), or
    one run only (its seed variance unknown: no interval, no verdict)."""
    if cell.get("above_trivial") is False:
        return "not above the trivial baseline"
    if cell.get("n", 2) < 2:
        return "one run only: no interval and no verdict"
    flag = cell.get("still_improving") or {}
    if flag.get("count"):
        return f"still improving in {flag['count']} of {flag['of']} runs"
    return None


def leader(entry: dict[str, Any]) -> str | None:
    """The task's leader: the highest mean among the cells open to claims (:func:`exclusion`), the
    first in table order on a tie; None when no cell is."""
    means = {s: x["mean"] for s, x in entry["strategies"].items()
             if exclusion(x) is None and x["mean"] is not None and np.isfinite(x["mean"])}
    return max(means, key=lambda s: means[s]) if means else None


def _as_dict(c: Any) -> dict[str, Any]:
    return {"delta": c.delta, "ci95": [c.low, c.high], "se": c.se, "df": c.df, "p_value": c.p_value,
            "p_holm": None, "mde": c.mde, "margin": c.margin, "tost_p": c.tost_p, "tost_p_holm": None,
            "items_ci95": [c.items_low, c.items_high], "seeds": list(c.seeds), "testable": c.testable,
            "verdict": None}


def versus(entry: dict[str, Any], a: str, b: str) -> dict[str, Any] | None:
    """The printed comparison of ``a`` against ``b`` on a task (Δ = a minus b), whichever way the
    analysis holds it (with the baseline or with the leader; turned round when held as b minus a);
    None when the page has no comparison of the pair."""
    held = {(s, entry.get("baseline")): c for s, c in entry["comparisons"].items()}
    held.update({(s, entry.get("leader")): c for s, c in entry.get("leader_comparisons", {}).items()})
    if (a, b) in held:
        return held[(a, b)]
    if (b, a) not in held:
        return None
    c = held[(b, a)]
    flip = {"better": "worse", "worse": "better"}
    return {**c, "delta": -c["delta"], "ci95": [-c["ci95"][1], -c["ci95"][0]],
            "items_ci95": [-c["items_ci95"][1], -c["items_ci95"][0]], "seeds": list(reversed(c["seeds"])),
            "verdict": flip.get(c["verdict"], c["verdict"]), "turned": True}


def _compare(entry: dict[str, Any], item_data: dict[str, tuple[dict[tuple[int, int], np.ndarray], str]],
             baseline: str,
             boot: TaskBootstrap | None, margin: float | None) -> dict[str, np.ndarray]:
    """Every strategy against the baseline, and every other strategy against the task's leader when
    the leader is not the baseline (p-values not yet adjusted: :func:`_holm_family`), and
    P(row outperforms column). Returns each strategy's two-level resampled means (for ranks)."""
    entry["baseline"], entry["leader_comparisons"] = baseline, {}
    if boot is None:
        return {}
    entry["resampling"] = {"items": boot.n_items, "clusters": boot.n_clusters, "cluster_by": boot.cluster_by}
    arrays = {s: (np.stack([d[k] for k in sorted(d)]), how) for s, (d, how) in item_data.items()}
    boot.prepare(arrays)
    per_seed = {s: boot.per_seed(s, x, how) for s, (x, how) in arrays.items()}
    names = list(per_seed)
    entry["p_outperform"] = {r: {} for r in names}
    for i, r in enumerate(names):  # P(c beats r) = 1 - P(r beats c): ties are split evenly
        for other in names[i + 1:]:
            entry["p_outperform"][r][other] = p_outperform(per_seed[r], per_seed[other])
            entry["p_outperform"][other][r] = 1.0 - entry["p_outperform"][r][other]
    if baseline in arrays:
        base, how = arrays[baseline]
        for s, (x, s_how) in arrays.items():
            if s == baseline or s_how != how:
                continue
            entry["comparisons"][s] = _as_dict(boot.compare((s, x), (baseline, base), how, margin=margin,
                                                            alpha=ALPHA))
    top = entry["leader"]
    if top in arrays and top != baseline:  # the leader against the baseline is the comparison above
        lead, how = arrays[top]
        for s, (x, s_how) in arrays.items():
            if s not in (top, baseline) and s_how == how:
                c = boot.compare((s, x), (top, lead), how, margin=margin, alpha=ALPHA)
                entry["leader_comparisons"][s] = _as_dict(c)
    return {s: boot.draws(s, x, how) for s, (x, how) in arrays.items()}


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


def _holm_family(tasks: dict[str, Any]) -> dict[str, Any]:
    """Holm over every testable comparison the leaderboard prints, on every task: with the baseline,
    and with the task's leader (the leader against the baseline is one comparison, held once); and,
    separately, over their equivalence tests. Each comparison's verdict comes from its adjusted
    p-values. Returns the family's description."""
    printed = [(t, kind, c) for t, e in tasks.items()
               for kind, held in (("baseline", e["comparisons"]), ("leader", e.get("leader_comparisons", {})))
               for c in held.values()]
    members = [(t, kind, c) for t, kind, c in printed
               if c["testable"] and c.get("above_trivial") is not False]
    for (_, _, c), p in zip(members, stats.holm([c["p_value"] for _, _, c in members]), strict=True):
        c["p_holm"] = p
    with_margin = [c for _, _, c in members if c["tost_p"] is not None]
    for c, p in zip(with_margin, stats.holm([c["tost_p"] for c in with_margin]), strict=True):
        c["tost_p_holm"] = p
    for _, _, c in members:
        if c["p_holm"] < ALPHA:
            c["verdict"] = "better" if c["delta"] > 0 else "worse"
        elif c["tost_p_holm"] is not None and c["tost_p_holm"] < ALPHA:
            c["verdict"] = "equivalent"
        else:
            c["verdict"] = "tie"
    untestable = sum(not c["testable"] for _, _, c in printed)
    trivial = sum(c["testable"] and c.get("above_trivial") is False for _, _, c in printed)
    return {"size": len(members), "tasks": len({t for t, _, _ in members}),
            "with_baseline": sum(kind == "baseline" for _, kind, _ in members),
            "with_leader": sum(kind == "leader" for _, kind, _ in members),
            "equivalence_tests": len(with_margin), "untestable": untestable, "not_above_trivial": trivial,
            "members": "every comparison the leaderboard prints: each strategy with the baseline on every "
                       "task, and each other strategy with the task's leader, the highest mean among the "
                       "cells above the trivial baseline, not still improving and with two or more runs, "
                       "where the leader is not "
                       "the baseline; the leader against the baseline is one comparison, counted once; "
                       "each where both sides have at least two seeds and the strategy is above the task's "
                       "trivial baseline; the Transfer table reprints some of them"}


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


def _largest_size(runs: list[RunRecord]) -> list[RunRecord]:
    largest: dict[str, float] = {}
    for r in runs:
        if r.train_size is not None:
            largest[r.task] = max(largest.get(r.task, -1.0), _size_key(r.train_size, r))
    return [r for r in runs if r.train_size is None or _size_key(r.train_size, r) == largest[r.task]]


def training_draw(runs: list[RunRecord]) -> str | None:
    """How a cell's training rows were drawn, when the suite has a size axis or subsets:
    ``8/class × 5 subsets``, ``1,000 rows × 3 subsets``, ``full``; None without either axis."""
    sizes = ordered(r.train_size for r in runs if r.train_size is not None)
    subsets = len({r.train_subset or 0 for r in runs})
    if not sizes and subsets < 2:
        return None
    size = " / ".join(size_label(s) + (" rows" if isinstance(s, int) else "") for s in sizes) or "rows"
    return f"{size} × {subsets} subset{'s' * (subsets != 1)}" if subsets > 1 else size


def _curves(ok: list[RunRecord]) -> dict[str, Any]:
    """task -> strategy -> one point per training size: the rows actually used (the mean over the
    replicates of the train split's size) and the reported score's mean and t-interval over the
    replicates (training subsets × seeds: ``n``), with how many subsets and seeds they are."""
    sized: dict[Any, list[RunRecord]] = {}
    for r in ok:
        if r.train_size is not None:
            sized.setdefault(r.train_size, []).append(r)
    curves: dict[str, Any] = {}
    for size in sorted(sized, key=lambda x: min(_size_key(x, r) for r in sized[x])):
        for (s, t), (_, rs) in reported(sized[size]).items():
            summary = stats.seed_summary([r.score() for r in rs])
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
    t-interval over their replicates (training subsets × seeds), unpaired: strategies share the
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


