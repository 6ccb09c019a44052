"""The leaderboard's statistics in words: how a comparison, a verdict and the ranks across tasks are
printed, and the page text that says exactly what was done. Pure functions of the analysis dict
(:mod:`tlbench.analysis`); the tables around them are :mod:`tlbench.report`'s."""

from __future__ import annotations

from typing import Any

from tlbench.stats import format_p

__all__ = ["across_tasks", "delta_cell", "leader_table", "method_text", "outperform_table", "pair_cell",
           "pairwise_table", "rank_cell", "replicates_label", "resampling_line", "seed_cell", "trivial_line",
           "unreported", "unreported_heading", "verdict_cell"]


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def method_text(a: dict[str, Any]) -> str:
    """The paragraph under the title: intervals, the comparisons' method and the declared family."""
    st, fam = a.get("statistics", {}), a.get("statistics", {}).get("family", {})
    untestable = fam.get("untestable", 0)
    replicates = st.get("replicates", "seeds")
    return (
        "Scores are on each task's report split, never used for choosing: mean ± half the 95% "
        "t-interval over seeds, then every seed's value (no bootstrap over so few seeds: with 3 seeds a "
        "percentile bootstrap is the seeds' range, a 75% interval). A strategy's reported runs are its "
        f"tuned ones where the suite tunes, else its defaults.\n\n"
        f"Δ compares with `{a['baseline']}`, in a second table with the task's leader where the leader is "
        "not the baseline, and in a matrix of every pair under each task table: a "
        f"{st.get('method', 'paired bootstrap')} "
        f"({st.get('n_resamples', a.get('n_resamples'))} resamples, RNG seed {st.get('rng_seed', 0)}). "
        f"Verdicts come from Holm-adjusted p-values over one family of **{fam.get('size', 0)} "
        f"comparisons**" + _family_split(a, fam) + f" ({_members(fam)}) "
        f"at α = {st.get('alpha', 0.05)}: "
        "**better** or **worse** when the adjusted p is below α; **equivalent** when the suite declares "
        "an equivalence margin and both one-sided tests reject ("
        + (f"Holm over the {fam['equivalence_tests']} equivalence tests" if fam.get("equivalence_tests")
           else "this suite declares none") + "); otherwise **tie**, which is inconclusive, "
        "not equal: MDE is the difference the comparison would detect with 80% power, so a true "
        "difference up to about that size can hide in a tie. The 95% intervals are unadjusted. "
        "P-values below 1e-4 print as `< 1e-04`."
        + (f" {untestable} comparisons have a side with one seed: seed variance unknown, no verdict."
           if untestable else "")
        + (" The suite draws several training subsets with several seeds each: the seeds of a subset "
           "share its training rows and are not independent, so a cell's n, mean and t-interval are over "
           "its subset means (n = subsets, \"n=5 subsets × 3 seeds\"), the bootstrap's replicate level "
           "resamples subsets (each with its seeds), and the learning curves' Welch intervals are over "
           "subset means; all include which training examples were drawn, not only the initialisation."
           if replicates.startswith("training subsets, ") else
           " The suite draws several training subsets: every run of a (training subset, seed) pair is a "
           "replicate, so n, the t-intervals and the seed level of the bootstrap count subsets × seeds "
           "and include which training examples were drawn, not only the initialisation."
           if replicates != "seeds" else "")
    )


def _family_split(a: dict[str, Any], fam: dict[str, Any]) -> str:
    """``: every pair of strategies on each task (21 on sst2, 21 on imdb)`` (nothing for a family
    described without ``per_task``)."""
    per_task = fam.get("per_task")
    if not per_task:
        return ""
    labels = [f"{n} on {a['tasks'].get(t, {}).get('label', t)}" for t, n in per_task.items()]
    return f": every pair of strategies on each task ({', '.join(labels)})"


def _members(fam: dict[str, Any]) -> str:
    """What the family's members are, without repeating the split that precedes it."""
    members = str(fam.get("members", "the comparisons printed"))
    return members.removeprefix("every pair of strategies on every task, ") if fam.get("per_task") \
        else members


def replicates_label(x: dict[str, Any]) -> str:
    """A cell's n as printed: ``n=5``, or with seeds nested in training subsets ``n=5 subsets × 3
    seeds`` (``2-3 seeds`` when subsets have different numbers)."""
    nested = x.get("nested")
    if not nested:
        return f"n={x['n']}"
    seeds = sorted(set(nested["seeds"]))
    each = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    return f"n={nested['subsets']} subsets × {each} seeds"


def seed_cell(entry: dict[str, Any]) -> str:
    """``0.776 ± 0.025 (n=3: 0.800 0.767 0.790)``: the mean, the t half-width, every seed's value; with
    seeds nested in training subsets, ``(n=5 subsets × 3 seeds; subset means: ...)``."""
    low, high = entry["ci95_t"]
    nested = entry.get("nested")
    values = " ".join(_num(v) for v in (nested["subset_means"] if nested else entry["values"]))
    if entry["n"] < 2 or low is None or low != low:
        return f"{_num(entry['mean'])} ({replicates_label(entry)})"
    shown = f"; subset means: {values}" if nested else f": {values}"
    return f"{_num(entry['mean'])} ± {_num((high - low) / 2)} ({replicates_label(entry)}{shown})"


