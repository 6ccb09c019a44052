"""Calibration in the record (``Task.class_scores`` -> ``tlbench.calibration`` -> ``RunRecord.calibration``):
the runner fits the temperature on the selection split and scores the report split, for logits (a
linear probe) and probabilities (the kNN probe's vote shares) on real SST-2 rows with a tiny BERT; a
task without class scores gets none, and a calibration that fails leaves the run standing.
Integration: the runner loads the tiny BERT's tokenizer (torch)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tlbench import calibration as cal
from tlbench import hookimpl
from tlbench.config import load_suite
from tlbench.grid import build_grid
from tlbench.record import RunRecord, load_record
from tlbench.report import leaderboard
from tlbench.runner import Runner
from tlbench.testing import ToyTask, tiny_bert

SST2 = """
models = ["{model}"]
seeds = [0]

[tasks.sst2]
max_train_examples = 64
select_examples = 48
max_eval_examples = 300     # the report rows whose probabilities the record keeps
max_length = 32

[strategies.linear_probe]
epochs = 5

[strategies.probe_knn]
strategy = "linear_probe"
head = "knn"
k = 5
"""

TOY = """
models = ["{model}"]
seeds = [0]

[tasks.toy_calibrated]
select_examples = 32
max_eval_examples = 40

[tasks.broken_calibration]
select_examples = 32
max_eval_examples = 24

[tasks.fake_task]
rows = 20

[strategies.fake_strategy]
"""


class CalibratedToy(ToyTask):
    """The toy task with class scores: its logits and its gold labels."""

    def class_scores(self, outputs: Any, encoded: Any, split: Any) -> tuple[Any, Any] | None:
        return np.asarray(outputs), np.asarray(split["label"])


class BrokenCalibration(ToyTask):
    def class_scores(self, outputs: Any, encoded: Any, split: Any) -> tuple[Any, Any] | None:
        raise RuntimeError("no scores today")


class CalibrationTasks:
    @staticmethod
    @hookimpl
    def register_tasks(register: Any) -> None:
        register("toy_calibrated", CalibratedToy)
        register("broken_calibration", BrokenCalibration)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("tiny"))


def execute(tmp_path: Path, text: str, model: Path) -> dict[str, RunRecord]:
    """Every cell's first run, by ``strategy/task``."""
    from tests import fakes
    from tlbench.plugins import Plugins

    plugins = Plugins(entry_points=False)
    with plugins.temporarily(fakes, name="tlbench-fakes"), \
            plugins.temporarily(CalibrationTasks, name="calibration"):
        path = tmp_path / "calibration.toml"
        path.write_text(text.format(model=model))
        suite = load_suite(path, plugins)
        runner = Runner(suite, plugins, device="cpu", cache_dir=tmp_path / "cache")
        return {f"{cell.strategy}/{cell.task}": runner.execute(cell.runs()[0])
                for cell in build_grid(suite, plugins)}


@pytest.fixture(scope="module")
def sst2(tmp_path_factory: pytest.TempPathFactory, model: Path) -> dict[str, RunRecord]:
    """The SST-2 runs (once per module: the ``data_dir`` fixture is per test, so its check is repeated)."""
    from tests.postgres import _in_ci

    where = os.environ.get("TLBENCH_DATA_DIR")
    if not where or not Path(where).is_dir():
        message = f"no benchmark mirror: TLBENCH_DATA_DIR={where}"
        if _in_ci():
            pytest.fail(f"{message} (CI is set: the tests that read data must run there)", pytrace=False)
        pytest.skip(message)
    return execute(tmp_path_factory.mktemp("sst2"), SST2, model)


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory, model: Path) -> dict[str, RunRecord]:
    return execute(tmp_path_factory.mktemp("toy"), TOY, model)


@pytest.mark.parametrize(("strategy", "scores"), [("linear_probe", "logits"), ("probe_knn", "probabilities")])
def test_classification_records_keep_calibration(sst2: dict[str, RunRecord], strategy: str, scores: str):
    r = sst2[f"{strategy}/sst2"]
    assert r.ok, r.error
    c = r.calibration
    assert c is not None and "calibration_error" not in r.details
    assert c.scores == scores
    # the probabilities' top class is what the task decoded: the same accuracy, before and after scaling
    assert c.accuracy == c.accuracy_scaled == pytest.approx(r.metrics.report["accuracy"])
    assert len(c.probabilities) == len(c.labels) == r.data.sizes["report"] == 300
    # each kept row's top class is the decoded prediction (unless rounding to 4 decimals made a tie)
    rows = [(p, pred) for p, pred in zip(c.probabilities, r.predictions["report"], strict=True)
            if sorted(p)[-1] > sorted(p)[-2]]
    assert len(rows) > 250 and all(int(np.argmax(p)) == pred for p, pred in rows)
    assert len(c.bins) == 15 and sum(b[0] for b in c.bins) == 300
    assert c.temperature > 0 and 0 <= c.ece <= 1 and 0 <= c.brier <= 2 and c.nll >= 0
    # recomputed from what the record keeps (4 decimals): the same numbers
    assert cal.ece(c.probabilities, c.labels) == pytest.approx(c.ece, abs=2e-3)
    assert cal.brier(c.probabilities, c.labels) == pytest.approx(c.brier, abs=2e-3)
    again = load_record(json.loads(json.dumps(r.to_json())))
    assert again.calibration == c


def test_the_record_grows_by_a_few_kilobytes(sst2: dict[str, RunRecord]):
    """300 SST-2 report items: two 4-decimal probabilities and a label each."""
    r = sst2["linear_probe/sst2"]
    full = len(json.dumps(r.to_json()))
    without = len(json.dumps(r.but(calibration=None).to_json()))
    grown = full - without
    print(f"record {without} -> {full} bytes (+{grown}, {grown / 300:.1f} per report item)")
    assert 300 * 10 < grown < 300 * 30


def test_the_leaderboard_has_a_calibration_table(sst2: dict[str, RunRecord]):
    md = leaderboard(list(sst2.values()), "calibration", baseline="linear_probe")
    assert cal.DEFINITION in md
    assert "| strategy | ECE | Brier | NLL | T | ECE scaled | Brier scaled | NLL scaled |" in md
    r = sst2["linear_probe/sst2"].calibration
    assert r is not None and f"{r.temperature:.2f}" in md


def test_a_task_with_class_scores_gets_calibration_and_one_without_none(toy: dict[str, RunRecord]):
    r = toy["fake_strategy/toy_calibrated"]
    assert r.ok, r.error
    assert r.calibration is not None and r.calibration.scores == "probabilities"  # the fake's one-hot rows
    assert r.calibration.accuracy == r.calibration.accuracy_scaled == r.metrics.report["accuracy"]
    none = toy["fake_strategy/fake_task"]
    assert none.ok and none.calibration is None and "calibration_error" not in none.details


def test_a_failing_calibration_does_not_fail_the_run(toy: dict[str, RunRecord]):
    r = toy["fake_strategy/broken_calibration"]
    assert r.ok, r.error
    assert r.metrics is not None and r.calibration is None
    assert r.details["calibration_error"] == "BrokenCalibration calibration: RuntimeError: no scores today"
