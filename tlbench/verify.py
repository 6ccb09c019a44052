"""``tlbench verify``: rerun one stored run and check the new score against the stored ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tlbench.errors import TlbenchError


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


def verify(cell: Any, records: list[dict[str, Any]], execute: Any, seed: int | None = None) -> Verdict:
    """Rerun ``cell``'s reported run for ``seed`` (its tuned options if tuned, else the defaults)."""
    from tlbench.grid import Run
    from tlbench.stats import seed_summary
    from tlbench.store import latest

    mine = [r for r in latest(records) if r.get("cell_id") == cell.id and r["status"] == "ok"]
    tuned = [r for r in mine if r.get("variant") == "tuned"]
    reported = tuned or [r for r in mine if r.get("variant", "default") == "default"]
    if not reported:
        raise TlbenchError(f"cell {cell.id} ({cell.strategy} × {cell.task}) has no finished runs to verify")
    seed = reported[0]["seed"] if seed is None else seed
    stored = next((r for r in reported if r["seed"] == seed), None)
    if stored is None:
        raise TlbenchError(f"cell {cell.id} has no finished run with seed {seed}; seeds: "
                           f"{sorted(r['seed'] for r in reported)}")
    metric = stored["primary_metric"]
    params = stored.get("tuned_params") or {}
    # the same options and seed as the stored run (its id does not matter: nothing is stored)
    variant = stored.get("variant", "default")
    run = Run(cell.with_params(params) if params else cell, seed, variant, "", params)
    record = execute(run, None)
    if record["status"] != "ok":
        raise TlbenchError(f"the rerun failed: {record['error'].strip().splitlines()[-1]}")
    summary = seed_summary([float(r["metrics"]["report"][metric]) for r in reported])
    return Verdict(stored["run_id"], seed, stored.get("variant", "default"), metric,
                   float(stored["metrics"]["report"][metric]), float(record["metrics"]["report"][metric]),
                   summary.t_low, summary.t_high, summary.n)