def unreported(a: dict[str, Any], strategy: str, task: str) -> str:
    """What a table shows for a cell with no reported run: ``failed``, ``skipped`` (the suite leaves
    it out: ``[[overrides]] skip = true``) or ``missing``."""
    for kind in ("failed", "skipped"):
        if any(c["strategy"] == strategy and c["task"] == task for c in a.get(kind, [])):
            return kind
    return "missing"


def unreported_heading(a: dict[str, Any]) -> str:
    """``Failed and skipped cells``: the heading of the list of cells with no reported run, naming
    the kinds it holds."""
    kinds = [k for k in ("failed", "missing", "skipped") if a.get(k)]
    named = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"
    return f"{named.capitalize()} cells"


def verdict_cell(c: dict[str, Any]) -> str:
    """One comparison's verdict with the number that backs it."""
    if c.get("above_trivial") is False:
        return "not above trivial: no verdict"
    if not c.get("testable", True) or c.get("verdict") is None:
        return f"no verdict ({min(c.get('seeds', [1]))} seed: seed variance unknown)"
    p = f"Holm p {format_p(c['p_holm'])}"
    if c["verdict"] in ("better", "worse"):
        return f"**{c['verdict']}** ({p})"
    if c["verdict"] == "equivalent":
        return f"**equivalent** within ±{c['margin']:g} (TOST Holm p {format_p(c['tost_p_holm'])}; {p})"
    return f"tie, MDE ±{_num(c['mde'])} ({p})"


def delta_cell(c: dict[str, Any]) -> str:
    """Δ and its 95% interval; with one seed a side, the interval over test items only, so named."""
    if not c.get("testable", True):
        low, high = c["items_ci95"]
        return f"{c['delta']:+.3f} (test items only: [{low:+.3f}, {high:+.3f}])"
    return f"{c['delta']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}]"


def leader_table(e: dict[str, Any], present: list[str]) -> list[str]:
    """Every other strategy against the task's leader (Δ = the strategy minus the leader), where the
    leader is not the baseline: pairs of the family, with the same verdicts and MDE as everywhere
    else on the page (the baseline's row is the pair in the leader's row of the table above)."""
    from tlbench.comparisons import versus

    lead, base = e.get("leader"), e.get("baseline")
    if not lead or lead == base or not e.get("leader_comparisons"):
        return []
    lines = ["", f"Δ vs `{lead}`, the task's leader (the highest mean among the cells above the trivial "
             "baseline, not still improving and with two or more runs): each strategy minus the leader, on "
             "the same resamples; pairs of the one Holm family, as in the matrix below.", "",
             f"| strategy | Δ vs {lead} (95% CI) | verdict (family-wide Holm p) |", "|---|---|---|"]
    for s in (s for s in present if s != lead):
        c = versus(e, s, lead)
        lines.append(f"| {s} | – | no paired data |" if c is None else
                     f"| {s} | {delta_cell(c)} | {verdict_cell(c)} |")
    return lines


def pair_cell(c: dict[str, Any] | None) -> str:
    """One pair in the matrix: ``+0.012 tie``, ``-0.103 **worse**``; ``(no verdict)`` for a one-seed
    side, ``(not above trivial)``; ``unpaired`` without paired item statistics."""
    if c is None:
        return "unpaired"
    delta = f"{c['delta']:+.3f}"
    if c.get("above_trivial") is False:
        return f"{delta} (not above trivial)"
    if not c.get("testable", True) or c.get("verdict") is None:
        return f"{delta} (no verdict)"
    return f"{delta} **{c['verdict']}**" if c["verdict"] in ("better", "worse") else f"{delta} {c['verdict']}"


def pairwise_names(e: dict[str, Any], present: list[str]) -> list[str]:
    """The strategies of the task's pairwise matrix, in page order: those in a pair (none: no matrix)."""
    held = e.get("pairwise") or {}
    paired = set(held) | {b for row in held.values() for b in row}
    return [s for s in present if s in paired] if held else []


def pairwise_table(e: dict[str, Any], present: list[str]) -> list[str]:
    """Every pair of the task's strategies, row minus column: Δ and the family's verdict (each pair
    is one member of the Holm family, shown twice, once each way round)."""
    from tlbench.comparisons import versus

    names = pairwise_names(e, present)
    if len(names) < 2:
        return []
    lines = ["", PAIRWISE_TEXT, "", "| row − column | " + " | ".join(names) + " |",
             "|" + "---|" * (len(names) + 1)]
    for r in names:
        lines.append(f"| {r} | " + " | ".join("–" if c == r else pair_cell(versus(e, r, c)) for c in names)
                     + " |")
    return lines


