"""``tlbench validate --plan``: the size of a suite's work before any compute is spent.

Counts cells, default runs, tuning trials and tuned runs, and estimates the training examples each
run draws (``Strategy.planned_examples``): rows x epochs, or, where a run is sized in steps (a
suite's ``[training] budget`` in steps or examples becomes the engine's ``max_steps``), steps x
rows per step, and shows the passes over the training rows that makes. The rows are the task's
``max_train_examples`` capped by the rows of its first mirror file (counted, gzip lines) when the
suite reads a mirror. It is an upper bound where a task carves its selection rows out of train; a
seconds budget gives no trial count (shown as such). Cells trained together (a multitask group)
count their trials once and their examples as each task's share. :func:`plan` counts;
:func:`print_plan` draws it (rich, imported there).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@lru_cache(maxsize=64)
def _lines(path: str) -> int:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fh:
        return sum(1 for _ in fh)


@dataclass(frozen=True)
class CellPlan:
    strategy: str
    task: str
    train_rows: int | None  # None: unknown (a whole Hub split or declared file, not counted)
    #: training examples one run draws (``Strategy.planned_examples``); None: unknown
    per_run: float | None
    #: passes over the training rows one run makes (``per_run / train_rows``, or the strategy's
    #: epochs where the rows are unknown and the run scales with them); None: unknown
    passes: float | None
    runs: int  # default + tuned runs
    trials: int | None  # None: a seconds budget
    #: cells trained together (a multitask group) share this id, their trainings and their trials:
    #: each cell's examples are its own share of the group's work
    group: str = ""
    #: the cell's training size and subset (``8/class, subset 2``); "" without those axes
    draw: str = ""

    @property
    def examples(self) -> float | None:
        if self.per_run is None or self.trials is None:
            return None
        return self.per_run * (self.runs + self.trials)


def plan(suite: Any, cells: list[Any], plugins: Any) -> list[CellPlan]:
    out = []
    tuning = suite.tuning
    for c in cells:
        rows = _train_rows(suite, plugins, c.task_name, c.task_options)
        group = [_train_rows(suite, plugins, name, opts) for _, name, opts in c.group]
        tuned = bool(tuning and c.space)
        trials: int | None = 0
        if tuned:
            trials = tuning.budget.trials  # None with a seconds budget
        strategy = plugins.strategies.get(c.strategy_name).factory(c.strategy_name, c.strategy_options)
        per_run = strategy.planned_examples(rows, group=group)
        if per_run is not None and rows:
            passes: float | None = per_run / rows
        elif per_run is None and rows is None and not group:  # a run sized by its unknown rows: its epochs
            passes = float(strategy.planned_epochs())
        else:
            passes = None
        size = getattr(c, "train_size", None)
        subset = getattr(c, "subset", 0)
        shown = [] if size is None else [f"{size:,}" if isinstance(size, int) else str(size)]
        draw = ", ".join(shown + ([f"subset {subset}"] if getattr(suite, "subsets", 1) > 1 else []))
        out.append(CellPlan(c.strategy, c.task, rows, None if per_run is None else float(per_run), passes,
                            len(c.seeds) * (2 if tuned else 1), trials, c.group_id if c.group else "", draw))
    return out


def _train_rows(suite: Any, plugins: Any, name: str, options: Any) -> int | None:
    """A task's training rows: its ``max_train_examples`` (a per-class size: rows per class times
    its classes), capped by its first mirror file's rows."""
    rows: int | None = options.max_train_examples
    per_class = getattr(options, "train_per_class", None)
    if per_class is not None:
        head = plugins.tasks.get(name).factory(name, options).head
        try:
            rows = per_class * int(head.num_labels)
        except Exception:  # noqa: BLE001 - a declared task's classes need its file: unknown here
            rows = None
    if suite.data_dir is not None:
        task = plugins.tasks.get(name).factory(name, options)
        files = [f for f in task.required_files(Path(suite.data_dir)) if f.is_file()]
        if files:
            n = _lines(str(files[0]))
            rows = n if rows is None else min(rows, n)
    return rows


def print_plan(console: Console, suite: Any, cells: list[Any], plugins: Any) -> None:
    """The plan as ``tlbench validate --plan`` prints it: a row per cell, then the totals."""
    from rich.console import Console
    from rich.table import Table

    from tlbench.report import human_count

    plans = plan(suite, cells, plugins)
    table = Table(title=f"{suite.name}: the plan")
    drawn = any(p.draw for p in plans)
    for col in ("strategy", "task", *(["size"] if drawn else []), "train rows", "passes", "examples / run",
                "runs", "trials", "examples"):
        table.add_column(col, justify="left" if col in ("strategy", "task", "size") else "right")
    for p in plans:
        rows = "whole split (not counted)" if p.train_rows is None else f"{p.train_rows:,}"
        table.add_row(p.strategy, p.task, *([p.draw] if drawn else []), rows,
                      "?" if p.passes is None else f"{p.passes:.3g}",
                      "?" if p.per_run is None else human_count(p.per_run), str(p.runs),
                      "by time" if p.trials is None else str(p.trials),
                      "?" if p.examples is None else human_count(p.examples))
    Console(width=max(console.width, 150)).print(table)  # a wide table: not squeezed into 80 columns
    runs = sum(p.runs for p in plans)
    trials = list({p.group or id(p): p.trials for p in plans}.values())  # a group's cells share trials
    known = [p.examples for p in plans if p.examples is not None]
    tuning = (f"tuning {suite.tuning.budget.describe()} per tunable cell" if suite.tuning else "no tuning")
    subsets = getattr(suite, "subsets", 1)
    axis = (f" (training subsets: {subsets} per size below full, each its own cell)" if subsets > 1 else "")
    console.print(f"{len(cells)} cells{axis} × {len(suite.seeds)} seeds; {tuning}: {runs} runs "
                  f"(default and tuned) and {sum(t or 0 for t in trials)} trials"
                  f"{' (plus time-budgeted cells)' if None in trials else ''}; about "
                  f"{human_count(sum(known))} training examples drawn"
                  f"{' (cells with unknown sizes not counted)' if len(known) < len(plans) else ''}. "
                  "A frozen-feature strategy's epochs run over cached features: its encoder work is one "
                  "pass over each split per task, shared by its seeds and trials."
                  + (" A multitask group trains once per seed and trial for all its tasks (its trials "
                     "are counted once)." if any(p.group for p in plans) else ""))
