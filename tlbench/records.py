"""Which records count: one per run, the reported ones per cell, the suite's current ones, twins.

The rules every reader of records shares (the report, the analysis, ``verify``, ``status``), each
written once here, and the ``runs.jsonl`` export that rebuilds a leaderboard without the database.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tlbench.record import RunRecord, load_record


def latest(records: Iterable[RunRecord]) -> list[RunRecord]:
    """One record per run: its success if it has one, else its latest failure."""
    best: dict[str, RunRecord] = {}
    for r in records:
        prev = best.get(r.run_id)
        if prev is None or not prev.ok:
            best[r.run_id] = r
    return list(best.values())


def by_variant(records: Iterable[RunRecord]) -> dict[tuple[str, str, str], list[RunRecord]]:
    """(strategy, task, variant) -> successful records (latest per run)."""
    out: dict[tuple[str, str, str], list[RunRecord]] = {}
    for r in latest(records):
        if r.ok:
            out.setdefault((r.strategy, r.task, r.variant), []).append(r)
    return out


def reported(records: Iterable[RunRecord]) -> dict[tuple[str, str], tuple[str, list[RunRecord]]]:
    """(strategy, task) -> (variant, records): the reported runs of a cell are its tuned ones where
    tuning produced them, else its defaults' (a strategy with nothing to tune, or no ``[tuning]``).
    Trials are never reported. Records are sorted by training subset, then seed (every run of the
    cell's training subsets is a replicate: ``tlbench.analysis.replicate``)."""
    variants = by_variant(records)
    out: dict[tuple[str, str], tuple[str, list[RunRecord]]] = {}
    for (s, t, v), rs in variants.items():
        if v == "tuned" or (v == "default" and (s, t, "tuned") not in variants):
            out[(s, t)] = (v, sorted(rs, key=lambda r: (r.train_subset or 0, r.seed)))
    return out


def current(records: Iterable[RunRecord], cells: Iterable[Any], tuning: Any) -> list[RunRecord]:
    """The records of the suite as it is now: of its ``cells``, and tuned runs only from each cell's
    current tuning (a changed option or search space leaves old runs in the storage, not in the
    leaderboard or ``verify``)."""
    by_id = {c.id: c for c in cells}
    keys = {i: c.tuning_key(tuning) for i, c in by_id.items()} if tuning is not None else {}
    return [r for r in records if r.cell_id in by_id
            and (r.variant != "tuned" or r.tuning_key == keys.get(r.cell_id))]


def twin_of(run: Any, candidates: Iterable[RunRecord]) -> RunRecord | None:
    """The first successful record among ``candidates`` that trained exactly what ``run`` would
    (same options and seed: ``Run.key``), rewritten as ``run``'s. Tuned options equal to the
    defaults are thereby not trained twice; the copy says where it came from (``reused``), its
    costs are the one training's. Trials train with a seed no reported run uses
    (``Tuning.seed_problem``), so a reported run never reuses a trial, nor a trial a reported run."""
    found = next((r for r in candidates if r.run_key == run.key and r.ok and r.run_id != run.id
                  and r.predictions), None)
    if found is None:
        return None
    return found.but(run_id=run.id, variant=run.variant, tuned_params=run.params,
                     trial_number=run.trial_number, tuning_key=run.tuning_key, tuning=None,
                     tuning_seconds=None, reused={"run_id": found.run_id, "variant": found.variant})


def export_jsonl(records: Iterable[RunRecord], path: Path) -> None:
    """Write records as JSON lines, atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r.to_json(), sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_jsonl(path: Path, secondary: Callable[[str], tuple[str, ...]] | None = None) -> list[RunRecord]:
    """Records from a ``runs.jsonl`` of any schema version, each validated (and migrated); a bad
    line is an error naming the file and the line."""
    from pydantic import ValidationError

    from tlbench.errors import TlbenchError

    out = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(load_record(json.loads(line), secondary))
            except (ValueError, ValidationError) as exc:
                raise TlbenchError(f"{path}:{number}: not a run record: {exc}") from exc
    return out


def stored_records(suite: Any, suite_path: Path, results_dir: Path, url: str, plugins: Any = None,
                   export: bool = False) -> tuple[list[RunRecord], str]:
    """The suite's records and where they came from: the storage (exported to runs.jsonl when
    ``export``), else, when an SQLite storage is absent, the committed runs.jsonl (older schema
    versions migrated, with the secondary metrics the suite's tasks declare when ``plugins``)."""
    from tlbench.errors import TlbenchError
    from tlbench.storage import safe_url
    from tlbench.store import Store

    jsonl = results_dir / "runs.jsonl"
    db_missing = url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists()
    if db_missing and jsonl.exists():
        return read_jsonl(jsonl, _declared_secondary(plugins)), str(jsonl)
    if db_missing:
        raise TlbenchError(f"no records for {suite.name}: neither {url} nor {jsonl} exists; "
                           f"run `tlbench run {suite_path}` first")
    records = Store(url, suite.name).records()
    if export:
        export_jsonl(records, jsonl)
    return records, safe_url(url)


def _declared_secondary(plugins: Any) -> Callable[[str], tuple[str, ...]] | None:
    if plugins is None:
        return None

    def declared(task_name: str) -> tuple[str, ...]:
        if task_name not in plugins.tasks:
            return ()
        return tuple(plugins.tasks.get(task_name).factory.secondary_metrics)

    return declared


#: between a strategy's label and its model's in a suite with several models
MODEL_JOIN = " · "


def model_axis(records: Iterable[RunRecord], baseline: str) -> tuple[list[RunRecord], str, list[str]]:
    """With several models in the records, every (strategy, model) is a leaderboard row of its own,
    labelled ``"<strategy> · <model>"`` (the model's last path part, or its whole id where two share
    it), so no statistic pools two models' runs as replicates and the comparisons cover the same
    strategy across models as well as strategies within a model. The baseline becomes the suite's
    baseline strategy on the first model. Returns (records, baseline, models in first-seen order);
    with one model the records and baseline as given."""
    records = list(records)
    models = list(dict.fromkeys(r.model for r in records))
    if len(models) < 2:
        return records, baseline, models
    short = {m: m.rstrip("/").rsplit("/", 1)[-1] for m in models}
    if len(set(short.values())) < len(models):
        short = {m: m for m in models}
    out = [r.model_copy(update={"strategy": f"{r.strategy}{MODEL_JOIN}{short[r.model]}"}) for r in records]
    return out, f"{baseline}{MODEL_JOIN}{short[models[0]]}", models

