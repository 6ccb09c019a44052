"""The leaderboard's "Findings": sentences generated from the analysis (never written by hand).

Each sentence carries its numbers and intervals and claims no more than the statistics do
(docs/report.md, "Findings"): "separable" only for a family-wide Holm verdict; a tie reads "cannot be
separated" with its Δ, interval, Holm p and MDE, never "equal"; a cell not above the trivial baseline
or still improving is named and excluded from claims (:func:`tlbench.comparisons.exclusion`); the cost
frontier is by mean, and a strategy is called dominated only where a verdict of the family separates
its score from a cheaper strategy's; a learning-curve order only where a Welch interval excludes 0
(unadjusted, and said so); mean ranks across tasks with their intervals when two or more tasks are
ranked. Pure: a function of the dict :func:`tlbench.analysis.analyse` returns.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tlbench.comparisons import exclusion, versus
from tlbench.report_stats import replicates_label
from tlbench.stats import format_p

__all__ = ["Finding", "findings", "findings_markdown"]


@dataclass(frozen=True)
class Finding:
    """One generated sentence. ``scope``: a task key of ``analysis["tasks"]``, or ``"across tasks"``.
    ``text``: plain text (no markdown), carrying its number and interval. ``kind``: what it states
    (``leader``, ``separable``, ``tie``, ``equivalent``, ``untested``, ``baseline``, ``excluded``,
    ``no_claims``, ``frontier``, ``dominated``, ``contamination``, ``curve``, ``family``, ``ranks``)."""

    scope: str
    text: str
    kind: str = ""


def findings(analysis: dict[str, Any]) -> list[Finding]:
    """Every finding of ``analysis`` (the dict ``tlbench.analysis.analyse`` returns), in page order:
    each task's, then those across tasks."""
    out = [f for t, e in analysis["tasks"].items() for f in _task(t, e, analysis)]
    return out + _across(analysis)


def findings_markdown(analysis: dict[str, Any]) -> list[str]:
    """The "## Findings" section of LEADERBOARD.md: a list per task (under its label), then across tasks."""
    found = findings(analysis)
    lines = ["## Findings", "",
             "Written by tlbench from the statistics on this page, not by hand (docs/report.md, Findings). "
             "Verdicts are family-wide: Holm over every pair of strategies on every task (each task's "
             "matrix), α = "
             f"{analysis.get('statistics', {}).get('alpha', 0.05)}. Intervals are 95% and unadjusted. "
             "\"Cannot be separated\" is inconclusive, not equal: a true difference up to about its MDE "
             "can hide there. Cells not above the trivial baseline or still improving are named and "
             "excluded from claims."]
    for scope in dict.fromkeys(f.scope for f in found):
        # headings that do not repeat the page's own ("## sst2", "## Across tasks")
        tasks = analysis["tasks"]
        label = f"On {tasks[scope]['label']}" if scope in tasks else "Across all tasks"
        lines += ["", f"### {label}", "", *[f"- {f.text}" for f in found if f.scope == scope]]
    return lines if found else [*lines, "", "No findings: no task has a reported cell."]


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _finite(x: Any) -> bool:
    return x is not None and bool(np.isfinite(x))


def _score(x: dict[str, Any]) -> str:
    """``0.749 (95% t-interval [0.730, 0.768], n=5)``; ``n=5 subsets × 3 seeds`` where seeds are nested
    in training subsets (the interval is then over the subset means)."""
    low, high = x["ci95_t"]
    if x["n"] < 2 or not _finite(low):
        return f"{x['mean']:.3f} ({replicates_label(x)}, no interval)"
    return f"{x['mean']:.3f} (95% t-interval [{low:.3f}, {high:.3f}], {replicates_label(x)})"


def _cell(name: str, x: dict[str, Any]) -> str:
    return f"{name} {_score(x)}"


def _delta(c: dict[str, Any]) -> str:
    return f"Δ {c['delta']:+.3f}, 95% CI [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}]"


def _separated(name: str, c: dict[str, Any]) -> str:
    return f"{name} ({_delta(c)}, Holm p {format_p(c['p_holm'])})"


def _tied(name: str, c: dict[str, Any]) -> str:
    return f"{name} ({_delta(c)}, Holm p {format_p(c['p_holm'])}, MDE ±{c['mde']:.3f})"


def _ties(subject: str, ties: dict[str, dict[str, Any]]) -> str:
    """One sentence for a strategy's ties, with what an unadjusted interval excluding 0 means."""
    text = (f"{subject} cannot be separated from {_join([_tied(s, c) for s, c in ties.items()])}: "
            "a difference up to about each MDE is not ruled out.")
    near = [s for s, c in ties.items() if c["ci95"][0] > 0 or c["ci95"][1] < 0]
    if near:
        many = len(near) > 1
        text += (f" The unadjusted interval{'s' * many} of {_join(near)} exclude{'' if many else 's'} 0, but "
                 "not after the family-wide correction.")
    return text


