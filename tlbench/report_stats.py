"""The leaderboard's statistics in words: how a comparison, a verdict and the ranks across tasks are
printed, and the page text that says exactly what was done. Pure functions of the analysis dict
(:mod:`tlbench.analysis`); the tables around them are :mod:`tlbench.report`'s."""

from __future__ import annotations

from typing import Any

from tlbench.stats import format_p

__all__ = ["across_tasks", "delta_cell", "leader_table", "method_text", "outperform_table", "rank_cell",
           "resampling_line", "seed_cell", "trivial_line", "verdict_cell"]


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def method_text(a: dict[str, Any]) -> str:
    """The paragraph under the title: intervals, the comparisons' method and the declared family."""
    st, fam = a.get("statistics", {}), a.get("statistics", {}).get("family", {})
    untestable = fam.get("untestable", 0)
    return (
        "Scores are on each task's report split, never used for choosing: mean ± half the 95% "
        "t-interval over seeds, then every seed's value (no bootstrap over so few seeds: with 3 seeds a "
        "percentile bootstrap is the seeds' range, a 75% interval). A strategy's reported runs are its "
        f"tuned ones where the suite tunes, else its defaults.\n\n"
        f"Δ compares with `{a['baseline']}`, and in a second table with the task's leader where the "
        f"leader is not the baseline: a {st.get('method', 'paired bootstrap')} "
        f"({st.get('n_resamples', a.get('n_resamples'))} resamples, RNG seed {st.get('rng_seed', 0)}). "
        f"Verdicts come from Holm-adjusted p-values over one family of **{fam.get('size', 0)} "
        f"comparisons**" + _family_split(fam) + f" ({fam.get('members', 'the comparisons printed')}) "
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
        + (" The suite draws several training subsets: every run of a (training subset, seed) pair is a "
           "replicate, so n, the t-intervals and the seed level of the bootstrap count subsets × seeds "
           "and include which training examples were drawn, not only the initialisation."
           if st.get("replicates", "seeds") != "seeds" else "")
    )


def _family_split(fam: dict[str, Any]) -> str:
    """``: 12 with the baseline and 8 with a task's leader`` (nothing for a family described before
    leader comparisons existed)."""
    if "with_leader" not in fam:
        return ""
    return f": {fam['with_baseline']} with the baseline and {fam['with_leader']} with a task's leader"


def seed_cell(entry: dict[str, Any]) -> str:
    """``0.776 ± 0.025 (n=3: 0.800 0.767 0.790)``: the mean, the t half-width, every seed's value."""
    low, high = entry["ci95_t"]
    values = " ".join(_num(v) for v in entry["values"])
    if entry["n"] < 2 or low is None or low != low:
        return f"{_num(entry['mean'])} (n={entry['n']})"
    return f"{_num(entry['mean'])} ± {_num((high - low) / 2)} (n={entry['n']}: {values})"


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
    leader is not the baseline: the family's leader comparisons, with the same verdicts and MDE as the
    table above. The leader against the baseline is that table's comparison, turned round here and
    counted once in the family."""
    from tlbench.analysis import versus

    lead, base = e.get("leader"), e.get("baseline")
    if not lead or lead == base or not e.get("leader_comparisons"):
        return []
    lines = ["", f"Δ vs `{lead}`, the task's leader (the highest mean among the cells above the trivial "
             "baseline, not still improving and with two or more runs): each strategy minus the leader, on "
             "the same resamples, in the same Holm family.", "",
             f"| strategy | Δ vs {lead} (95% CI) | verdict (family-wide Holm p) |", "|---|---|---|"]
    for s in (s for s in present if s != lead):
        c = versus(e, s, lead)
        if c is None:
            lines.append(f"| {s} | – | no paired data |")
        elif s == base:
            lines.append(f"| {s} | {delta_cell(c)} | {c.get('verdict') or 'no verdict'}: the comparison in "
                         f"`{lead}`'s row above, counted once |")
        else:
            lines.append(f"| {s} | {delta_cell(c)} | {verdict_cell(c)} |")
    return lines


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
