"""Suite -> cells, pure and deterministic.

A cell is one (model, task, strategy) with its resolved options; a run is a cell and a seed. Ids
are derived from the resolved configuration, so renaming a table label or reordering the file
keeps them, and changing any option that matters gives a new id (and a fresh result).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from tlbench.config import Suite, merged_options
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

    def resolved(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "task": {"name": self.task_name, "options": self.task_options.model_dump(mode="json")},
            "strategy": {"name": self.strategy_name,
                         "options": self.strategy_options.model_dump(mode="json")},
        }

    def runs(self) -> list[Run]:
        return [Run(self, seed) for seed in self.seeds]


@dataclass(frozen=True)
class Run:
    cell: Cell
    seed: int

    @property
    def id(self) -> str:
        return f"{self.cell.id}-s{self.seed}"


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
                partial = Cell("", model, task.label, task.name, t_opts, strategy.label,
                               strategy.name, s_opts, suite.seeds)
                cells.append(replace(partial, id=stable_id(partial.resolved())))
    return cells


def build_runs(cells: list[Cell]) -> list[Run]:
    return [run for cell in cells for run in cell.runs()]