def _verdicts(subject: str, against: dict[str, dict[str, Any] | None], say: Any, kind: str) -> None:
    """The sentences of ``subject``'s comparisons (Δ = subject minus other) with cells open to claims."""
    by = {v: {s: c for s, c in against.items() if c and c.get("verdict") == v}
          for v in ("better", "worse", "tie", "equivalent")}
    if by["better"]:
        say(kind if kind == "baseline" else "separable",
            f"{subject} is separable from {_join([_separated(s, c) for s, c in by['better'].items()])}: "
            "its mean is higher after the family-wide Holm correction.")
    if by["worse"]:
        say(kind if kind == "baseline" else "separable",
            f"{subject} is separable from {_join([_separated(s, c) for s, c in by['worse'].items()])}: "
            "its mean is lower after the family-wide Holm correction.")
    if by["tie"]:
        say(kind if kind == "baseline" else "tie", _ties(subject, by["tie"]))
    for s, c in by["equivalent"].items():
        say("equivalent", f"{subject} and {s} are equivalent within ±{c['margin']:g} ({_delta(c)}, TOST Holm "
                          f"p {format_p(c['tost_p_holm'])}).")
    for s, held in against.items():
        if held and not held.get("testable", True):
            low, high = held["items_ci95"]
            say("untested", f"No verdict between {subject} and {s}: a side has one seed, so its seed "
                            f"variance is unknown (Δ {held['delta']:+.3f}; over test items only "
                            f"[{low:+.3f}, {high:+.3f}]).")
    unpaired = [s for s, held in against.items() if held is None]
    if unpaired:
        say("untested", f"{subject} is not compared with {_join(unpaired)}: no paired item statistics.")


