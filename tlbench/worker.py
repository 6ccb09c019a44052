"""One worker of a suite: takes the next piece of unfinished work from the shared storage until none is left.

Any number of workers (processes, machines) run this loop on the same suite and storage. The
work, in order of preference:

1. a waiting run (default or tuned options, one seed) from the queue;
2. a tuning trial of the first cell whose budget is not spent;
3. enqueueing the tuned runs (every seed) of a cell whose tuning is finished;
4. if other workers still hold trials or runs, waiting for them (failing those whose heartbeat
   stopped, so they come back to the queue); else the grid is complete.

The default runs of every cell are enqueued first, so a leaderboard of defaults exists early.
Everything lives in the storage; a worker holds nothing another cannot pick up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tlbench.config import Suite
from tlbench.grid import Cell, Run
from tlbench.record import RunRecord, load_record
from tlbench.records import twin_of
from tlbench.store import RECORD_ATTR


@dataclass
class Outcome:
    kind: str  # "run" or "trial"
    record: RunRecord


def spec_of(run: Run, tuning: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the queue keeps of a run (a trial's user attributes): enough to rebuild it."""
    spec = {"run_id": run.id, "cell_id": run.cell.id, "seed": run.seed, "variant": run.variant,
            "tag": run.tag, "params": run.params}
    if tuning is not None:
        spec["tuning"] = tuning
    return spec


class Worker:
    def __init__(self, suite: Suite, cells: list[Cell], store: Any, execute: Callable[..., RunRecord],
                 *, tuner: Any = None, retry_failed: bool = False, poll_seconds: float = 2.0,
                 on_outcome: Callable[[Outcome], None] | None = None):
        self.suite, self.cells, self.store, self.tuner = suite, cells, store, tuner
        self.by_id = {c.id: c for c in cells}
        self.execute, self.retry_failed, self.poll = execute, retry_failed, poll_seconds
        self.on_outcome = on_outcome or (lambda o: None)

    def start(self) -> None:
        """Enqueue what is known before any tuning: the default runs (and, asked, failed trials)."""
        self.store.enqueue([spec_of(r) for c in self.cells for r in c.runs()], self.retry_failed)
        if self.tuner and self.retry_failed:
            for cell in self.cells:
                self.tuner.retry_failed(cell)

    def step(self) -> str:
        """Do one piece of work: "run", "trial", "enqueued", "wait" or "done"."""
        record = self.store.take(self._execute_spec)
        if record is not None:
            if record:
                self.on_outcome(Outcome("run", record))
            return "run"
        if self.tuner is None:
            return self._idle()
        for cell in self.cells:
            state = self.tuner.state(cell)
            if state.open:
                record = self.tuner.run_trial(cell, self.execute)
                if record is not None:
                    if record:
                        self.on_outcome(Outcome("trial", record))
                    return "trial"
            elif state.done and state.best_params is not None and self.tuner.tunable(cell):
                specs = [spec_of(Run(cell, seed, "tuned", cell.tuning_key(self.tuner.tuning),
                                      state.best_params), state.summary()) for seed in cell.seeds]
                if self.store.enqueue(specs, self.retry_failed):
                    return "enqueued"
        return self._idle()

    def _idle(self) -> str:
        counts = self.store.counts()
        busy = counts.get("RUNNING", 0) + counts.get("WAITING", 0)
        if self.tuner is not None:
            busy += sum(self.tuner.state(c).live for c in self.cells)
        if not busy:
            return "done"
        self.store.fail_stale()
        if self.tuner is not None:
            for cell in self.cells:
                self.tuner.fail_stale(cell)
        time.sleep(self.poll)
        return "wait"

    def run(self, stop: Callable[[], bool] = lambda: False) -> None:
        self.start()
        while not stop() and self.step() != "done":
            pass

    def _execute_spec(self, spec: dict[str, Any]) -> RunRecord | None:
        cell = self.by_id.get(spec["cell_id"])
        if cell is None:  # enqueued for an earlier version of the suite file: not ours to run
            return None
        params = spec.get("params") or {}
        run = Run(cell.with_params(params) if params else cell, spec["seed"], spec["variant"],
                  spec.get("tag", ""), params)
        record = self._twin(run) or self.execute(run, None)
        if "tuning" in spec:
            record = record.but(tuning=spec["tuning"])
        return record

    def _twin(self, run: Run) -> RunRecord | None:
        """A finished run's or trial's record of exactly ``run``'s training (``store.twin_of``)."""
        candidates = self.store.records()
        if self.tuner is not None and self.tuner.tunable(run.cell):
            candidates += [load_record(t.user_attrs[RECORD_ATTR]) for t in self.tuner.trials(run.cell)
                           if t.state.name == "COMPLETE" and RECORD_ATTR in t.user_attrs]
        return twin_of(run, candidates)
