"""Records -> LEADERBOARD.md. A pure function of the records: it never trains."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tlbench.record import RunRecord
from tlbench.records import latest
from tlbench.report_stats import (
    across_tasks,
    delta_cell,
    method_text,
    outperform_table,
    rank_cell,
    resampling_line,
    seed_cell,
    trivial_line,
    unreported,
    unreported_heading,
    verdict_cell,
)


def human_count(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def human_bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def human_seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    minutes, seconds = divmod(round(s), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def mean_sd(values: list[float]) -> str:
    if not values:
        return "–"
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{np.mean(values):.3f} ± {sd:.3f} (n={len(values)})"


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _bold_best(cells: list[str], values: list[float | None], higher: bool) -> list[str]:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    if len(finite) < 2:
        return cells
    best = max(finite) if higher else min(finite)
    return [f"**{c}**" if v is not None and np.isfinite(v) and v == best else c
            for c, v in zip(cells, values, strict=True)]


def leaderboard(records: list[RunRecord], suite: str, *, baseline: str,
                analysis: dict[str, Any] | None = None, figures: dict[str, list[str]] | None = None) -> str:
    from tlbench.analysis import analyse, size_label

    runs = latest(records)
    if not runs:
        return f"# {suite}: leaderboard\n\nNo records yet: run `tlbench run` first.\n"
    a = analysis or analyse(records, baseline=baseline)
    tasks = list(a["tasks"])
    ranks = a["mean_rank"]
    order = sorted(a["strategies"], key=lambda s: (ranks.get(s) is None, ranks.get(s) or 0.0))
    models = a.get("models", [])
    axis = ([f"Models: {', '.join(f'`{m}`' for m in models)}. Each row is one strategy on one model "
             "(`strategy · model`), its own cell: nothing pools two models' runs. Δ compares every row "
             "with the baseline strategy on the first model, so the same strategy on another model is "
             "compared too.", ""] if len(models) > 1 else [])
    from tlbench.findings import findings_markdown

    lines = [f"# {suite}: leaderboard", "", *findings_markdown(a), "", "## Method", "", *axis,
             method_text(a), "",
             "Mean rank: 1 is best, over tasks, with its 95% bootstrap interval, only for strategies with "
             "every task (see Across tasks). Best per column in bold.", ""]
    head = ["strategy", *[f"{a['tasks'][t]['label']} ({a['tasks'][t]['primary_metric']})" for t in tasks],
            "mean rank", "coverage"]
    lines += ["## Summary", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    columns: list[list[str]] = []
    for t in tasks:
        entries = [a["tasks"][t]["strategies"].get(s) for s in order]
        cells = [seed_cell(e) if e else unreported(a, s, t) for s, e in zip(order, entries, strict=True)]
        columns.append(_bold_best(cells, [e["mean"] if e else None for e in entries], higher=True))
    rank_cells = _bold_best([rank_cell(a, s) for s in order], [ranks.get(s) for s in order], False)
    for i, s in enumerate(order):
        cov = a["coverage"][s]
        lines.append("| " + " | ".join([s, *[col[i] for col in columns], rank_cells[i],
                                        f"{cov['tasks']}/{cov['of']}"]) + " |")
    for t in tasks:
        lines += ["", *_task_section(a["tasks"][t], t, order, a["baseline"])]
        if t in a.get("curves", {}):
            lines += ["", _curve_text(a["curves"][t], a["baseline"])]
        lines += [line for f in (figures or {}).get(t, []) for line in ("", f"![{Path(f).stem}]({f})")]
    lines += across_tasks(a, (figures or {}).get("across tasks", []))
    lines += _transfer_section(a)
    problems = [(c, kind) for kind in ("failed", "missing", "skipped") for c in a.get(kind, [])]
    if problems:
        lines += ["", f"## {unreported_heading(a)}", ""]
        for c, kind in problems:
            why = f": `{'; '.join(c['errors'])}`" if c["errors"] else (
                " by the suite (`skip = true` in its `[[overrides]]`)" if kind == "skipped" else "")
            lines.append(f"- {c['strategy']} × {c['task']}: {kind}{why}")
    failed_runs = [r for r in runs if not r.ok]
    if failed_runs:
        lines += ["", "## Failed runs", ""]
        for r in failed_runs:
            size = "" if r.train_size is None else f" at {size_label(r.train_size)}"
            subset = f" subset {r.train_subset}" if r.train_subset else ""
            lines.append(f"- {r.strategy} × {r.task}{size}{subset} seed {r.seed}"
                         f"{' (' + r.variant + ')' if r.variant != 'default' else ''}: `{r.error_line}`")
    lines += ["", _provenance(runs)]
    return "\n".join(lines) + "\n"


def _transfer_section(a: dict[str, Any]) -> list[str]:
    """The negative-transfer table: each task of a multitask group against ``baseline`` alone."""
    lines: list[str] = []
    for s, t in a.get("transfer", {}).items():
        lines += ["", f"## Transfer: {s} against {a['baseline']} trained on each task alone", "",
                  f"One training over {', '.join(t['tasks'])}; Δ is {s} minus `{a['baseline']}` on the "
                  "same report items: the task tables' comparisons, with their verdicts from the family's "
                  "Holm-adjusted p-values.", "",
                  "| task | Δ | 95% interval | verdict |", "|---|---|---|---|"]
        for task, c in t["rows"].items():
            label = a["tasks"].get(task, {}).get("label", task)
            if c is None:
                lines.append(f"| {label} | – | – | no paired comparison (a side is missing) |")
            else:
                lines.append(f"| {label} | {c['delta']:+.3f} | [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] | "
                             f"{verdict_cell(c)} |")
        lost = ", ".join(t["lost"]) or "none"
        gained = ", ".join(t["gained"]) or "none"
        lines += ["", f"By the family's verdicts, negative transfer (worse than alone): {lost}; positive "
                  f"transfer (better than alone): {gained}. A tie is inconclusive, not an absence of "
                  "transfer."]
    return lines


def _curve_text(curve: dict[str, Any], baseline: str) -> str:
    """The curve's sizes, and where the baseline's mean overtakes each other strategy's for good
    (``analysis.crossover``, computed in the analysis)."""
    points = sorted({(round(p["rows"]), p.get("label", ""))
                     for ps in curve["strategies"].values() for p in ps})
    sizes = sorted({x for x, _ in points})
    per_class = {x: label for x, label in points if label.endswith("/class")}
    shown = ", ".join(f"{x:,}" + (f" ({per_class[x]})" if x in per_class else "") for x in sizes)
    replicates = max((p.get("subsets", 1) for ps in curve["strategies"].values() for p in ps), default=1)
    text = (f"Learning curve over {shown} training examples (the tables above show the largest)"
            + (f"; each point the mean over {replicates} training subsets × seeds, with its 95% t-interval "
               "over them" if replicates > 1 else "") + ".")
    for other, at in curve.get("crossovers", {}).items():
        text += (f" `{baseline}`'s mean is above `{other}`'s at every size" if at == "always" else
                 f" `{baseline}`'s mean overtakes `{other}`'s from {at:,.0f} training examples on"
                 if at is not None
                 else f" `{baseline}`'s mean does not stay above `{other}`'s at the sizes run")
        diffs = curve.get("differences", {}).get(other) or []
        apart = [d["label"] for d in diffs if d["ci95"][0] is not None
                 and (d["ci95"][0] > 0 or d["ci95"][1] < 0)]
        some = apart and len(apart) < len(diffs)
        text += (f"; the 95% interval excludes 0 at {', '.join(apart)} only." if some
                 else "; the 95% interval excludes 0 at every size." if apart
                 else "; at no size does the 95% interval exclude 0, so no order is shown." if diffs
                 else ".")
        if diffs and any(d["ci95"][0] is not None for d in diffs):
            text += (f" Δ (`{baseline}` − `{other}`, Welch 95% interval over replicates): "
                     + "; ".join(f"{d['label']} {d['delta']:+.3f}" + (
                         f" [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]" if d["ci95"][0] is not None else "")
                         for d in diffs) + ".")
    return text


def improving_cell(x: dict[str, Any]) -> str:
    """``; still improving (2 of 3 seeds)`` when some reported run was (``RunRecord.still_improving``)."""
    flag = x.get("still_improving") or {}
    return f"; *still improving* ({flag['count']} of {flag['of']} seeds)" if flag.get("count") else ""


def _task_section(e: dict[str, Any], task: str, order: list[str], baseline: str) -> list[str]:
    sizes = e["sizes"]
    trunc = e["truncated_share"]
    lines = [f"## {e['label']}", "",
             f"{e['primary_metric']} on {sizes.get('report', '?'):,} report items "
             f"({e['report_split'].rsplit('/', 1)[-1] or 'Hub'}); {sizes.get('train', '?'):,} training"
             + (f" ({e['training_draw']})" if e.get("training_draw") else "") + " and "
             f"{sizes.get('select', '?'):,} selection rows; "
             f"{'–' if trunc is None else f'{trunc:.1%}'} of report items truncated.", ""]
    lines += [f"Note on the data: {'; '.join(e['notes'])}.", ""] if e.get("notes") else []
    lines += [trivial_line(e), ""] if e.get("trivial") else []
    lines += [resampling_line(e), ""] if e.get("resampling") else []
    lines += [f"**Contamination:** {e['contamination']}", ""] if e.get("contamination") else []
    present = [s for s in order if s in e["strategies"]]
    # the task's declared secondary metrics (records of schema 1, which lack them: the first four)
    secondary = e["secondary_metrics"]
    head = ["strategy", e["primary_metric"], *secondary, f"Δ vs {baseline} (95% CI)",
            "verdict (family-wide Holm p)", "default → reported", "tuning: select sd (trials, time)",
            "trainable (share)", "stored / task", "train time (own + one-off)", "peak memory", "eval ex/s",
            "steps / epochs / examples", "tokens (real / padded)", "eval time"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows: list[list[str]] = []
    numbers: list[list[float | None]] = []
    for s in present:
        x, c, cost = e["strategies"][s], e["comparisons"].get(s), e["strategies"][s]["cost"]
        if c:
            delta, verdict = delta_cell(c), verdict_cell(c)
        else:
            delta, verdict = ("baseline", "") if s == baseline else ("–", "no paired data")
        tuned = (f"{_fmt(x['default_mean'])} → {_fmt(x['mean'])}" if x["variant"] == "tuned"
                 else "defaults")
        share = cost.get("trainable_share")
        rows.append([s, seed_cell(x) + improving_cell(x), *[_fmt(x["secondary"].get(k)) for k in secondary],
                     delta, verdict,
                     tuned, _tuning_cell(x["tuning"]),
                     f"{human_count(cost['trainable_params'] or 0)} ({(share or 0):.1%})",
                     human_bytes(cost["stored_bytes"] or 0), _train_time_cell(cost),
                     human_bytes(cost["peak_memory_bytes"] or 0),
                     f"{(cost['eval_examples_per_second'] or 0):,.0f}", *_compute_cells(cost)])
        numbers.append([x["mean"], cost["trainable_params"], cost["stored_bytes"], _from_raw_text(cost),
                        cost["peak_memory_bytes"], cost["eval_examples_per_second"]])
    # bold the best score (highest) and costs (lowest; eval speed highest)
    for name, idx, higher in ((e["primary_metric"], 0, True), ("trainable (share)", 1, False),
                              ("stored / task", 2, False), ("train time (own + one-off)", 3, False),
                              ("peak memory", 4, False), ("eval ex/s", 5, True)):
        col = head.index(name, 1)
        bolded = _bold_best([r[col] for r in rows], [n[idx] for n in numbers], higher)
        for r, b in zip(rows, bolded, strict=True):
            r[col] = b
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if any((e["strategies"][s].get("still_improving") or {}).get("count") for s in present):
        lines += ["", "*still improving*: the run's selection score was still rising beyond its sampling "
                  "noise when training ended (its last evaluation the best, above the best before the final "
                  "third by more than the standard error: docs/report.md); more training could change it."]
    from tlbench.report_stats import leader_table, pairwise_table

    lines += leader_table(e, present)
    lines += pairwise_table(e, present)  # every member of the family on this task
    # calibration of classifications (``RunRecord.calibration``), when some record of the task has it
    calibrated = [s for s in present if e["strategies"][s].get("calibration")]
    if calibrated:
        from tlbench.calibration import DEFINITION

        lines += ["", f"Calibration on the report split, mean over seeds. {DEFINITION}. Brier: Σ over "
                  "classes of (p − y)², mean over items (0 to 2). NLL: mean −ln p(gold). Scaled: after "
                  "temperature scaling, one T fitted by NLL on the selection split (accuracy unchanged). "
                  "Lowest in bold.",
                  "", "| strategy | ECE | Brier | NLL | T | ECE scaled | Brier scaled | NLL scaled |",
                  "|---|---|---|---|---|---|---|---|"]
        cal = [e["strategies"][s]["calibration"] for s in calibrated]
        keys = ("ece", "brier", "nll", "temperature", "ece_scaled", "brier_scaled", "nll_scaled")
        runs = {s: len(e["strategies"][s]["values"]) for s in calibrated}  # every run, nested or not
        table = [[f"{s} ({c['n']} of {runs[s]} seeds)" if c["n"] != runs[s]
                  else s, *[_fmt(c[k], 2 if k == "temperature" else 3) for k in keys]]
                 for s, c in zip(calibrated, cal, strict=True)]
        for col, k in enumerate(keys, start=1):
            if k != "temperature":
                for r, b in zip(table, _bold_best([r[col] for r in table], [c[k] for c in cal], False),
                                strict=True):
                    r[col] = b
        lines += ["| " + " | ".join(r) + " |" for r in table]
    return lines + outperform_table(e, present)


def _tuning_cell(tuning: dict[str, Any] | None) -> str:
    """The cell's tuning: the spread of its trials' selection scores (its sensitivity to the options)
    and what the tuning cost, e.g. ``0.012 (2 trials, 42.0 s)``; ``–`` for an untuned cell."""
    if not tuning:
        return "–"
    spread = tuning.get("select_spread")
    trials = tuning["trials"]
    return (f"{spread['sd']:.3f} " if spread else "") + (
        f"({trials} trial{'s' * (trials != 1)}, {human_seconds(tuning['seconds'] or 0)})")


def _from_raw_text(cost: dict[str, Any]) -> float | None:
    """Training from raw text: the run's own training plus its one-off work (whether it did it or a
    cache had it); ``train_seconds`` for records made before the split was counted."""
    if cost.get("own_train_seconds") is None:
        return cost.get("train_seconds")
    return float(cost["own_train_seconds"]) + float(cost.get("oneoff_seconds") or 0.0)


def _train_time_cell(cost: dict[str, Any]) -> str:
    """``4.1 s + 2.3 s one-off`` (the run's own training, then one-off work it needs: the probe's
    feature extraction); one number when there is no one-off work or the records do not split it."""
    own, oneoff = cost.get("own_train_seconds"), cost.get("oneoff_seconds")
    if own is None:
        return human_seconds(cost["train_seconds"] or 0)
    return human_seconds(own) + (f" + {human_seconds(oneoff)} one-off" if oneoff else "")


def _compute_cells(cost: dict[str, Any]) -> list[str]:
    """Steps, epochs and training examples (``32 st / 1.0 ep / 500 ex``), real and padded tokens
    (``14.2k / 16.0k``) and evaluation seconds: ``–`` where the records lack them."""
    steps, epochs, seen = cost.get("optimizer_steps"), cost.get("epochs"), cost.get("examples_seen")
    work = ("–" if steps is None else
            f"{human_count(steps)} st / {_fmt(epochs, 1)} ep / {human_count(seen or 0)} ex")
    real, padded = cost.get("tokens"), cost.get("padded_tokens")
    tokens = "–" if real is None else f"{human_count(real)} / {human_count(padded or 0)}"
    evaluation = cost.get("eval_seconds")
    return [work, tokens, "–" if evaluation is None else human_seconds(evaluation)]


def write_report(records: list[RunRecord], suite: str, out_dir: Path, *, baseline: str,
                 margin: float | dict[str, float] | None = None, html: bool = False,
                 skipped: tuple[tuple[str, str], ...] = ()) -> list[Path]:
    """LEADERBOARD.md, leaderboard.json (every number, per-seed values included) and
    leaderboard.csv (one row per strategy and task) under ``out_dir``; ``margin`` is the suite's
    ``equivalence_margin``; ``html``: also LEADERBOARD.html, the page for a browser
    (:mod:`tlbench.html_report`); ``skipped``: the cells the suite leaves out (``Suite.skipped``)."""
    import csv
    import json

    from tlbench.analysis import analyse

    out_dir.mkdir(parents=True, exist_ok=True)
    a = analyse(records, baseline=baseline, margin=margin, skipped=skipped) if latest(records) else None
    md = out_dir / "LEADERBOARD.md"
    md.write_text(leaderboard(records, suite, baseline=baseline, analysis=a), encoding="utf-8")
    written = [md]
    if a is None:
        return written
    from tlbench.plots import draw

    figures = draw(a, out_dir / "plots")
    md.write_text(leaderboard(records, suite, baseline=baseline, analysis=a, figures={
        t: [p.relative_to(out_dir).as_posix() for p in ps] for t, ps in figures.items()}), encoding="utf-8")
    written += [p for ps in figures.values() for p in ps]
    js = out_dir / "leaderboard.json"
    js.write_text(json.dumps(_finite(a), indent=1, default=float, allow_nan=False), encoding="utf-8")
    rows = []
    for t, e in a["tasks"].items():
        for s, x in e["strategies"].items():
            c = e["comparisons"].get(s, {})
            rows.append({"task": t, "strategy": s, "metric": e["primary_metric"], "variant": x["variant"],
                         "n": x["n"], "mean": x["mean"], "sd": x["sd"],
                         "ci95_t_low": x["ci95_t"][0], "ci95_t_high": x["ci95_t"][1],
                         "min": x["range"][0], "max": x["range"][1],
                         "values": " ".join(f"{v:.6g}" for v in x["values"]),
                         "default_mean": x["default_mean"], "delta": c.get("delta"),
                         "delta_low": (c.get("ci95") or [None, None])[0],
                         "delta_high": (c.get("ci95") or [None, None])[1],
                         "se": c.get("se"), "df": c.get("df"), "p_value": c.get("p_value"),
                         "p_holm": c.get("p_holm"), "mde": c.get("mde"), "tost_p_holm": c.get("tost_p_holm"),
                         "verdict": c.get("verdict"),
                         "mean_rank": a["mean_rank"].get(s),
                         **{f"cost_{k}": v for k, v in x["cost"].items()}})
    path = out_dir / "leaderboard.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["task"])
        writer.writeheader()
        writer.writerows(rows)
    if html:
        from tlbench.html_report import write_html

        page = write_html(records, suite, out_dir, analysis=a, figures=figures)
        return [md, js, path, page, *written[1:]]
    return [md, js, path, *written[1:]]


def _finite(x: Any) -> Any:
    """Strict JSON: NaN (one seed's sd) and infinity (no degrees-of-freedom limit) become null."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    if isinstance(x, float | np.floating) and not np.isfinite(x):
        return None
    return x


def _data_hashes(runs: list[RunRecord]) -> str:
    seen: dict[str, str] = {}
    for r in runs:
        if r.task not in seen and r.data and r.data.sources:
            seen[r.task] = ", ".join(f"{role} {s.sha256[:12] or 'hub'}" for role, s in r.data.sources.items())
    return "; ".join(f"{t}: {h}" for t, h in seen.items())


def _provenance(runs: list[RunRecord]) -> str:
    from tlbench.provenance import portable_path

    p = next((r.provenance for r in runs if r.ok), runs[0].provenance)
    libs = ", ".join(f"{k} {val}" for k, val in p.versions.items() if val)
    sha = p.git.get("sha", "")
    git = sha[:12] + (" (dirty)" if p.git.get("dirty") else "") if sha else "none"
    model = (f"{p.model.id} (weights sha256 or revision {p.model.revision_or_weights_sha256[:16]})"
             if p.model else "?")
    # records name no path of the machine (issue 17); a record made by hand may: its file name only
    suite_file = portable_path(p.suite_file)
    origin = f"from {p.data_dir}; " if p.data_dir else ""
    return "\n".join([
        "## Provenance", "",
        f"- versions: {libs}",
        f"- model: {model}",
        f"- device: {p.device.get('name', '?')} ({p.device.get('device', '?')}), dtype {p.dtype or '?'}",
        f"- data ({origin}sha256 of each task's files, by role): {_data_hashes(runs) or 'none recorded'}",
        f"- suite: {suite_file} (sha256 {p.suite_sha256[:16]}); git {git}",
        f"- records: {len(runs)} runs, from {min(r.started_at for r in runs)} to "
        f"{max(r.finished_at for r in runs)}",
    ])