def _task(t: str, e: dict[str, Any], a: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []

    def say(kind: str, text: str) -> None:
        out.append(Finding(t, text, kind))

    cells = {s: x for s, x in e["strategies"].items() if _finite(x["mean"])}
    if not cells:
        return out
    metric, trivial = e["primary_metric"], e.get("trivial")
    top = max(cells, key=lambda s: cells[s]["mean"])
    if e.get("above_trivial") is False and trivial:
        say("no_claims", f"No strategy is above the trivial baseline ({trivial['method']}: {metric} "
                         f"{trivial['score']:.3f}); the highest mean is {_cell(top, cells[top])}. Nothing "
                         "on this task is a finding about a strategy: no verdicts, and the task is left out "
                         "of the ranks across tasks.")
    else:
        _claims(e, cells, top, say)
        if trivial and all(x.get("above_trivial") for x in cells.values()):
            say("trivial", f"Every cell is above the trivial baseline ({trivial['method'].split(' (')[0]}: "
                           f"{metric} {trivial['score']:.3f}): each one's 95% t-interval lies above it.")
        _excluded(e, cells, say)
        _frontier(e, cells, say)
    if e.get("contamination"):
        say("contamination", f"Contamination mark: {e['contamination']}")
    if t in a.get("curves", {}):
        _curve(a["curves"][t], e, a["baseline"], say)
    return out


def _claims(e: dict[str, Any], cells: dict[str, dict[str, Any]], top: str, say: Any) -> None:
    """The leader, which others it is separable from and which it cannot be separated from; then the
    baseline's comparisons that do not involve the leader."""
    lead, metric = e.get("leader"), e["primary_metric"]
    open_ = [s for s in cells if exclusion(cells[s]) is None]
    if lead is None or lead not in cells:
        say("no_claims", "Every cell is excluded from claims (below): no strategy is named best on this "
                         f"task; the highest mean is {_cell(top, cells[top])}.")
    else:
        if top != lead:
            say("leader", f"The highest {metric} mean, {_cell(top, cells[top])}, is excluded from claims "
                          f"({exclusion(cells[top])}); among the cells open to claims the highest is "
                          f"{_cell(lead, cells[lead])}.")
        else:
            say("leader", f"Highest {metric} mean: {_cell(lead, cells[lead])}.")
        _verdicts(lead, {s: versus(e, lead, s) for s in open_ if s != lead}, say, "leader")
    base = e.get("baseline")
    if base in cells and base != lead and base in open_:
        rest = {s: versus(e, base, s) for s in open_ if s not in (base, lead)}
        if rest:
            _verdicts(f"The baseline {base}", rest, say, "baseline")


def _excluded(e: dict[str, Any], cells: dict[str, dict[str, Any]], say: Any) -> None:
    below = [s for s, x in cells.items() if x.get("above_trivial") is False]
    if below:
        trivial = e["trivial"]
        say("excluded", f"Not above the trivial baseline ({e['primary_metric']} {trivial['score']:.3f}), so "
                        f"without verdicts and excluded from claims: "
                        f"{_join([_cell(s, cells[s]) for s in below])}: the 95% t-interval reaches the "
                        "baseline.")
    single = [s for s, x in cells.items() if x.get("above_trivial") is not False and x["n"] < 2]
    if single:
        say("excluded", f"One run only, so no interval, no verdict and excluded from claims: "
                        f"{_join([_cell(s, cells[s]) for s in single])}.")
    improving = [s for s, x in cells.items()
                 if x.get("above_trivial") is not False and x["n"] >= 2 and exclusion(x)]
    if improving:
        say("excluded", "Still improving when training ended, so excluded from claims: "
                        + _join([f"{s} in {cells[s]['still_improving']['count']} of "
                                 f"{cells[s]['still_improving']['of']} runs, score {_score(cells[s])}"
                                 for s in improving])
                        + ". Such a score is where training stopped, not where it would settle: "
                        + ("their comparisons in the tables are not findings about the strategies."
                           if len(improving) > 1 else
                           "its comparisons in the tables are not findings about the strategy."))


def _train_cost(cost: dict[str, Any]) -> float | None:
    """Training from raw text, as the task table's train time: the run's own plus its one-off work
    (``train_seconds`` for records that do not split them)."""
    if cost.get("own_train_seconds") is None:
        return cost.get("train_seconds")
    return float(cost["own_train_seconds"]) + float(cost.get("oneoff_seconds") or 0.0)


def _frontier(e: dict[str, Any], cells: dict[str, dict[str, Any]], say: Any) -> None:
    """Per cost axis of the Pareto plot (trainable parameters; training time, here from raw text as
    in the task table), the frontier by mean among the cells open to claims, and the cells off it:
    dominated where a family verdict separates a cell that costs as little or less and scores higher,
    else off it "by mean only"."""
    from tlbench.plots import pareto_front
    from tlbench.report import human_count, human_seconds

    open_ = {s: x for s, x in cells.items() if exclusion(x) is None}
    axes = (("trainable parameters", lambda c: c.get("trainable_params"),
             lambda v: f"{human_count(v)} parameters"),
            ("training time from raw text (own + one-off, mean over runs)", _train_cost, human_seconds))
    for axis, cost_of, show in axes:
        found = {s: cost_of(x["cost"]) for s, x in open_.items()}
        costs = {s: float(v) for s, v in found.items() if v is not None and np.isfinite(v)}
        names = [s for s in open_ if s in costs]
        if len(names) < 2:
            continue
        front = [names[i] for i in pareto_front([(costs[s], open_[s]["mean"]) for s in names])]
        front.sort(key=lambda s: (costs[s], -open_[s]["mean"]))
        say("frontier", f"Cost frontier by mean, {e['primary_metric']} against {axis}, among the "
                        f"{len(names)} cells open to claims (no other costs as little or less with a higher "
                        "mean): " + _join([f"{s} {open_[s]['mean']:.3f} with {show(costs[s])}"
                                           for s in front]) + ".")
        supported, by_mean = [], []
        for s in (s for s in names if s not in front):
            backed = [(y, c) for y in names if costs[y] <= costs[s] and open_[y]["mean"] > open_[s]["mean"]
                      and (c := versus(e, y, s)) and c.get("verdict") == "better"]
            if backed:
                y, c = backed[0]
                supported.append(f"{s} by {y} ({show(costs[y])} against {show(costs[s])}; {_delta(c)}, "
                                 f"Holm p {format_p(c['p_holm'])})")
            else:
                by_mean.append(s)
        if supported:
            say("dominated", f"Dominated on {axis.split(' (')[0]}, with the score difference separable: "
                             + _join(supported) + ".")
        if by_mean:
            say("frontier", "Off that frontier by mean only (no family verdict separates them from a cell "
                            f"that costs as little or less with a higher mean): {_join(by_mean)}.")


def _curve(curve: dict[str, Any], e: dict[str, Any], base: str, say: Any) -> None:
    """Orders on the learning curve below the tables' size only where a Welch interval excludes 0
    (unadjusted, and said so); at the tables' size the family verdicts rule. A crossover only where
    the supported orders are opposite at two sizes."""
    diffs = curve.get("differences") or {}
    sizes = {d["rows"]: d["label"] for ds in diffs.values() for d in ds}
    if len(sizes) < 2:
        return
    largest = max(sizes)
    smaller = [sizes[x] for x in sorted(sizes) if x != largest]
    orders, crossings, none = [], [], []
    for other, ds in diffs.items():
        apart = [d for d in ds if d["rows"] != largest and d["ci95"][0] is not None
                 and (d["ci95"][0] > 0 or d["ci95"][1] < 0)]
        signs = {d["delta"] > 0 for d in apart}
        c = versus(e, base, other)
        if (c and c.get("verdict") in ("better", "worse")
                and not any(exclusion(e["strategies"].get(s, {})) for s in (base, other))):
            signs.add(c["verdict"] == "better")
        if len(signs) > 1:
            crossings.append(other)
        if not apart:
            none.append(other)
            continue
        orders += [f"{base} {'above' if d['delta'] > 0 else 'below'} {other} at {d['label']} "
                   f"(Δ {d['delta']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}])" for d in apart]
    at = f"at {_join(smaller)}"
    if orders:
        say("curve", f"Learning curve {at}, Welch 95% intervals over replicates (unadjusted, not in the "
                     "family): " + "; ".join(orders) + ".")
    if none:
        say("curve", f"Learning curve: {at} no Welch interval separates {base} from {_join(none)}, so no "
                     f"order is claimed there; at {sizes[largest]}, the tables' size, the verdicts above "
                     "apply.")
    say("curve", f"A crossover of {base} with {_join(crossings)} is supported: opposite orders at two sizes."
                 if crossings else f"No crossover with {base} is supported at the sizes run.")


def _across(a: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []

    def say(kind: str, text: str) -> None:
        out.append(Finding("across tasks", text, kind))

    st = a.get("statistics", {})
    fam = st.get("family", {})
    if fam.get("size"):
        per_task = fam.get("per_task") or {}
        labels = [f"{n} on {a['tasks'].get(t, {}).get('label', t)}" for t, n in per_task.items()]
        split = f" ({', '.join(labels)})" if labels else ""
        left = [f"{fam[k]} {what}" for k, what in (("untestable", "with a one-seed side"),
                                                    ("not_above_trivial", "with a cell not above trivial"))
                if fam.get(k)]
        say("family", f"Every verdict above is from one Holm family of {fam['size']} comparisons: every pair "
                      f"of strategies on every task{split}, α = {st.get('alpha', 0.05)}"
                      + (f"; left out: {_join(left)}" if left else "") + ". The family is fixed before any "
                      "mean is seen and is the same whichever strategy is the baseline or leads, so the "
                      "leader's comparisons are members like any other and Holm keeps the chance of any "
                      "false \"separable\" on the page at or below α.")
    ranks = a.get("ranks") or {}
    ranked, intervals = ranks.get("tasks", []), ranks.get("intervals")
    labels = [a["tasks"][t]["label"] for t in ranked]
    if len(ranked) >= 2 and intervals:
        order = sorted(intervals, key=lambda s: a["mean_rank"][s])
        shown = [f"{s} {a['mean_rank'][s]:.2f} [{intervals[s]['low']:.2f}, {intervals[s]['high']:.2f}], "
                 f"P(best) {intervals[s]['p_best']:.2f}" for s in order]
        say("ranks", f"Mean rank over {len(ranked)} tasks ({', '.join(labels)}; 1 is best, 95% bootstrap "
                     "interval, P(best)): " + "; ".join(shown) + ".")
        f = ranks.get("friedman")
        if f:
            names = ranks["strategies"]
            apart = [f"{names[i]} / {names[j]}" for i, j in f["separable"]]
            say("ranks", f"Friedman test over {f['n']} tasks: χ² {f['chi2']:.2f}, p {format_p(f['p_chi2'])}; "
                         f"Nemenyi critical difference {f['cd']:.2f} ranks: "
                         + (f"separable by rank: {_join(apart)}." if apart
                            else "no two strategies are separable by rank.")
                         + (f" With {f['n']} tasks the test has little power: ranks that are not separable "
                            "are not equal." if f["n"] < 5 else ""))
        flagged = {s: [a["tasks"][t]["label"] for t in ranked
                       if exclusion(a["tasks"][t]["strategies"].get(s, {})) is not None]
                   for s in ranks.get("strategies", [])}
        flagged = {s: ts for s, ts in flagged.items() if ts}
        if flagged:
            say("ranks", "The ranks are of means and include cells excluded from claims: "
                         + "; ".join(f"{s} on {', '.join(ts)}" for s, ts in flagged.items()) + ".")
    elif ranks.get("strategies"):
        say("ranks", f"{len(ranked)} task{'s' * (len(ranked) != 1)} ranked: no claim across tasks.")
    below = [a["tasks"][t]["label"] for t in ranks.get("below_trivial", [])]
    if below:
        say("ranks", f"Left out of the ranks, no strategy above its trivial baseline: {', '.join(below)}.")
    return out
