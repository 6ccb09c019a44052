"""The Optuna storage: the system of record of a suite's runs, and the queue its workers share.

Every run (a cell, a seed, the default or the tuned options) is a trial of the suite's ``runs``
study. Runs are *enqueued* trials (``Study.enqueue_trial`` with the run's spec as user attributes);
a worker takes one with ``Study.optimize(n_trials=1)``, which pops a waiting trial atomically
(``RUNNING`` only if it was ``WAITING``), records Optuna's heartbeat while it runs and fails trials
whose heartbeat went stale, which ``RetryFailedTrialCallback`` re-enqueues. The finished record
(metrics, cost, provenance, per-example predictions) is written as the trial's ``record`` attribute
before the trial is told complete (or failed), so a ``kill -9`` at any moment loses at most the run
in progress, which the heartbeat hands to another worker. There is no other queue or state.

SQLite (the default, one file under ``results/<suite>/``) gets ``BEGIN IMMEDIATE`` transactions: its
default deferred transactions let two processes both read a trial as waiting and both take it.
PostgreSQL (``--storage postgresql://...``) locks the row (``SELECT ... FOR UPDATE``).

``runs.jsonl`` is an export that :func:`read_jsonl` reads back, so committed evidence rebuilds the
leaderboard without the database. Storage URLs are shown with :func:`safe_url` (no password).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RECORD_ATTR = "record"
SPEC_ATTR = "run"


class RunFailed(Exception):
    """Raised inside a trial whose run failed: Optuna stores it as FAIL, the grid goes on."""


def worker_id() -> str:
    """Who runs a trial (kept on the trial, shown by ``tlbench status``)."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def default_storage(results_dir: Path) -> str:
    return f"sqlite:///{(results_dir / 'tlbench.db').as_posix()}"