#: the sentence above each task's pairwise matrix (Markdown and HTML)
PAIRWISE_TEXT = ("Every pair, row minus column: Δ and the verdict from the one Holm family (every pair on "
                 "every task). Each pair is one comparison, shown once each way round; its 95% interval, "
                 "Holm p and MDE are in leaderboard.json (`pairwise`), and in the tables above where one "
                 "side is the baseline or the leader.")


def trivial_line(e: dict[str, Any]) -> str:
    """The task's trivial baseline, and what it does to the cells that do not beat it."""
    t = e.get("trivial")
    if not t:
        return ""
    below = [s for s, x in e["strategies"].items() if x.get("above_trivial") is False]
    text = (f"Trivial baseline (no training: {t['method']}): {e['primary_metric']} {t['score']:.3f}. "
            "A cell is above it when its 95% t-interval over seeds lies above it (one seed: its score); ")
    if e.get("above_trivial") is False:
        return text + ("**no strategy is above it on this task**: no verdicts here, and the task is left "
                       "out of the ranks across tasks.")
    return text + (f"not above it, so without a verdict: {', '.join(below)}." if below else "every cell is.")


def resampling_line(e: dict[str, Any]) -> str:
    r = e.get("resampling")
    if not r:
        return ""
    if r.get("cluster_by"):
        return (f"Items resampled by {r['cluster_by']}: {r['clusters']:,} clusters of {r['items']:,} items "
                "(items of one cluster are resampled together).")
    return f"Items resampled one by one ({r['items']:,}; the task declares no clusters)."


def outperform_table(e: dict[str, Any], present: list[str]) -> list[str]:
    wins = e.get("p_outperform") or {}
    names = [s for s in present if s in wins]
    if len(names) < 2:
        return []
    lines = ["", "P(row outperforms column): a random seed of the row against a random seed of the column "
             "on a random resample of the report items, ties split evenly (each pair sums to 1). "
             "Descriptive: not a test and not in the family.", "",
             "| | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for name in names:
        cells = ["–" if c == name else f"{wins[name][c]:.2f}" for c in names]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def rank_cell(a: dict[str, Any], strategy: str) -> str:
    r = a["mean_rank"].get(strategy)
    iv = ((a.get("ranks") or {}).get("intervals") or {}).get(strategy)
    if r is None:
        return "–"
    return f"{r:.2f} [{iv['low']:.2f}, {iv['high']:.2f}]" if iv else f"{r:.2f}"


def across_tasks(a: dict[str, Any], figures: list[str]) -> list[str]:
    """The section on ranks across tasks: intervals, P(best), Friedman and the critical difference."""
    ranks = a.get("ranks") or {}
    if not ranks.get("strategies"):
        return []
    lines = ["", "## Across tasks", ""]
    tasks = ranks.get("tasks", [])
    left_out = [t for t in a["tasks"] if t not in tasks]
    below = ranks.get("below_trivial", [])
    missing = [t for t in left_out if t not in below]
    lines.append(f"Ranks over {len(tasks)} tasks ({', '.join(tasks) or 'none'}); 1 is best"
                 + (f"; left out, no strategy above its trivial baseline: {', '.join(below)}" if below
                    else "")
                 + (f"; left out, a ranked strategy has no score there: {', '.join(missing)}" if missing
                    else "") + ". Only strategies with every task are ranked.")
    if ranks.get("note"):
        return [*lines, "", ranks["note"] + "."]
    iv = ranks.get("intervals")
    if iv:
        lines += ["", "| strategy | mean rank | 95% bootstrap interval | P(best) |", "|---|---|---|---|"]
        for s in sorted(iv, key=lambda s: a["mean_rank"][s]):
            lines.append(f"| {s} | {a['mean_rank'][s]:.2f} | [{iv[s]['low']:.2f}, {iv[s]['high']:.2f}] | "
                         f"{iv[s]['p_best']:.2f} |")
        lines += ["", "Intervals: each task's scores redrawn by the same two-level bootstrap as Δ (seeds and "
                  "items), ranks recomputed, averaged over tasks; P(best) is the share of resamples with the "
                  "lowest mean rank (ties split). The seed level is counted without removing its overlap "
                  "with the item level, so these intervals err on the wide side."]
    f = ranks.get("friedman")
    if f:
        names = ranks["strategies"]
        apart = [f"{names[i]} / {names[j]}" for i, j in f["separable"]]
        lines += ["", f"Friedman test over {f['n']} tasks and {f['k']} strategies: χ² = {f['chi2']:.2f} "
                  f"(p {format_p(f['p_chi2'])}), Iman-Davenport F = {_num(f['ff'], 2)} "
                  f"(p {format_p(f['p_ff'])}). Nemenyi critical difference at α = {f['alpha']}: "
                  f"**{f['cd']:.2f}** ranks. "
                  + (f"Separable pairs: {', '.join(apart)}." if apart else
                     "No two strategies are separable by rank across these tasks.")
                  + (" With so few tasks the test has little power: ranks that are not separable are not "
                     "equal." if f["n"] < 5 else "")]
    lines += [line for p in figures for line in ("", f"![critical difference]({p})")]
    return lines
