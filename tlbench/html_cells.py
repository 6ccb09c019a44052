"""Per cell of the leaderboard page (``tlbench.html_report``): a folded part with every reported run's
scores per training size, the options, the tuning and its trials, failures and the provenance."""

from __future__ import annotations

import json
import math
from typing import Any

from tlbench.html_build import Safe, cell, el, fmt, table
from tlbench.record import PerClass, RunRecord
from tlbench.records import reported
from tlbench.report import human_seconds

__all__ = ["cell_details"]


def _size_key(size: Any) -> float:
    if isinstance(size, PerClass):
        return float(size.per_class)
    return float(size) if isinstance(size, int) else math.inf


def _flat(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out += _flat(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", v))
    return out


def key_values(pairs: list[tuple[str, Any]]) -> Safe:
    """A two-column table, values as code (non-strings as JSON)."""
    text = [(k, v if isinstance(v, str) else json.dumps(v, default=str)) for k, v in pairs]
    rows = [el("tr", el("td", k), el("td", el("code", v))) for k, v in text]
    return el("div", el("table", el("tbody", rows), class_="kv"), class_="scroll")


def provenance_of(r: RunRecord) -> Safe:
    """What a run's record says about where it came from, field by field (the model's training-data
    list counted, not listed: the task section's contamination note says what it implies)."""
    from tlbench.provenance import portable_path

    p, m = r.provenance, r.provenance.model
    data = r.data.sources.items() if r.data else ()
    pairs: list[tuple[str, Any]] = [
        ("model", f"{m.id} ({m.path}; weights sha256 or revision {m.revision_or_weights_sha256})"
         if m else "?"),
        *([("model training data", f"{len(m.training_data.datasets)} datasets listed by "
            f"{m.training_data.source}")] if m and m.training_data else []),
        ("device", ", ".join(f"{k} {v}" for k, v in p.device.items())), ("dtype", p.dtype or "?"),
        ("batch size", p.batch_size if p.batch_size is not None else "?"),
        ("suite", f"{portable_path(p.suite_file)} (sha256 {p.suite_sha256})"),
        ("git", f"{p.git.get('sha') or 'none'}{' (dirty)' if p.git.get('dirty') else ''}"),
        ("data from", p.data_dir or "?"),
        *[(f"data: {role}", f"{src.location} sha256 {src.sha256 or '(hub)'}"
           + (f" ({src.description})" if src.description else "")) for role, src in data],
        *[(f"version: {k}", v) for k, v in p.versions.items() if v],
        *[(f"plugin: {k}", v) for k, v in p.plugins.items()]]
    return key_values(pairs)


def runs_table(rs: list[RunRecord]) -> Safe:
    """Every reported run: its replicate, report and selection scores, convergence, size and cost."""
    secondary = list(dict.fromkeys(m for r in rs for m in r.secondary_metrics))
    metric = rs[0].primary_metric if rs else "score"
    head = ["seed", "subset", f"report {metric}", f"select {metric}", *secondary, "still improving",
            "train rows", "steps", "train time", "run id"]
    rows = []
    for r in rs:
        report = r.metrics.report if r.metrics else {}
        steps = r.cost.optimizer_steps if r.cost else None
        train = r.data.sizes.get("train") if r.data else None
        rows.append([cell(r.seed, r.seed), cell(r.train_subset or 0, r.train_subset or 0),
                     cell(fmt(r.score()), r.score()), cell(fmt(r.score("select")), r.score("select")),
                     *[cell(fmt(report.get(k)), report.get(k)) for k in secondary],
                     "–" if r.still_improving is None else ("yes" if r.still_improving else "no"),
                     cell("–" if train is None else f"{train:,}", train),
                     cell("–" if steps is None else steps, steps),
                     cell(human_seconds(r.cost.train_seconds) if r.cost else "–",
                          r.cost.train_seconds if r.cost else None),
                     el("code", r.run_id)])
    return table(head, rows)


def trials_table(trials: list[RunRecord]) -> Safe:
    rows = [[cell("–" if r.trial_number is None else r.trial_number, r.trial_number), r.status,
             cell(fmt(r.score("select")) if r.ok else "–", r.score("select") if r.ok else None),
             cell(fmt(r.tuning_seconds, 1), r.tuning_seconds),
             el("code", json.dumps(r.tuned_params, sort_keys=True, default=str))]
            for r in sorted(trials, key=lambda r: (r.trial_number is None, r.trial_number or 0, r.run_id))]
    return table(["trial", "status", "select score", "seconds", "options"], rows)


def options(runs: list[RunRecord]) -> list[Safe]:
    """The runs' resolved configuration (``RunRecord.params``, flattened to dotted keys): what every
    run shares, then each key that differs between them with its distinct values (sizes, subsets)."""
    if not runs:
        return []
    flat = [dict(_flat(r.params)) for r in runs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    same = [k for k in keys if all(k in f and f[k] == flat[0][k] for f in flat)]
    differ = [(k, " | ".join(dict.fromkeys(json.dumps(f.get(k), default=str) for f in flat)))
              for k in keys if k not in same]
    out = [Safe(el("h4", "Options (resolved configuration)" + (", the same in every run" if differ else ""))
                + key_values([(k, flat[0][k]) for k in same]))]
    if differ:
        out.append(Safe(el("h4", "Options that differ between the runs (their distinct values)")
                        + key_values(differ)))
    return out


def cell_details(s: str, t: str, label: str, runs: list[RunRecord], trials: list[RunRecord]) -> Safe:
    """One strategy × task, folded: its reported runs per training size (every replicate's scores),
    tuned options and resolved options, the tuning summary and its trials, failures, provenance."""
    ok = [r for r in runs if r.ok]
    parts: list[Safe] = []
    shown: list[RunRecord] = []
    # sorted() is stable, and dict.fromkeys keeps first-seen order: ties (None, "full") stay put
    for size in sorted(dict.fromkeys(r.train_size for r in ok), key=_size_key):
        variant, rs = reported([r for r in ok if r.train_size == size]).get((s, t), ("default", []))
        shown += rs
        what = f"{variant} options" + ("" if size is None else f", training size {size}")
        parts.append(Safe(el("h4", f"Runs ({what})") + runs_table(rs)))
    tuned = [json.loads(x) for x in dict.fromkeys(json.dumps(r.tuned_params, sort_keys=True) for r in shown)]
    if any(tuned):
        pairs = [kv for x in tuned for kv in sorted(x.items())]
        parts.append(Safe(el("h4", "Tuned options") + key_values(pairs)))
    parts += options(shown)
    summary = next((r.tuning for r in shown if r.tuning), None)
    if summary:
        parts.append(Safe(el("h4", "Tuning") + key_values(list(summary.model_dump().items()))))
    if trials:
        parts.append(Safe(el("h4", f"Tuning trials ({len(trials)})") + trials_table(trials)))
    failed = [r for r in runs if not r.ok]
    if failed:
        parts.append(Safe(el("h4", "Failed runs") + el("ul", [
            el("li", el("code", r.run_id), f" seed {r.seed}: ", el("code", r.error_line)) for r in failed])))
    sources = shown or runs or trials
    if sources:
        distinct = len(dict.fromkeys(r.provenance.model_dump_json() for r in sources))
        more = f" (of the first run; {distinct} distinct over the runs)" if distinct > 1 else ""
        parts.append(Safe(el("h4", f"Provenance{more}") + provenance_of(sources[0])))
    n = f"{len(shown)} reported run{'s' * (len(shown) != 1)}, {len(trials)} trial{'s' * (len(trials) != 1)}"
    return el("details", el("summary", f"{s} × {label} ", el("span", f"({n})", class_="muted")), parts)
