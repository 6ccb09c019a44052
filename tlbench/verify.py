"""``tlbench verify``: rerun one stored run and check the new score against the stored ones.

Two checks, by whether the seed has a stored run in the cell:

- the same seed: the rerun should reproduce the stored run, so it passes iff
  ``|now - stored| <= tolerance``, an absolute tolerance in the metric's units declared per device
  (:data:`DEFAULT_TOLERANCE`, or ``--tolerance``);
- a new seed: the rerun is one more draw from the seed distribution, so it passes iff it lies inside
  the 95% prediction interval for one new observation from the ``n`` stored seeds,
  ``mean ± t(n-1, 0.975) · sd · sqrt(1 + 1/n)``. With fewer than two stored seeds, or an sd of 0,
  there is no interval and the check cannot be made (:attr:`Verdict.checkable` is False).

Either way |Δ| is also given in units of the stored seeds' sd (how large a difference is compared
with what changing the seed does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Final

from tlbench.errors import TlbenchError
from tlbench.record import RunRecord

#: The absolute tolerance of a same-seed rerun, in the primary metric's own units, per device kind.
#:
#: - ``cpu``: the engine's CPU kernels are deterministic. Reruns on the same machine reproduced the
#:   stored score exactly (|Δ| 0) when checked by hand for this change (a tiny BERT, full_finetune and
#:   LoRA on 64 SST-2 rows, three seeds each) and in tests/integration/test_cli_verify.py, so the
#:   tolerance only absorbs float noise (1e-6). Another CPU (instruction set, BLAS, thread count) may
#:   not reproduce bit for bit: verify says when the device's name differs.
#: - ``cuda`` and ``mps``: a choice, NOT MEASURED in this project. The engine does not switch on
#:   deterministic algorithms, and GPU kernels (atomic adds in backward passes, TF32, bf16 autocast)
#:   change the order of float sums, so a rerun can flip a few borderline predictions. 5e-3 is half
#:   a point of a 0-1 metric: about four flipped items of an 872-item report split (1.1e-3 each),
#:   not one of a 150-item split (6.7e-3); it is near the smallest seed sds of
#:   results/glue_small (5e-3 to 7e-3), so a rerun within it differs by less than a seed change.
#:   Metrics in percent (SQuAD's F1 and exact match, 0-100) need 100 times more: pass
#:   ``--tolerance``, as for any GPU whose reruns say otherwise.
#:
#: A device kind not listed here (or not recorded) gets the loosest value of the table.
DEFAULT_TOLERANCE: Final[dict[str, float]] = {"cpu": 1e-6, "cuda": 5e-3, "mps": 5e-3}

#: the confidence of the prediction interval for a new seed
LEVEL: Final = 0.95


def device_kind(record: RunRecord) -> str:
    """The device a record ran on, without its index (``cuda:1`` -> ``cuda``); "" if not recorded."""
    return record.provenance.device.get("device", "").split(":")[0]


def tolerance_for(*kinds: str) -> float:
    """The declared tolerance of a same-seed rerun: the loosest over the devices involved."""
    loosest = max(DEFAULT_TOLERANCE.values())
    return max(DEFAULT_TOLERANCE.get(k, loosest) for k in kinds)


def prediction_interval(scores: tuple[float, ...] | list[float]) -> tuple[float, float] | None:
    """The 95% prediction interval of one new seed's score from the stored ``scores``
    (``mean ± t(n-1, 0.975) · sd · sqrt(1 + 1/n)``); None with fewer than two seeds or an sd of 0."""
    from scipy import stats as st

    n = len(scores)
    if n < 2:
        return None
    mean, sd = _mean(scores), _sd(scores)
    if not sd > 0:
        return None
    half = float(st.t.ppf((1 + LEVEL) / 2, n - 1)) * sd * math.sqrt(1 + 1 / n)
    return mean - half, mean + half


@dataclass(frozen=True)
class Verdict:
    """A rerun's score against the stored ones: the same seed's stored score (``stored`` set) or, for a
    seed with no stored run, the prediction interval over the stored seeds (``interval``)."""

    seed: int
    variant: str
    metric: str
    now: float  # the rerun's score
    now_device: str  # the device kind it ran on ("cpu", "cuda", ...)
    scores: tuple[float, ...]  # the stored scores of the cell's reported runs, one per seed
    run_id: str | None = None  # same seed: the stored run
    stored: float | None = None  # same seed: its stored score
    stored_device: str = ""  # same seed: the device kind it ran on
    tolerance: float | None = None  # same seed: the absolute tolerance applied
    interval: tuple[float, float] | None = None  # new seed: the 95% prediction interval, if any
    note: str = ""  # same seed: the stored run and the rerun ran on different devices

    @property
    def same_seed(self) -> bool:
        return self.stored is not None

    @property
    def n(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float:
        return _mean(self.scores)

    @property
    def sd(self) -> float:
        """The sample sd of the stored seeds' scores (NaN with one seed)."""
        return _sd(self.scores)

    @property
    def delta(self) -> float:
        """|now - stored| for the same seed; |now - mean of the stored seeds| for a new one."""
        return abs(self.now - (self.stored if self.stored is not None else self.mean))

    @property
    def delta_sd(self) -> float | None:
        """|Δ| in units of the stored seeds' sd; None when that sd is unknown (one seed) or 0."""
        sd = self.sd
        return self.delta / sd if sd > 0 else None

    @property
    def checkable(self) -> bool:
        """There is something to check against: a stored same-seed run, or a prediction interval."""
        return self.same_seed or self.interval is not None

    @property
    def passed(self) -> bool:
        if self.stored is not None:
            return self.tolerance is not None and self.delta <= self.tolerance
        if self.interval is None:
            return False
        low, high = self.interval
        return low <= self.now <= high


