"""Suite -> cells, pure and deterministic.

A cell is one (model, task, strategy) with its resolved options; a run is a cell and a seed. Ids
are derived from the resolved configuration, so renaming a table label or reordering the file
keeps them, and changing any option that matters gives a new id (and a fresh result).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from tlbench.config import Suite, cell_space, merged_options
from tlbench.interfaces import Options
from tlbench.plugins import Plugins, get_plugins


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
    train_size: int | str | None = None

    def resolved(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "task": {"name": self.task_name, "options": self.task_options.model_dump(mode="json")},
            "strategy": {"name": self.strategy_name,
                         "options": self.strategy_options.model_dump(mode="json")},
        }

    def runs(self) -> list[Run]:
        """The runs of the default options, one per seed."""
        return [Run(self, seed) for seed in self.seeds]

    def tuning_key(self, tuning: Any) -> str:
        """Identifies this cell's tuning: its options, space, budget and sampler seed. Changing any of
        them starts a fresh study (and fresh tuned runs); the default runs keep their ids."""
        from tlbench.space import as_json

        how = tuning.model_dump(mode="json")
        return stable_id({"cell": self.id, "space": as_json(self.space), "tuning": how})

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
                s_opts, t_opts = merged_options(suite, plugins, strategy, task, model)
                space, _ = cell_space(suite, plugins, strategy, task, model)
                for size in suite.train_sizes or (None,):
                    opts = t_opts if size is None else type(t_opts).model_validate(
                        {**t_opts.model_dump(exclude_unset=True),
                         "max_train_examples": None if size == "full" else size})
                    partial = Cell("", model, task.label, task.name, opts, strategy.label,
                                   strategy.name, s_opts, suite.seeds, space, size)
                    cells.append(replace(partial, id=stable_id(partial.resolved())))
    return cells


def build_runs(cells: list[Cell]) -> list[Run]:
    return [run for cell in cells for run in cell.runs()]
