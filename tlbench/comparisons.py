"""Comparisons between strategies on a task, and the one Holm family that gives them their verdicts.

On each task every pair of strategies with paired item statistics is compared once, with
:mod:`tlbench.bootstrap`'s two-level paired bootstrap on the task's shared resamples:
``pairwise[a][b]`` holds Δ = a minus b, ``a`` before ``b`` in the analysis's strategy order (the order
of ``tasks[t]["strategies"]``). The comparisons with the baseline (``comparisons``: each strategy
minus the baseline) and with the task's leader (``leader_comparisons``: each other strategy minus
the leader, :func:`leader`) are views of those numbers, turned round where the pair is held the
other way (:func:`versus`).

The family (:func:`holm_family`) is every testable pair on every task whose two cells are above the
task's trivial baseline: it is declared before any mean is seen and does not depend on which strategy
is the baseline or which leads, so every comparison the page shows (the baseline's, the leader's, the
matrix of every pair) is a member, and Holm's step-down adjustment over it keeps the chance of any
false "better" or "worse" at or below α.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tlbench import stats
from tlbench.bootstrap import TaskBootstrap, p_outperform

__all__ = ["ALPHA", "METHOD", "compare_task", "exclusion", "holm_family", "leader", "transfer", "versus"]

ALPHA = 0.05
METHOD = ("two-level paired bootstrap: report items resampled and shared by all strategies (by cluster "
          "where the task declares clusters), seeds resampled within each strategy; standard error with "
          "the seed level corrected for few seeds (sqrt(n/(n-1))) and the seed x item interaction counted "
          "once; 95% intervals and two-sided p-values from Student's t with Welch-Satterthwaite degrees "
          "of freedom")

#: what the family is, in words (``statistics.family.members``)
MEMBERS = ("every pair of strategies on every task, each pair compared once, where both sides have at "
           "least two replicates and both cells are above the task's trivial baseline (where it has one); "
           "declared before any mean is seen, so it does not depend on which strategy is the baseline or "
           "which leads: the comparisons with the baseline, those with each task's leader and the "
           "pairwise matrix under each task table are all members, and the Transfer table reprints some "
           "of them")


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


def _turned(c: dict[str, Any]) -> dict[str, Any]:
    """The comparison of b against a from that of a against b: Δ and its intervals negated, the
    verdict turned round; standard error, p-values, MDE and TOST are the pair's."""
    flip = {"better": "worse", "worse": "better"}

    def neg(x: float) -> float:  # 0.0 - x: the exact negation, but no -0.0 ("-0.000" on the page)
        return 0.0 - x

    return {**c, "delta": neg(c["delta"]), "ci95": [neg(c["ci95"][1]), neg(c["ci95"][0])],
            "items_ci95": [neg(c["items_ci95"][1]), neg(c["items_ci95"][0])],
            "seeds": list(reversed(c["seeds"])), "verdict": flip.get(c["verdict"], c["verdict"]),
            "turned": True}


def versus(entry: dict[str, Any], a: str, b: str) -> dict[str, Any] | None:
    """The comparison of ``a`` against ``b`` on a task (Δ = a minus b): the pair's numbers, turned round
    when held as b minus a; None when the pair has no comparison (no paired item statistics). For an
    analysis without ``pairwise``, the comparisons with the baseline and the leader it holds."""
    held = entry.get("pairwise")
    if held is None:  # an analysis dict made without pairs: what it holds with the baseline and leader
        held = {}
        for s, c in entry.get("comparisons", {}).items():
            held.setdefault(s, {})[entry.get("baseline")] = c
        for s, c in entry.get("leader_comparisons", {}).items():
            held.setdefault(s, {})[entry.get("leader")] = c
    if b in held.get(a, {}):
        return held[a][b]
    if a in held.get(b, {}):
        return _turned(held[b][a])
    return None


def _pair_above(entry: dict[str, Any], a: str, b: str) -> bool | None:
    """Both cells above the task's trivial baseline (False when either is not; None without one)."""
    sides = [entry["strategies"][s]["above_trivial"] for s in (a, b)]
    return False if False in sides else sides[0]


