"""Suite -> cells, pure and deterministic.

A cell is one (model, task, strategy) with its resolved options, at one training size and training
subset when the suite has those axes; a run is a cell and a seed. Ids
are derived from the resolved configuration, so renaming a table label or reordering the file
keeps them, and changing any option that matters gives a new id (and a fresh result).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from tlbench.cells import at_size, cell_space, merged_options, subsets_of, task_group
from tlbench.config import Suite
from tlbench.interfaces import Options
from tlbench.plugins import Plugins, get_plugins
from tlbench.record import TrainSize


@dataclass(frozen=True)
class Cell:
    id: str
    model: str
    task: str  # the task's label in the suite
    task_name: str  # the registered task
    task_options: Options
    strategy: str  # the strategy's label in the suite (what the leaderboard shows)
    strategy_name: str  # the registered strategy
    strategy_options: Options
    seeds: tuple[int, ...]
    #: what tuning may change (option -> ``tlbench.space`` param); empty: nothing to tune
    space: dict[str, Any] = field(default_factory=dict, compare=False)
    #: the suite's ``train_sizes`` value this cell runs at (None: no such axis)
    train_size: TrainSize | None = None
    #: for a strategy that trains tasks together (``Strategy.task_group``): every task of the group,
    #: this one included, as (label, registered name, options); empty for single-task strategies
    group: tuple[tuple[str, str, Options], ...] = ()
    #: which draw of the training rows (the suite's ``subsets`` axis; ``TaskOptions.train_subset``,
    #: part of the task options and so of the id, except subset 0, which keeps the id it had)
    subset: int = 0

    def resolved(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "task": {"name": self.task_name, "options": self.task_options.identity()},
            "strategy": {"name": self.strategy_name, "options": self.strategy_options.identity()},
        }
        if self.group:
            out["group"] = [{"label": label, "name": name, "options": opts.identity()}
                            for label, name, opts in self.group]
        return out

    @property
    def group_id(self) -> str:
        """What the cells trained together share (the id of their one training per seed); a
        single-task cell's own id."""
        if not self.group:
            return self.id
        return stable_id({k: v for k, v in self.resolved().items() if k != "task"})

    @property
    def where(self) -> str:
        """The task label with the cell's training size and subset when it has those axes, e.g.
        ``sst2 [8/class, subset 2]`` (how tables tell a task's cells apart)."""
        parts = [] if self.train_size is None else [
            f"{self.train_size:,}" if isinstance(self.train_size, int) else str(self.train_size)]
        parts += [f"subset {self.subset}"] if self.subset else []
        return f"{self.task} [{', '.join(parts)}]" if parts else self.task

    def runs(self) -> list[Run]:
        """The runs of the default options, one per seed."""
        return [Run(self, seed) for seed in self.seeds]

    def tuning_key(self, tuning: Any) -> str:
        """Identifies this cell's tuning: its options, space, budget and sampler seed. Changing any of
        them starts a fresh study (and fresh tuned runs); the default runs keep their ids."""
        from tlbench.space import as_json

        how = tuning.model_dump(mode="json")
        return stable_id({"cell": self.group_id, "space": as_json(self.space), "tuning": how})

    def with_params(self, params: dict[str, Any]) -> Cell:
        """The same cell with tuned ``params`` applied to its strategy options (validated)."""
        from tlbench.space import apply

        return replace(self, strategy_options=apply(self.strategy_options, params))


@dataclass(frozen=True)
class Run:
    """One training of a cell with one seed: the default options (``variant="default"``), the best
    options found by tuning (``"tuned"``), or a tuning trial (``"trial"``, its number in ``tag``)."""

    cell: Cell
    seed: int
    variant: str = "default"
    tag: str = ""  # tuned: the tuning key; trial: the study's trial number
    params: dict[str, Any] = field(default_factory=dict, compare=False)  # the tuned values

    @property
    def key(self) -> str:
        """What the training computes: the resolved options (tuned values applied) and the seed.
        Two runs with one key train identically (a default run and the tuned run of the same seed
        whose tuned options are the defaults): the second reuses the first's record."""
        return stable_id({"config": self.cell.resolved(), "seed": self.seed})

    @property
    def trial_number(self) -> int | None:
        """A trial's number in its cell's tuning study (None for other runs)."""
        return int(self.tag) if self.variant == "trial" and self.tag else None

    @property
    def tuning_key(self) -> str | None:
        """A tuned run's tuning key (``Cell.tuning_key``; None for other runs)."""
        return self.tag if self.variant == "tuned" else None

    @property
    def id(self) -> str:
        if self.variant == "default":
            return f"{self.cell.id}-s{self.seed}"
        return f"{self.cell.id}-{self.variant}{self.tag}-s{self.seed}"


def stable_id(config: dict[str, Any]) -> str:
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def build_grid(suite: Suite, plugins: Plugins | None = None) -> list[Cell]:
    """Cells in suite order: models, then tasks, then strategies."""
    plugins = plugins or get_plugins()
    cells = []
    for model in suite.models:
        for task in suite.tasks:
            for strategy in suite.strategies:
                if suite.skips(strategy.label, task.label, model):
                    continue  # the suite leaves this cell out ([[overrides]] skip = true)
                s_opts, t_opts = merged_options(suite, plugins, strategy, task, model)
                space, _ = cell_space(suite, plugins, strategy, task, model)
                labels = task_group(suite, plugins, strategy, s_opts)
                if labels is not None and task.label not in labels:
                    continue  # this strategy's group does not include the task
                members = [(t, merged_options(suite, plugins, strategy, t, model)[1])
                           for t in suite.tasks if t.label in (labels or ())]
                for size in suite.train_sizes or (None,):
                    for subset in range(subsets_of(suite, at_size(t_opts, size))):
                        group = tuple((t.label, t.name, at_size(opts, size, subset)) for t, opts in members)
                        partial = Cell("", model, task.label, task.name, at_size(t_opts, size, subset),
                                       strategy.label, strategy.name, s_opts, suite.seeds, space, size, group,
                                       subset)
                        cells.append(replace(partial, id=stable_id(partial.resolved())))
    return cells


def build_runs(cells: list[Cell]) -> list[Run]:
    return [run for cell in cells for run in cell.runs()]
