"""Records -> LEADERBOARD.md. A pure function of the records: it never trains."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from tlbench.store import latest


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


def _ordered(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def mean_sd(values: list[float]) -> str:
    if not values:
        return "–"
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{np.mean(values):.3f} ± {sd:.3f} (n={len(values)})"


def variants(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """(strategy, task, variant) -> successful records (latest per run); variant "default" or "tuned"."""
    out: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in latest(records):
        if r["status"] == "ok":
            out.setdefault((r["strategy"], r["task"], r.get("variant", "default")), []).append(r)
    return out


def cells(records: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(strategy, task) -> the reported records: the tuned runs where tuning produced them, else the
    defaults' (a strategy with nothing to tune, or a suite without ``[tuning]``)."""
    by_variant = variants(records)
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (s, t, v), rs in by_variant.items():
        if v == "tuned" or (s, t, "tuned") not in by_variant:
            out[(s, t)] = rs
    return out


def leaderboard(records: list[dict[str, Any]], suite: str) -> str:
    runs = latest(records)
    if not runs:
        return f"# {suite}: leaderboard\n\nNo records yet: run `tlbench run` first.\n"
    strategies = _ordered(r["strategy"] for r in runs)
    tasks = _ordered(r["task"] for r in runs)
    by_cell = cells(records)
    primary = {t: next((r["primary_metric"] for r in runs if r["task"] == t and r.get("primary_metric")),
                       "score") for t in tasks}
    label = {t: next((r["data"].get("label", t) for r in runs if r["task"] == t and r["status"] == "ok"), t)
             for t in tasks}

    def score(s: str, t: str) -> str:
        rs = by_cell.get((s, t), [])
        return mean_sd([r["metrics"]["report"][primary[t]] for r in rs])

    def cost(s: str, key: str) -> float:
        vals = [r["cost"][key] for t in tasks for r in by_cell.get((s, t), [])]
        return float(np.mean(vals)) if vals else float("nan")

    lines = [f"# {suite}: leaderboard", "",
             "Reported score: mean ± sample sd over seeds (n = seeds) on each task's report split, "
             "which is never used for choosing. Costs are means over the strategy's runs.", ""]
    head = ["strategy", *[f"{label[t]} ({primary[t]})" for t in tasks], "trainable params",
            "stored / task", "train time / run", "peak memory", "eval ex/s"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in strategies:
        if not any(by_cell.get((s, t)) for t in tasks):
            continue
        trainable, share = cost(s, "trainable_params"), cost(s, "trainable_share")
        row = [s, *[score(s, t) for t in tasks],
               f"{human_count(trainable)} ({share:.1%})", human_bytes(cost(s, "stored_bytes")),
               human_seconds(cost(s, "train_seconds")), human_bytes(cost(s, "peak_memory_bytes")),
               f"{cost(s, 'eval_examples_per_second'):,.0f}"]
        lines.append("| " + " | ".join(row) + " |")

    lines += ["", "## Data", "", "| task | train rows | select rows (carved from train) | report rows "
              "| report split | truncated (report) |", "|---|---|---|---|---|---|"]
    for t in tasks:
        r = next((x for x in runs if x["task"] == t and x["status"] == "ok"), None)
        if r is None:
            continue
        sizes, trunc = r["data"]["sizes"], r["data"]["truncated_share"].get("report")
        lines.append(f"| {label[t]} | {sizes['train']:,} | {sizes['select']:,} | {sizes['report']:,} | "
                     f"{r['data']['sources']['report']['location'].rsplit('/', 1)[-1]} | "
                     f"{'–' if trunc is None else f'{trunc:.1%}'} |")

    failed = [r for r in runs if r["status"] != "ok"]
    if failed:
        lines += ["", "## Failed runs", ""]
        for r in failed:
            last = r["error"].strip().splitlines()[-1] if r["error"] else "unknown error"
            lines.append(f"- {r['strategy']} × {r['task']} seed {r['seed']}: `{last}`")
    lines += ["", _provenance(runs)]
    return "\n".join(lines) + "\n"


def _provenance(runs: list[dict[str, Any]]) -> str:
    p = next((r["provenance"] for r in runs if r["status"] == "ok"), runs[0].get("provenance", {}))
    v = p.get("versions", {})
    libs = ", ".join(f"{k} {val}" for k, val in v.items() if val)
    model = p.get("model", {})
    git = p.get("git", {})
    sha = git.get("sha", "")[:12] + (" (dirty)" if git.get("dirty") else "") if git.get("sha") else "none"
    return "\n".join([
        "## Provenance", "",
        f"- versions: {libs}",
        f"- model: {model.get('id', '?')} "
        f"(weights sha256 or revision {model.get('revision_or_weights_sha256', '')[:16]})",
        f"- device: {p.get('device', {}).get('name', '?')} ({p.get('device', {}).get('device', '?')}), "
        f"dtype {p.get('dtype', '?')}",
        f"- suite: {p.get('suite_file', '?')} (sha256 {p.get('suite_sha256', '')[:16]}); git {sha}",
        f"- records: {len(runs)} runs, from {min(r['started_at'] for r in runs)} to "
        f"{max(r.get('finished_at', r['started_at']) for r in runs)}",
    ])