def compare_task(entry: dict[str, Any], item_data: dict[str, tuple[dict[tuple[int, int], np.ndarray], str]],
                 baseline: str, boot: TaskBootstrap | None, margin: float | None) -> dict[str, np.ndarray]:
    """Every pair of strategies with paired item statistics (``pairwise``; p-values not yet adjusted:
    :func:`holm_family`), and P(row outperforms column). ``item_data``: strategy -> ((training subset,
    seed) -> item statistics, reducer), in table order. Returns each strategy's two-level resampled
    means (for the ranks across tasks)."""
    entry["baseline"], entry["pairwise"] = baseline, {}
    entry["comparisons"], entry["leader_comparisons"] = {}, {}
    if boot is None:
        return {}
    entry["resampling"] = {"items": boot.n_items, "clusters": boot.n_clusters, "cluster_by": boot.cluster_by}
    arrays = {s: (np.stack([d[k] for k in sorted(d)]), how) for s, (d, how) in item_data.items()}
    for s, (d, _) in item_data.items():  # each replicate's training subset: seeds nested in subsets
        boot.nest(s, [subset for subset, _ in sorted(d)])
    boot.prepare(arrays)
    per_seed = {s: boot.per_seed(s, x, how) for s, (x, how) in arrays.items()}
    names = list(per_seed)
    entry["p_outperform"] = {r: {} for r in names}
    for i, r in enumerate(names):  # P(c beats r) = 1 - P(r beats c): ties are split evenly
        for other in names[i + 1:]:
            entry["p_outperform"][r][other] = p_outperform(per_seed[r], per_seed[other])
            entry["p_outperform"][other][r] = 1.0 - entry["p_outperform"][r][other]
    for i, a in enumerate(names):
        (xa, how) = arrays[a]
        for b in names[i + 1:]:
            xb, b_how = arrays[b]
            if b_how != how:  # different reducers: not one metric, nothing to pair
                continue
            c = _as_dict(boot.compare((a, xa), (b, xb), how, margin=margin, alpha=ALPHA))
            c["above_trivial"] = _pair_above(entry, a, b)
            entry["pairwise"].setdefault(a, {})[b] = c
    return {s: boot.draws(s, x, how) for s, (x, how) in arrays.items()}


def _views(entry: dict[str, Any]) -> None:
    """``comparisons`` (each strategy minus the baseline) and ``leader_comparisons`` (each strategy
    other than the leader and the baseline minus the leader), from the pairs."""
    base, top = str(entry.get("baseline")), entry.get("leader")
    names = list(entry["strategies"])
    entry["comparisons"] = {s: c for s in names if s != base and (c := versus(entry, s, base)) is not None}
    entry["leader_comparisons"] = ({} if top is None or top == base else
                                   {s: c for s in names if s not in (top, base)
                                    and (c := versus(entry, s, top)) is not None})


def holm_family(tasks: dict[str, Any]) -> dict[str, Any]:
    """Holm over every testable pair of strategies above the trivial baseline on every task, and,
    separately, over their equivalence tests; each pair's verdict comes from its adjusted p-values.
    Then each task's comparisons with the baseline and the leader (views of the pairs). Returns the
    family's description."""
    pairs = [(t, c) for t, e in tasks.items() for row in e.get("pairwise", {}).values() for c in row.values()]
    members = [(t, c) for t, c in pairs if c["testable"] and c.get("above_trivial") is not False]
    for (_, c), p in zip(members, stats.holm([c["p_value"] for _, c in members]), strict=True):
        c["p_holm"] = p
    with_margin = [c for _, c in members if c["tost_p"] is not None]
    for c, p in zip(with_margin, stats.holm([c["tost_p"] for c in with_margin]), strict=True):
        c["tost_p_holm"] = p
    for _, c in members:
        if c["p_holm"] < ALPHA:
            c["verdict"] = "better" if c["delta"] > 0 else "worse"
        elif c["tost_p_holm"] is not None and c["tost_p_holm"] < ALPHA:
            c["verdict"] = "equivalent"
        else:
            c["verdict"] = "tie"
    for e in tasks.values():
        _views(e)
    per_task = {t: sum(t == u for u, _ in members) for t in tasks}
    return {"size": len(members), "tasks": sum(n > 0 for n in per_task.values()),
            "per_task": {t: n for t, n in per_task.items() if n}, "pairs": len(pairs),
            "equivalence_tests": len(with_margin), "untestable": sum(not c["testable"] for _, c in pairs),
            "not_above_trivial": sum(c["testable"] and c.get("above_trivial") is False for _, c in pairs),
            "members": MEMBERS}


def transfer(ok: list[Any], tasks: dict[str, Any], baseline: str) -> dict[str, Any]:
    """For each strategy that trained tasks together (records with a ``group``): per task of its
    group, the paired Δ against the baseline trained on that task alone, and the tasks that lost
    (negative transfer: the verdict is worse) and gained."""
    out: dict[str, Any] = {}
    if any(r.group for r in ok if r.strategy == baseline):
        return out  # the baseline itself spans tasks: no single-task reference
    for s in dict.fromkeys(r.strategy for r in ok if r.group):
        group = list(next(r.group.tasks for r in ok if r.strategy == s and r.group))
        rows = {t: tasks.get(t, {}).get("comparisons", {}).get(s) for t in group}
        out[s] = {"tasks": group, "rows": rows,
                  "lost": [t for t, c in rows.items() if c and c["verdict"] == "worse"],
                  "gained": [t for t, c in rows.items() if c and c["verdict"] == "better"]}
    return out
