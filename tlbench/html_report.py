"""Records -> LEADERBOARD.html: the leaderboard as one self-contained page (``tlbench report --html``).

What LEADERBOARD.md holds (the findings first, then the summary, each task's table with its
comparisons, calibration and P(outperform), the curves, ranks across tasks, transfer, failures and
provenance), with tables sortable by any column, the plots embedded as data: URIs, and per cell a
folded part with every run's values, the options, the tuning and its trials, and the provenance
(:mod:`tlbench.html_cells`).

Self-contained: inline style and script (:mod:`tlbench.html_assets`), images as data: URIs, and a
Content-Security-Policy that forbids every network load. Escaped: the markup comes from
:mod:`tlbench.html_build`, whose builder escapes every text and attribute. Deterministic: nothing is
read but the records, the analysis and the plot files (no clock, no random ids, no set order), so
the same inputs give the same bytes (the plots are: matplotlib's Agg PNGs carry no date).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tlbench.findings import Finding, findings
from tlbench.html_assets import CSP, CSS, JS
from tlbench.html_build import Safe, best_of, cell, el, esc, figures_of, fmt, inline, markdown, table, void
from tlbench.html_cells import cell_details
from tlbench.record import RunRecord
from tlbench.records import latest, model_axis
from tlbench.report import (
    _compute_cells,
    _curve_text,
    _from_raw_text,
    _provenance,
    _train_time_cell,
    _transfer_section,
    _tuning_cell,
    human_bytes,
    human_count,
    improving_cell,
)
from tlbench.report_stats import (
    PAIRWISE_TEXT,
    across_tasks,
    delta_cell,
    leader_table,
    method_text,
    pair_cell,
    pairwise_names,
    rank_cell,
    replicates_label,
    resampling_line,
    trivial_line,
    unreported,
    unreported_heading,
    verdict_cell,
)

__all__ = ["page", "write_html"]


def score(x: dict[str, Any]) -> Safe:
    """Mean ± half the t-interval, every replicate's value beneath it (with seeds nested in training
    subsets, the subset means the interval is over)."""
    low, high = x["ci95_t"]
    spread = "" if x["n"] < 2 or low is None or not math.isfinite(low) else f" ± {(high - low) / 2:.3f}"
    nested = x.get("nested")
    values = " ".join(f"{v:.3f}" for v in (nested["subset_means"] if nested else x["values"]))
    shown = f"; subset means: {values}" if nested else f": {values}"
    return Safe(esc(fmt(x["mean"]) + spread) + el("small", replicates_label(x) + shown))


def summary(a: dict[str, Any], order: list[str]) -> Safe:
    tasks = list(a["tasks"])
    head = ["strategy", *[f"{a['tasks'][t]['label']} ({a['tasks'][t]['primary_metric']})" for t in tasks],
            "mean rank", "coverage"]
    entries = {t: [a["tasks"][t]["strategies"].get(s) for s in order] for t in tasks}
    best = {t: best_of([e["mean"] if e else None for e in entries[t]], True) for t in tasks}
    ranks = [a["mean_rank"].get(s) for s in order]
    best_rank = best_of(ranks, False)
    rows = []
    for i, s in enumerate(order):
        scores = [cell(score(e), e["mean"], i in best[t]) if e else cell(unreported(a, s, t), "")
                  for t in tasks for e in [entries[t][i]]]
        cov = a["coverage"][s]
        rank = cell(rank_cell(a, s), ranks[i] if ranks[i] is not None else "", i in best_rank)
        rows.append([s, *scores, rank,
                     cell(f"{cov['tasks']}/{cov['of']}", cov["tasks"])])
    return table(head, rows)


TASK_HEAD = ["verdict (family-wide Holm p)", "default → reported", "tuning: select sd (trials, time)",
             "trainable (share)", "stored / task", "train time (own + one-off)", "peak memory", "eval ex/s",
             "steps / epochs / examples", "tokens (real / padded)", "eval time"]


def task_table(e: dict[str, Any], order: list[str], baseline: str) -> Safe:
    """The task's table as in LEADERBOARD.md: score, secondary metrics, Δ and verdict, tuning, costs;
    the best score and costs in green."""
    present = [s for s in order if s in e["strategies"]]
    xs = [e["strategies"][s] for s in present]
    costs = [x["cost"] for x in xs]
    secondary = e["secondary_metrics"]
    head = ["strategy", e["primary_metric"], *secondary, f"Δ vs {baseline} (95% CI)", *TASK_HEAD]
    best = {k: best_of([c.get(k) for c in costs], k == "eval_examples_per_second")
            for k in ("trainable_params", "stored_bytes", "peak_memory_bytes", "eval_examples_per_second")}
    fast = best_of([_from_raw_text(c) for c in costs], False)
    top = best_of([x["mean"] for x in xs], True)
    rows = []
    for i, (s, x, cost) in enumerate(zip(present, xs, costs, strict=True)):
        c = e["comparisons"].get(s)
        delta = cell(delta_cell(c), c["delta"]) if c else cell("baseline" if s == baseline else "–", "")
        verdict = (cell(inline(verdict_cell(c)), c.get("p_holm")) if c else
                   cell("" if s == baseline else "no paired data", ""))
        tuned = x["variant"] == "tuned"
        spread = ((x.get("tuning") or {}).get("select_spread") or {}).get("sd", "")
        share = f"{human_count(cost['trainable_params'] or 0)} ({(cost.get('trainable_share') or 0):.1%})"
        work, tokens, evaluation = _compute_cells(cost)
        rows.append([s, cell(Safe(score(x) + inline(improving_cell(x).lstrip("; "))), x["mean"], i in top),
                     *[cell(fmt(x["secondary"].get(k)), x["secondary"].get(k)) for k in secondary],
                     delta, verdict,
                     cell(f"{fmt(x['default_mean'])} → {fmt(x['mean'])}" if tuned else "defaults",
                          x["mean"] if tuned else ""),
                     cell(_tuning_cell(x.get("tuning")), spread),
                     cell(share, cost["trainable_params"], i in best["trainable_params"]),
                     cell(human_bytes(cost["stored_bytes"] or 0), cost["stored_bytes"],
                          i in best["stored_bytes"]),
                     cell(_train_time_cell(cost), _from_raw_text(cost), i in fast),
                     cell(human_bytes(cost["peak_memory_bytes"] or 0), cost["peak_memory_bytes"],
                          i in best["peak_memory_bytes"]),
                     cell(f"{(cost['eval_examples_per_second'] or 0):,.0f}", cost["eval_examples_per_second"],
                          i in best["eval_examples_per_second"]),
                     cell(work, cost.get("optimizer_steps") or ""), cell(tokens, cost.get("tokens") or ""),
                     cell(evaluation, cost.get("eval_seconds") or "")])
    return table(head, rows)


def calibration_table(e: dict[str, Any], order: list[str]) -> Safe:
    from tlbench.calibration import DEFINITION

    names = [s for s in order if e["strategies"].get(s, {}).get("calibration")]
    if not names:
        return Safe("")
    keys = ("ece", "brier", "nll", "temperature", "ece_scaled", "brier_scaled", "nll_scaled")
    cal = [e["strategies"][s]["calibration"] for s in names]
    best = {k: best_of([c[k] for c in cal], False) if k != "temperature" else set() for k in keys}
    rows = [[s, *[cell(fmt(c[k], 2 if k == "temperature" else 3), c[k], i in best[k]) for k in keys]]
            for i, (s, c) in enumerate(zip(names, cal, strict=True))]
    text = (f"On the report split, mean over seeds. {DEFINITION}. Scaled: after temperature scaling "
            "fitted on the selection split. Lowest in green.")
    return Safe(el("h3", "Calibration") + el("p", text) + table(
        ["strategy", "ECE", "Brier", "NLL", "T", "ECE scaled", "Brier scaled", "NLL scaled"], rows))


def outperform(e: dict[str, Any], order: list[str]) -> Safe:
    wins = e.get("p_outperform") or {}
    names = [s for s in order if s in wins]
    if len(names) < 2:
        return Safe("")
    rows = [[s, *["–" if c == s else f"{wins[s][c]:.2f}" for c in names]] for s in names]
    return Safe(el("h3", "P(row outperforms column)")
                + el("p", "A random seed of the row against a random seed of the column on a random resample "
                     "of the report items, ties split evenly. Descriptive: not a test.")
                + table(["", *names], rows, sortable=False))


def pairwise(e: dict[str, Any], order: list[str]) -> Safe:
    """Every pair of the task's strategies, row minus column: Δ and the family's verdict, as in
    LEADERBOARD.md (not sortable: the matrix is read by row and column)."""
    from tlbench.comparisons import versus

    names = pairwise_names(e, [s for s in order if s in e["strategies"]])
    if len(names) < 2:
        return Safe("")
    rows = [[r, *[cell("–" if c == r else inline(pair_cell(versus(e, r, c)))) for c in names]] for r in names]
    return Safe(el("h3", "Every pair (row − column)") + el("p", inline(PAIRWISE_TEXT))
                + table(["row − column", *names], rows, sortable=False))


def findings_section(a: dict[str, Any], found: list[Finding]) -> Safe:
    """The generated findings (``tlbench.findings``), grouped by scope: tasks in page order, then
    across tasks, then any other scope."""
    scopes = list(dict.fromkeys([*[t for t in a["tasks"] if any(f.scope == t for f in found)],
                                 *[f.scope for f in found]]))
    body = [Safe(el("h3", a["tasks"][sc]["label"] if sc in a["tasks"] else sc)
                 + el("ul", [el("li", f.text) for f in found if f.scope == sc])) for sc in scopes]
    return el("section", el("h2", "Findings"),
              body or el("p", "No findings were generated from these records.", class_="muted"),
              id="findings", class_="findings")


def task_text(a: dict[str, Any], t: str) -> list[str]:
    """The paragraphs above the task's table: its data, notes, trivial baseline, resampling,
    contamination and learning curve."""
    e = a["tasks"][t]
    sizes, trunc = e["sizes"], e["truncated_share"]
    split = (e["report_split"] or "").rsplit("/", 1)[-1] or "Hub"
    draw = f" ({e['training_draw']})" if e.get("training_draw") else ""
    return [f"{e['primary_metric']} on {sizes.get('report', '?'):,} report items ({split}); "
            f"{sizes.get('train', '?'):,} training{draw} and {sizes.get('select', '?'):,} selection rows; "
            f"{'–' if trunc is None else f'{trunc:.1%}'} of report items truncated.",
            *([f"Note on the data: {'; '.join(e['notes'])}."] if e.get("notes") else []),
            *([trivial_line(e)] if e.get("trivial") else []),
            *([resampling_line(e)] if e.get("resampling") else []),
            *([f"**Contamination:** {e['contamination']}"] if e.get("contamination") else []),
            *([_curve_text(a["curves"][t], a["baseline"])] if t in a.get("curves", {}) else [])]


def task_section(a: dict[str, Any], t: str, index: int, order: list[str], figures: list[Path],
                 runs: list[RunRecord]) -> Safe:
    e = a["tasks"][t]
    present = [s for s in order if s in e["strategies"]]
    cells = [[r for r in runs if r.strategy == s and r.task == t] for s in present]
    details = [cell_details(s, t, e["label"], [r for r in rs if r.variant != "trial"],
                            [r for r in rs if r.variant == "trial"])
               for s, rs in zip(present, cells, strict=True)]
    return el("section", el("h2", e["label"]), [el("p", inline(x)) for x in task_text(a, t)],
              task_table(e, order, a["baseline"]), markdown(leader_table(e, present)), pairwise(e, order),
              calibration_table(e, order), outperform(e, order),
              el("h3", "Plots") if figures else None, figures_of(figures),
              el("h3", "Per cell: every run, options, tuning, provenance"), details, id=f"task-{index}")


def page(records: list[RunRecord], suite: str, a: dict[str, Any], figures: dict[str, list[Path]]) -> str:
    """The whole page, from the records, their analysis (``tlbench.analysis.analyse``) and the plot
    files (``tlbench.plots.draw``)."""
    runs = latest(model_axis(records, a["baseline"])[0])  # rows named as the analysis names them
    ranks = a["mean_rank"]
    order = sorted(a["strategies"], key=lambda s: (ranks.get(s) is None, ranks.get(s) or 0.0))
    models = a.get("models", [])
    tasks = list(a["tasks"])
    nav = el("nav", el("a", "Findings", href="#findings"), el("a", "Summary", href="#summary"),
             [el("a", a["tasks"][t]["label"], href=f"#task-{i}") for i, t in enumerate(tasks)],
             el("a", "Across tasks", href="#across") if a.get("ranks") else None,
             el("a", "Provenance", href="#provenance"))
    failures = [f"- {c['strategy']} × {c['task']}: {kind}"
                + (f": `{'; '.join(c['errors'])}`" if c["errors"] else
                   " by the suite (`skip = true` in its `[[overrides]]`)" if kind == "skipped" else "")
                for kind in ("failed", "missing", "skipped") for c in a.get(kind, [])]
    method = [el("p", inline(x)) for x in method_text(a).split("\n\n")]
    body = [
        el("header", el("h1", f"{suite}: leaderboard"),
           el("p", inline("Models: " + ", ".join(f"`{m}`" for m in models))) if len(models) > 1 else None,
           nav),
        findings_section(a, findings(a)),
        el("section", el("h2", "Summary"), method,
           el("p", "Mean rank: 1 is best, over tasks, with its 95% bootstrap interval, only for strategies "
              "with every task. Best per column in green. A column's header sorts by it."),
           summary(a, order), id="summary"),
        [task_section(a, t, i, order, figures.get(t, []), runs) for i, t in enumerate(tasks)],
        el("section", markdown(across_tasks(a, [])), figures_of(figures.get("across tasks", [])), id="across")
        if a.get("ranks") else None,
        el("section", markdown(_transfer_section(a))) if a.get("transfer") else None,
        el("section", el("h2", unreported_heading(a)), markdown(failures)) if failures else None,
        el("section", markdown(_provenance(runs).splitlines()), id="provenance"),
        el("footer", "Written by tlbench report --html from the records alone: the same records give the "
                     "same bytes. Self-contained: it loads nothing from outside this file."),
    ]
    head = el("head", void("meta", charset="utf-8"),
              void("meta", http_equiv="Content-Security-Policy", content=CSP),
              void("meta", name="viewport", content="width=device-width, initial-scale=1"),
              el("title", f"{suite}: leaderboard"), el("style", Safe(CSS)))
    return "<!DOCTYPE html>\n" + el("html", head, el("body", body, el("script", Safe(JS))), lang="en") + "\n"


def write_html(records: list[RunRecord], suite: str, out_dir: Path, *, analysis: dict[str, Any],
               figures: dict[str, list[Path]]) -> Path:
    """``out_dir/LEADERBOARD.html`` (UTF-8, ``\\n`` line ends on every platform); ``analysis`` and
    ``figures`` as ``write_report`` made them from ``records``."""
    path = out_dir / "LEADERBOARD.html"
    path.write_bytes(page(records, suite, analysis, figures).encode("utf-8"))
    return path
