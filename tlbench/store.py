"""The system of record of a suite's runs, and the queue its workers share (an Optuna study).

Every run (a cell, a seed, the default or the tuned options) is a trial of the suite's ``runs``
study. Runs are *enqueued* trials (``Study.enqueue_trial`` with the run's spec as user attributes);
a worker takes one with ``Study.optimize(n_trials=1)``, which pops a waiting trial atomically
(``RUNNING`` only if it was ``WAITING``), records Optuna's heartbeat while it runs and fails trials
whose heartbeat went stale, which ``RetryHeartbeatStaleTrialCallback`` re-enqueues. The finished
:class:`~tlbench.record.RunRecord` is written as the trial's ``record`` attribute before the trial
is told complete (or failed), so a ``kill -9`` at any moment loses at most the run in progress,
which the heartbeat hands to another worker. There is no other queue or state: a multitask group's
one training per seed is kept here too (:meth:`Store.group_parts`).

Opening the storage is :mod:`tlbench.storage`; which records count is :mod:`tlbench.records`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from tlbench.record import RunRecord, load_record
from tlbench.storage import open_storage, worker_id

RECORD_ATTR = "record"
SPEC_ATTR = "run"


class RunFailed(Exception):
    """Raised inside a trial whose run failed: Optuna stores it as FAIL, the grid goes on."""


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
    def add(self, record: RunRecord) -> None:
        """Write one finished record atomically, outside the queue (imports, tests)."""
        from optuna.trial import TrialState, create_trial

        self.study.add_trial(create_trial(
            state=TrialState.COMPLETE if record.ok else TrialState.FAIL,
            value=_value(record) if record.ok else None,
            user_attrs={SPEC_ATTR: {"run_id": record.run_id}, RECORD_ATTR: _plain(record)}))

    def records(self) -> list[RunRecord]:
        """Every finished record, oldest first: successes, and failures with their error."""
        out = []
        for t in self.study.get_trials(deepcopy=False):
            record = t.user_attrs.get(RECORD_ATTR)
            if record is None or not t.state.is_finished():
                continue
            if t.state.name == "COMPLETE" or record.get("status") != "ok":
                out.append(load_record(record))
        return out

    def finished(self) -> set[str]:
        """Run ids with a successful record."""
        return {r.run_id for r in self.records() if r.ok}

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

    def take(self, execute: Callable[[dict[str, Any]], RunRecord | None]) -> RunRecord | bool | None:
        """Run the next waiting run with ``execute(spec) -> record`` (None: not this grid's run); return
        its record, False when the trial popped was not one to run, None when none is waiting."""
        if not self.study.get_trials(deepcopy=False, states=(self._optuna.trial.TrialState.WAITING,)):
            return None
        outcome: dict[str, RunRecord] = {}

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
            if not record.ok:
                raise RunFailed(record.error_line)
            return _value(record)

        self.study.optimize(objective, n_trials=1, catch=(RunFailed,), gc_after_trial=False)
        return outcome.get("record", False)

    def _superseded(self, trial: Any, run_id: str) -> bool:
        return any(t.number < trial.number and not _skipped(t)
                   and t.state.name in ("WAITING", "RUNNING", "COMPLETE")
                   for t in self._by_run().get(run_id, []))

    # -- a group's one training -------------------------------------------------------------
    def group_parts(self, key: str, train: Callable[[], dict[str, Any]],
                    poll_seconds: float = 1.0) -> tuple[dict[str, Any], bool]:
        """The parts (task label -> JSON part of its record) of the group training ``key``, and
        whether they were read rather than trained here.

        A training is a trial of the suite's ``groups`` study: the first worker to start one for
        ``key`` trains (its trial beats, like a run's); one that finds it running waits for it, and
        one that finds it finished reads it. If the trainer dies, its heartbeat goes stale, its
        trial fails and the next worker trains. So every member of a group, on any machine, carries
        the same training, trained once per seed."""
        import time

        study = self.study_named("groups")
        while True:
            trials = [t for t in study.get_trials(deepcopy=False)
                      if t.user_attrs.get("group") == key and not _skipped(t)]
            done = next((t for t in trials if t.state.name == "COMPLETE"), None)
            if done is not None:
                return done.user_attrs["parts"], True
            if not any(t.state.name == "RUNNING" for t in trials):
                parts = self._train_group(study, key, train)
                if parts is not None:
                    return parts, False
            self.fail_stale(study)
            time.sleep(poll_seconds)

    def _train_group(self, study: Any, key: str,
                     train: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        """Claim ``key`` with a running trial and train; None if another worker's claim came first."""
        import time

        outcome: dict[str, Any] = {}

        def objective(trial: Any) -> float:
            trial.set_user_attr("group", key)
            trial.set_user_attr("worker", worker_id())
            for _ in range(50):  # a claim made just before ours may not carry its key yet
                earlier = [t for t in study.get_trials(deepcopy=False)
                           if t.number < trial.number and t.state.name in ("RUNNING", "COMPLETE")
                           and not _skipped(t)]
                if any(t.user_attrs.get("group") == key for t in earlier):
                    trial.set_user_attr("skipped", True)  # theirs counts: wait for it
                    raise self._optuna.TrialPruned()
                if all("group" in t.user_attrs for t in earlier):
                    break
                time.sleep(0.1)
            outcome["parts"] = train()
            trial.set_user_attr("parts", _plain(outcome["parts"]))
            return 0.0

        # an exception in ``train`` fails the trial and propagates: the run fails with its error
        study.optimize(objective, n_trials=1, gc_after_trial=False)
        return outcome.get("parts")

    def fail_stale(self, study: Any = None) -> None:
        """Fail (and so re-enqueue) trials whose worker stopped beating: ``optimize`` does it before
        each trial, an idle worker waiting for others calls this."""
        from optuna.storages import fail_stale_trials

        fail_stale_trials(study or self.study)

    def heartbeat_ages(self) -> dict[int, float]:
        """Seconds since the last heartbeat of each running trial, by trial id (empty if unknown).

        Optuna has no public reader for heartbeats; this reads its table, and degrades to nothing
        if a future Optuna moves it. Ages are taken against the database's clock, as Optuna's own
        stale-trial check does: the heartbeats are the database's timestamps (UTC on SQLite), so
        this machine's local time, in whatever time zone, must not enter."""
        try:
            import sqlalchemy
            from optuna.storages._rdb.models import TrialHeartbeatModel

            with self.storage.scoped_session() as session:
                now = session.execute(sqlalchemy.func.now()).scalar().replace(tzinfo=None)
                rows = session.query(TrialHeartbeatModel).all()
                return {r.trial_id: (now - r.heartbeat.replace(tzinfo=None)).total_seconds() for r in rows}
        except Exception:  # noqa: BLE001 - status is best effort
            return {}


def _skipped(trial: Any) -> bool:
    return bool(trial.user_attrs.get("skipped"))



def _value(record: RunRecord) -> float:
    value = record.score()
    return value if math.isfinite(value) else float("-inf")


def _plain(obj: Any) -> Any:
    """JSON-safe (Optuna stores attributes as JSON): a record as its JSON form, tuples as lists."""
    if isinstance(obj, RunRecord):
        return obj.to_json()
    return json.loads(json.dumps(obj))
