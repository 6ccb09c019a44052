"""``tlbench verify``: rerun one stored run and check the new score against the stored ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tlbench.errors import TlbenchError
from tlbench.record import RunRecord


@dataclass(frozen=True)
class Verdict:
    run_id: str
    seed: int
    variant: str
    metric: str
    stored: float  # the same seed's stored score
    now: float
    low: float  # the cell's stored 95% t-interval over seeds (NaN with one seed)
    high: float
    n: int

    @property
    def inside(self) -> bool:
        """The new score is within the stored interval (or equals the stored score of a lone seed)."""
        if self.n < 2 or self.low != self.low:
            return abs(self.now - self.stored) <= 1e-9
        return self.low <= self.now <= self.high


def find_cell(cells: list[Any], cell_id: str) -> Any:
    matches = [c for c in cells if c.id.startswith(cell_id)]
    if len(matches) != 1:
        shown = ", ".join(f"{c.id} ({c.strategy} × {c.task})" for c in cells)
        what = "no cell" if not matches else f"{len(matches)} cells"
        raise TlbenchError(f"{what} with an id starting {cell_id!r}; cells: {shown}")
    return matches[0]


def verify(cell: Any, records: list[RunRecord], execute: Any, seed: int | None = None) -> Verdict:
    """Rerun ``cell``'s reported run for ``seed`` (its tuned options if tuned, else the defaults).

    ``records`` should be the suite's current ones (``records.current``): a tuned run of an older
    tuning of the same cell must not be taken for the reported one."""
    from tlbench.grid import Run
    from tlbench.records import reported
    from tlbench.stats import seed_summary

    mine = reported([r for r in records if r.cell_id == cell.id])
    if not mine:
        raise TlbenchError(f"cell {cell.id} ({cell.strategy} × {cell.task}) has no finished runs to verify")
    ((_, (variant, runs)),) = mine.items()
    seed = runs[0].seed if seed is None else seed
    stored = next((r for r in runs if r.seed == seed), None)
    if stored is None:
        raise TlbenchError(f"cell {cell.id} has no finished run with seed {seed}; seeds: "
                           f"{sorted(r.seed for r in runs)}")
    params = stored.tuned_params
    # the same options and seed as the stored run (its id does not matter: nothing is stored)
    run = Run(cell.with_params(params) if params else cell, seed, variant, "", params)
    record = execute(run, None)
    if not record.ok:
        raise TlbenchError(f"the rerun failed: {record.error_line}")
    summary = seed_summary([r.score() for r in runs])
    return Verdict(stored.run_id, seed, variant, stored.primary_metric, stored.score(), record.score(),
                   summary.t_low, summary.t_high, summary.n)
