"""``tlbench validate --plan``: the size of a suite's work before any compute is spent.

Counts cells, default runs, tuning trials and tuned runs, and estimates the training work as
examples x epochs per run (``Strategy.planned_epochs``): the task's ``max_train_examples`` capped
by the rows of its first mirror file (counted, gzip lines) when the suite reads a mirror. It is an
upper bound where a task carves its selection rows out of train; a seconds budget gives no trial
count (shown as such). Cells trained together (a multitask group) count their trials once and their
examples as each task's share.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any


@lru_cache(maxsize=64)
def _lines(path: str) -> int:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fh:
        return sum(1 for _ in fh)


@dataclass(frozen=True)
class CellPlan:
    strategy: str
    task: str
    train_rows: int | None  # None: unknown (the whole Hub split)
    epochs: float
    runs: int  # default + tuned runs
    trials: int | None  # None: a seconds budget
    #: cells trained together (a multitask group) share this id, their trainings and their trials:
    #: each cell's examples are its own share of the group's work
    group: str = ""

    @property
    def per_run(self) -> float | None:
        return None if self.train_rows is None else self.train_rows * self.epochs

    @property
    def examples(self) -> float | None:
        if self.per_run is None or self.trials is None:
            return None
        return self.per_run * (self.runs + self.trials)


def plan(suite: Any, cells: list[Any], plugins: Any) -> list[CellPlan]:
    out = []
    tuning = suite.tuning
    for c in cells:
        task = plugins.tasks.get(c.task_name).factory(c.task_name, c.task_options)
        rows = c.task_options.max_train_examples
        if suite.data_dir is not None:
            files = [f for f in task.required_files(Path(suite.data_dir)) if f.is_file()]
            if files:
                n = _lines(str(files[0]))
                rows = n if rows is None else min(rows, n)
        tuned = bool(tuning and c.space)
        trials: int | None = 0
        if tuned:
            trials = tuning.budget.trials  # None with a seconds budget
        strategy = plugins.strategies.get(c.strategy_name).factory(c.strategy_name, c.strategy_options)
        out.append(CellPlan(c.strategy, c.task, rows, float(strategy.planned_epochs()),
                            len(c.seeds) * (2 if tuned else 1), trials, c.group_id if c.group else ""))
    return out