def safe_url(url: str) -> str:
    """The URL without its password, for anything a person or a file sees."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1] if "@" in url else url


def open_storage(url: str, heartbeat_seconds: int | None = None, max_retries: int = 2) -> Any:
    """An Optuna ``RDBStorage`` with heartbeats (a dead worker's trial is retried after 2 beats)."""
    import warnings

    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # tlbench prints each outcome itself
    # heartbeats are "experimental" in Optuna since 2.9; they are what makes a dead worker's trial
    # come back, and tests cover that here
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    sqlite = url.startswith("sqlite:///")
    if sqlite:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    if heartbeat_seconds:
        kwargs = {"heartbeat_interval": heartbeat_seconds, "grace_period": 2 * heartbeat_seconds,
                  "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry=max_retries)}
    engine_kwargs = {"connect_args": {"timeout": 120}} if sqlite else {"pool_pre_ping": True}
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(10):
        try:
            storage = RDBStorage(_with_driver(url), engine_kwargs=engine_kwargs, **kwargs)
            break
        except (IntegrityError, OperationalError):
            # two workers started together both create the schema: the loser finds it made
            if attempt == 9:
                raise
            time.sleep(0.2 * (attempt + 1))
    if sqlite:
        _immediate_transactions(storage.engine)
    return storage


def _with_driver(url: str) -> str:
    """``postgresql://`` with the driver that is installed: SQLAlchemy 2.0 assumes psycopg2 and 2.1
    psycopg (3); either works, so a user's URL should not depend on which SQLAlchemy they have."""
    if not url.startswith(("postgresql://", "postgres://")):
        return url
    import importlib.util

    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module):
            return f"postgresql+{driver}://" + url.split("://", 1)[1]
    return url


def _immediate_transactions(engine: Any) -> None:
    """SQLAlchemy's recipe for serializable SQLite transactions (pysqlite otherwise starts them lazily)."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the listeners would keep the old behaviour


class Store:
    def __init__(self, url: str, suite: str, *, heartbeat_seconds: int | None = None,
                 max_retries: int = 2):
        import optuna

        self._optuna = optuna
        self.url, self.suite = url, suite
        self.storage = open_storage(url, heartbeat_seconds, max_retries)
        self.study = optuna.create_study(storage=self.storage, study_name=f"{suite}:runs",
                                         direction="maximize", load_if_exists=True)

    def study_named(self, name: str, **kwargs: Any) -> Any:
        return self._optuna.create_study(storage=self.storage, study_name=f"{self.suite}:{name}",
                                         direction="maximize", load_if_exists=True, **kwargs)

    # -- records ---------------------------------------------------------------------------
    def add(self, record: dict[str, Any]) -> None:
        """Write one finished record atomically, outside the queue (imports, tests)."""
        from optuna.trial import TrialState, create_trial

        ok = record["status"] == "ok"
        self.study.add_trial(create_trial(
            state=TrialState.COMPLETE if ok else TrialState.FAIL, value=_value(record) if ok else None,
            user_attrs={SPEC_ATTR: {"run_id": record["run_id"]}, RECORD_ATTR: _plain(record)}))

    def records(self) -> list[dict[str, Any]]:
        """Every finished record, oldest first: successes, and failures with their error."""
        out = []
        for t in self.study.get_trials(deepcopy=False):
            record = t.user_attrs.get(RECORD_ATTR)
            if record is None or not t.state.is_finished():
                continue
            if t.state.name == "COMPLETE" or record.get("status") != "ok":
                out.append(record)
        return out

    def finished(self) -> set[str]:
        """Run ids with a successful record."""
        return {r["run_id"] for r in self.records() if r["status"] == "ok"}

    # -- the queue -------------------------------------------------------------------------
    def _by_run(self) -> dict[str, list[Any]]:
        by_run: dict[str, list[Any]] = {}
        for t in self.study.get_trials(deepcopy=False):
            spec = t.user_attrs.get(SPEC_ATTR)
            if spec:
                by_run.setdefault(spec["run_id"], []).append(t)
        return by_run

    def enqueue(self, specs: list[dict[str, Any]], retry_failed: bool = False) -> int:
        """Enqueue the runs that have no trial yet (or, with ``retry_failed``, only failed ones).

        Two workers may enqueue the same run at once; the copy with the lowest trial number is the
        one that runs (:meth:`take` skips the others), so nothing is trained twice.
        """
        by_run, added = self._by_run(), 0
        for spec in specs:
            trials = by_run.get(spec["run_id"], [])
            if any(t.state.name in ("WAITING", "RUNNING", "COMPLETE") for t in trials):
                continue
            if not retry_failed and any(RECORD_ATTR in t.user_attrs for t in trials):
                continue  # it failed with an error: shown as failed until `--retry-failed`
            # (a trial that failed without a record was interrupted or its worker died: rerun it)
            self.study.enqueue_trial({}, user_attrs={SPEC_ATTR: _plain(spec)})
            added += 1
        return added

    def counts(self) -> dict[str, int]:
        """Trials of the runs study by state (``WAITING``, ``RUNNING``, ``COMPLETE``, ``FAIL``; a run
        that failed without a record, its worker died or was interrupted, is ``DIED``)."""
        counts: dict[str, int] = {}
        for t in self.study.get_trials(deepcopy=False):
            if SPEC_ATTR in t.user_attrs and not _skipped(t):
                state = t.state.name
                if state == "FAIL" and RECORD_ATTR not in t.user_attrs:
                    state = "DIED"
                counts[state] = counts.get(state, 0) + 1
        return counts

    def take(self, execute: Callable[[dict[str, Any]], dict[str, Any] | None]) -> dict[str, Any] | None:
        """Run the next waiting run with ``execute(spec) -> record`` (None: not this grid's run); return
        its record, ``{}`` when the trial popped was not one to run, None when none is waiting."""
        if not self.study.get_trials(deepcopy=False, states=(self._optuna.trial.TrialState.WAITING,)):
            return None
        outcome: dict[str, Any] = {}

        def objective(trial: Any) -> float:
            spec = trial.user_attrs.get(SPEC_ATTR)
            if spec is None or self._superseded(trial, spec["run_id"]):
                # lost the race for the last waiting trial (optimize made a fresh one), or a
                # duplicate enqueue: marked and ignored everywhere
                trial.set_user_attr("skipped", True)
                raise self._optuna.TrialPruned()
            trial.set_user_attr("worker", worker_id())
            record = execute(spec)
            if record is None:  # not a run of this grid (the suite file changed): leave it
                trial.set_user_attr("skipped", True)
                raise self._optuna.TrialPruned()
            trial.set_user_attr(RECORD_ATTR, _plain(record))
            outcome["record"] = record
            if record["status"] != "ok":
                raise RunFailed(record["error"].strip().splitlines()[-1] if record["error"] else "failed")
            return _value(record)

        self.study.optimize(objective, n_trials=1, catch=(RunFailed,), gc_after_trial=False)
        return outcome.get("record", {})

    def _superseded(self, trial: Any, run_id: str) -> bool:
        return any(t.number < trial.number and not _skipped(t)
                   and t.state.name in ("WAITING", "RUNNING", "COMPLETE")
                   for t in self._by_run().get(run_id, []))

    def fail_stale(self, study: Any = None) -> None:
        """Fail (and so re-enqueue) trials whose worker stopped beating: ``optimize`` does it before
        each trial, an idle worker waiting for others calls this."""
        from optuna.storages import fail_stale_trials

        fail_stale_trials(study or self.study)

    def heartbeat_ages(self) -> dict[int, float]:
        """Seconds since the last heartbeat of each running trial, by trial id (empty if unknown).

        Optuna has no public reader for heartbeats; this reads its table, and degrades to nothing
        if a future Optuna moves it."""
        try:
            from datetime import datetime

            from optuna.storages._rdb.models import TrialHeartbeatModel

            with self.storage.scoped_session() as session:
                rows = session.query(TrialHeartbeatModel).all()
                now = datetime.now()
                return {r.trial_id: (now - r.heartbeat).total_seconds() for r in rows}
        except Exception:  # noqa: BLE001 - status is best effort
            return {}


def _skipped(trial: Any) -> bool:
    return bool(trial.user_attrs.get("skipped"))


def _value(record: dict[str, Any]) -> float:
    value = float(record["metrics"]["report"][record["primary_metric"]])
    return value if math.isfinite(value) else float("-inf")


def _plain(obj: Any) -> Any:
    """JSON-safe (Optuna stores attributes as JSON): tuples become lists, NaN stays a float."""
    return json.loads(json.dumps(obj))


def twin_of(run: Any, candidates: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first successful record among ``candidates`` that trained exactly what ``run`` would
    (same options and seed: ``Run.key``), rewritten as ``run``'s. A default run whose options a
    tuning trial tried with the same seed, or tuned options equal to the defaults, are thereby not
    trained twice; the copy says where it came from (``reused``), its costs are the one training's."""
    found = next((r for r in candidates if r.get("run_key") == run.key and r.get("status") == "ok"
                  and r.get("run_id") != run.id and "predictions" in r), None)
    if found is None:
        return None
    record = {k: v for k, v in found.items() if k not in ("tuning", "tuning_seconds", "reused")}
    record.update(run_id=run.id, variant=run.variant, tuned_params=run.params,
                  reused={"run_id": found["run_id"], "variant": found["variant"]})
    return record


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