def find_cell(cells: list[Any], cell_id: str) -> Any:
    matches = [c for c in cells if c.id.startswith(cell_id)]
    if len(matches) != 1:
        shown = ", ".join(f"{c.id} ({c.strategy} × {c.task})" for c in cells)
        what = "no cell" if not matches else f"{len(matches)} cells"
        raise TlbenchError(f"{what} with an id starting {cell_id!r}; cells: {shown}")
    return matches[0]


def verify(cell: Any, records: list[RunRecord], execute: Any, seed: int | None = None,
           tolerance: float | None = None) -> Verdict:
    """Rerun ``cell``'s reported run for ``seed`` (its tuned options if tuned, else the defaults;
    default: the first stored seed) and compare it with the stored same-seed run, or with the
    prediction interval over the stored seeds when ``seed`` has no stored run. ``tolerance``
    overrides the declared one (:data:`DEFAULT_TOLERANCE`) of a same-seed rerun.

    ``records`` should be the suite's current ones (``records.current``): a tuned run of an older
    tuning of the same cell must not be taken for the reported one."""
    from tlbench.grid import Run
    from tlbench.records import reported

    if tolerance is not None and not tolerance >= 0:
        raise TlbenchError(f"--tolerance must be 0 or more, not {tolerance}")
    mine = reported([r for r in records if r.cell_id == cell.id])
    if not mine:
        raise TlbenchError(f"cell {cell.id} ({cell.strategy} × {cell.task}) has no finished runs to verify")
    ((_, (variant, runs)),) = mine.items()
    seed = runs[0].seed if seed is None else seed
    stored = next((r for r in runs if r.seed == seed), None)
    # a cell's reported runs share their options (a tuned cell's come from one tuning)
    params = (stored or runs[0]).tuned_params
    # the same options as the stored runs (the id does not matter: nothing is stored)
    run = Run(cell.with_params(params) if params else cell, seed, variant, "", params)
    record = execute(run, None)
    if not record.ok:
        raise TlbenchError(f"the rerun failed: {record.error_line}")
    scores = tuple(r.score() for r in runs)
    verdict = Verdict(seed, variant, runs[0].primary_metric, record.score(), device_kind(record), scores)
    if stored is None:
        return replace(verdict, interval=prediction_interval(scores))
    kinds = device_kind(stored), device_kind(record)
    return replace(verdict, run_id=stored.run_id, stored=stored.score(), stored_device=kinds[0],
                   tolerance=tolerance_for(*kinds) if tolerance is None else tolerance,
                   note=_device_note(stored, record, given=tolerance is not None))


def _device_note(stored: RunRecord, rerun: RunRecord, given: bool) -> str:
    """What differs between the devices of a stored run and its rerun ("" when nothing does)."""
    a, b = stored.provenance.device, rerun.provenance.device
    kinds = device_kind(stored) or "an unrecorded device", device_kind(rerun)
    if kinds[0] != kinds[1]:
        return (f"stored on {kinds[0]}, rerun on {kinds[1]}"
                + ("" if given else ": the looser of their tolerances applies"))
    if a.get("name", "") != b.get("name", ""):
        names = a.get("name") or f"an unnamed {kinds[0]}", b.get("name") or kinds[1]
        return f"stored on {names[0]}, rerun on {names[1]}: other hardware need not reproduce the run exactly"
    return ""


def _mean(values: tuple[float, ...] | list[float]) -> float:
    return math.fsum(values) / len(values) if values else float("nan")


def _sd(values: tuple[float, ...] | list[float]) -> float:
    n = len(values)
    if n < 2:
        return float("nan")
    if min(values) == max(values):
        return 0.0  # exactly, whatever the rounding of the mean
    mean = _mean(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
