"""Run records in and out of the Optuna storage, the one system of record.

Each finished run is one trial of the suite's ``runs`` study, created complete in a single
transaction (``Study.add_trial``), so a crash never leaves half a record; a failed run is a FAIL
trial with its error. ``runs.jsonl`` is an export that :func:`read_jsonl` reads back, so committed
evidence rebuilds the leaderboard without the database.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RECORD_ATTR = "record"


def default_storage(results_dir: Path) -> str:
    return f"sqlite:///{(results_dir / 'tlbench.db').as_posix()}"


class Store:
    def __init__(self, url: str, suite: str):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self._optuna = optuna
        self.url = url
        self.storage = optuna.storages.RDBStorage(url)
        self.study = optuna.create_study(storage=self.storage, study_name=f"{suite}:runs",
                                         direction="maximize", load_if_exists=True)

    def add(self, record: dict[str, Any]) -> None:
        """Write one record atomically; ``value`` is the reported primary metric when it finished."""
        from optuna.trial import TrialState, create_trial

        ok = record["status"] == "ok"
        trial = create_trial(
            state=TrialState.COMPLETE if ok else TrialState.FAIL,
            value=record["metrics"]["report"][record["primary_metric"]] if ok else None,
            user_attrs={"run_id": record["run_id"], RECORD_ATTR: json.loads(json.dumps(record))},
        )
        self.study.add_trial(trial)

    def records(self) -> list[dict[str, Any]]:
        """Every record written, oldest first (failed attempts included)."""
        trials = self.study.get_trials(deepcopy=False)
        return [t.user_attrs[RECORD_ATTR] for t in trials if RECORD_ATTR in t.user_attrs]

    def finished(self) -> set[str]:
        """Run ids with a successful record: a rerun skips them."""
        return {r["run_id"] for r in self.records() if r["status"] == "ok"}


def latest(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per run: its success if it has one, else its latest failure."""
    best: dict[str, dict[str, Any]] = {}
    for r in records:
        prev = best.get(r["run_id"])
        if prev is None or prev["status"] != "ok":
            best[r["run_id"]] = r
    return list(best.values())


def export_jsonl(records: list[dict[str, Any]], path: Path) -> None:
    """Write records as JSON lines, atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
