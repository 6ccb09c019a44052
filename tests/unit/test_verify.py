"""``tlbench.verify``: a same seed against its stored score (a tolerance per device), a new seed against
the prediction interval over the stored seeds. Fake records and a fake ``execute`` (nothing trains)."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest

from tests.records import record
from tlbench.errors import TlbenchError
from tlbench.record import RunRecord
from tlbench.verify import DEFAULT_TOLERANCE, Verdict, prediction_interval, tolerance_for, verify

CELL_ID = "full_finetune-sst2"  # tests.records.record's cell id


def cell() -> Any:
    fake = SimpleNamespace(id=CELL_ID, strategy="full_finetune", task="sst2", tuned_with={})
    fake.with_params = lambda params: SimpleNamespace(**{**vars(fake), "tuned_with": params})
    return fake


def on(r: RunRecord, device: str, name: str | None = None) -> RunRecord:
    """``r`` as if it had run on ``device`` (named ``name``, default: the device)."""
    return r.but(provenance=r.provenance.model_copy(
        update={"device": {"device": device, "name": name or device}}))


def stored(*scores: float) -> list[RunRecord]:
    return [record(seed=i, score=s) for i, s in enumerate(scores)]


def rerun(score: float, device: str = "cpu", name: str | None = None, seen: list[Any] | None = None) -> Any:
    """A fake ``Runner.execute`` whose run scores ``score`` on ``device``."""
    def execute(run: Any, report: Any) -> RunRecord:
        assert report is None
        if seen is not None:
            seen.append(run)
        return on(record(seed=run.seed, score=score), device, name)
    return execute


# -- the same seed: its stored score, within a tolerance declared per device ---------------------
def test_a_same_seed_rerun_that_reproduces_the_stored_score_passes():
    v = verify(cell(), stored(0.80, 0.82, 0.84), rerun(0.82), seed=1)
    assert v.same_seed and v.checkable and v.passed
    assert (v.run_id, v.stored, v.now, v.delta) == ("full_finetune-sst2-s1", 0.82, 0.82, 0.0)
    assert v.tolerance == DEFAULT_TOLERANCE["cpu"] == 1e-6
    assert v.stored_device == v.now_device == "cpu" and v.note == ""
    assert v.delta_sd == 0.0


def test_a_same_seed_rerun_is_held_to_the_tolerance_not_to_the_seed_spread():
    # 0.83 lies well inside the seeds' interval of the mean, but seed 1 stored 0.82: it must reproduce
    v = verify(cell(), stored(0.80, 0.82, 0.84), rerun(0.83), seed=1)
    assert not v.passed and v.checkable
    assert v.delta == pytest.approx(0.01)
    assert v.delta_sd == pytest.approx(0.5)  # |Δ| 0.01 over the seeds' sd 0.02
    # within the tolerance: a float's last bits
    assert verify(cell(), stored(0.80, 0.82, 0.84), rerun(0.82 + 5e-7), seed=1).passed
    assert not verify(cell(), stored(0.80, 0.82, 0.84), rerun(0.82 + 2e-6), seed=1).passed


def test_the_tolerance_option_overrides_the_declared_one():
    assert verify(cell(), stored(0.80, 0.82, 0.84), rerun(0.83), seed=1, tolerance=0.02).tolerance == 0.02
    assert verify(cell(), stored(0.80, 0.82, 0.84), rerun(0.83), seed=1, tolerance=0.02).passed
    with pytest.raises(TlbenchError, match="--tolerance must be 0 or more"):
        verify(cell(), stored(0.8), rerun(0.8), tolerance=-1.0)


def test_the_default_seed_is_the_first_stored_and_one_stored_seed_leaves_the_sd_unknown():
    v = verify(cell(), stored(0.8), rerun(0.8))
    assert v.seed == 0 and v.passed and v.n == 1
    assert math.isnan(v.sd) and v.delta_sd is None


def test_devices_that_differ_are_said_and_get_the_looser_tolerance():
    records = [on(r, "cuda:1", "NVIDIA H100") for r in stored(0.80, 0.82, 0.84)]
    v = verify(cell(), records, rerun(0.823), seed=1)
    assert (v.stored_device, v.now_device) == ("cuda", "cpu")
    assert v.tolerance == DEFAULT_TOLERANCE["cuda"] > DEFAULT_TOLERANCE["cpu"]
    assert v.passed  # 0.003 <= 5e-3, which a CPU-to-CPU rerun would fail
    assert v.note == "stored on cuda, rerun on cpu: the looser of their tolerances applies"
    # the same kind on other hardware: the tolerance stays, the difference is said
    same = verify(cell(), stored(0.80, 0.82, 0.84), rerun(0.82, "cpu", "AMD EPYC"), seed=1)
    assert same.tolerance == 1e-6 and same.passed
    assert same.note == "stored on cpu, rerun on AMD EPYC: other hardware need not reproduce the run exactly"
    # given, the tolerance is not the looser one
    given = verify(cell(), records, rerun(0.823), seed=1, tolerance=1e-3)
    assert not given.passed and given.note == "stored on cuda, rerun on cpu"


def test_tolerance_for_takes_the_loosest_and_an_unknown_device_the_loosest_declared():
    assert tolerance_for("cpu") == 1e-6
    assert tolerance_for("cpu", "cpu") == 1e-6
    assert tolerance_for("cpu", "mps") == DEFAULT_TOLERANCE["mps"]
    assert tolerance_for("", "cpu") == tolerance_for("xpu") == max(DEFAULT_TOLERANCE.values())


# -- a new seed: the prediction interval over the stored seeds -----------------------------------
#: 0.80, 0.82, 0.84: mean 0.82, sd 0.02, n 3; t(2, 0.975) = 4.302653 (tables: 4.303);
#: half width 4.302653 · 0.02 · sqrt(1 + 1/3) = 0.0993655 -> [0.7206345, 0.9193655]
#: (the 95% interval of the mean, 0.82 ± 4.302653 · 0.02 / sqrt(3) = 0.82 ± 0.0497, is 2x narrower)
PI = (0.82 - 0.0993655, 0.82 + 0.0993655)


def test_the_prediction_interval_by_hand():
    low, high = prediction_interval([0.80, 0.82, 0.84]) or (math.nan, math.nan)
    assert low == pytest.approx(PI[0], abs=1e-6) and high == pytest.approx(PI[1], abs=1e-6)
    assert prediction_interval([0.8]) is None  # one seed: no sd
    assert prediction_interval([0.1, 0.1, 0.1]) is None  # sd 0: no interval
    assert prediction_interval([]) is None


def test_a_new_seed_inside_the_prediction_interval_passes():
    seen: list[Any] = []
    v = verify(cell(), stored(0.80, 0.82, 0.84), rerun(0.91, seen=seen), seed=7)
    assert seen[0].seed == 7 and seen[0].variant == "default"
    assert not v.same_seed and v.stored is None and v.run_id is None and v.tolerance is None
    assert v.interval == pytest.approx(PI, abs=1e-6)
    assert v.passed and v.checkable  # outside the interval of the mean (0.870), inside the PI
    assert v.delta == pytest.approx(0.09) and v.delta_sd == pytest.approx(4.5)


def test_a_new_seed_outside_the_prediction_interval_fails():
    v = verify(cell(), stored(0.80, 0.82, 0.84), rerun(0.93), seed=7)
    assert v.checkable and not v.passed
    assert not verify(cell(), stored(0.80, 0.82, 0.84), rerun(0.72), seed=7).passed


def test_a_new_seed_with_one_stored_seed_or_no_spread_is_not_checkable():
    one = verify(cell(), stored(0.8), rerun(0.85), seed=3)
    assert one.interval is None and not one.checkable and not one.passed
    assert one.delta == pytest.approx(0.05) and one.delta_sd is None and one.n == 1
    flat = verify(cell(), stored(0.5, 0.5), rerun(0.5), seed=3)
    assert flat.interval is None and not flat.checkable and not flat.passed and flat.sd == 0.0


def test_a_tuned_cell_reruns_its_tuned_options_for_a_new_seed_too():
    tuned = [r.but(variant="tuned", run_id=f"{r.run_id}-tuned", tuned_params={"lr": 0.01}, tuning_key="k")
             for r in stored(0.80, 0.82, 0.84)]
    seen: list[Any] = []
    v = verify(cell(), [*stored(0.5, 0.5, 0.5), *tuned], rerun(0.81, seen=seen), seed=9)
    assert v.variant == "tuned" and v.passed
    assert seen[0].params == {"lr": 0.01} and seen[0].cell.tuned_with == {"lr": 0.01}


def test_a_failed_rerun_and_a_cell_without_runs_are_errors():
    def failing(run: Any, report: Any) -> RunRecord:
        return record(seed=run.seed, status="failed")
    with pytest.raises(TlbenchError, match="the rerun failed: RuntimeError: out of memory"):
        verify(cell(), stored(0.8), failing)
    with pytest.raises(TlbenchError, match="has no finished runs"):
        verify(cell(), [record(strategy="other")], rerun(0.8))


def test_verdict_is_frozen():
    v = Verdict(0, "default", "accuracy", 0.8, "cpu", (0.8,), stored=0.8, tolerance=0.0)
    assert v.passed
    with pytest.raises(AttributeError):
        v.now = 0.9  # type: ignore[misc]
