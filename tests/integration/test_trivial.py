"""Trivial baselines in the record (``Task.trivial_predictions`` -> ``RunRecord.trivial``): the runner
scores a task's baseline on the run's own report split, next to the run's metrics, and a baseline
that fails leaves the run standing. Integration: the runner loads a tiny BERT's tokenizer (torch).
The built-in tasks' baselines are checked where their tests are (tests/plugins/test_glue.py,
test_conll.py, test_squad.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tlbench import TaskData, TaskOptions, hookimpl
from tlbench.config import load_suite
from tlbench.grid import build_grid
from tlbench.record import RunRecord, Trivial, load_record
from tlbench.runner import Runner
from tlbench.testing import ToyTask, tiny_bert

TOY = {"max_train_examples": 64, "select_examples": 32, "max_eval_examples": 40, "max_length": 16}

SUITE = """
models = ["{model}"]
seeds = [0]

[tasks.toy]
max_train_examples = 64
select_examples = 32
max_eval_examples = 40      # the report split the run and its baseline are scored on
max_length = 16

[tasks.broken_trivial]
select_examples = 32
max_eval_examples = 24
max_length = 16

[tasks.fake_task]
rows = 20

[strategies.fake_strategy]
"""


class BrokenTrivial(ToyTask):
    """The toy task with a baseline that fails."""

    def trivial_predictions(self, data: TaskData) -> tuple[str, Any] | None:
        raise RuntimeError("no baseline today")


class TrivialTasks:
    """A plugin registering the toy task (whose baseline is the training majority) and the broken one."""

    @staticmethod
    @hookimpl
    def register_tasks(register: Any) -> None:
        register("toy", ToyTask)
        register("broken_trivial", BrokenTrivial)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory, model: Path) -> dict[str, RunRecord]:
    """One run of the fake strategy (it predicts the training majority) on each task, by task."""
    from tests import fakes
    from tlbench.plugins import Plugins

    tmp_path = tmp_path_factory.mktemp("trivial")
    plugins = Plugins(entry_points=False)
    with plugins.temporarily(fakes, name="tlbench-fakes"), plugins.temporarily(TrivialTasks, name="trivial"):
        path = tmp_path / "trivial.toml"
        path.write_text(SUITE.format(model=model))
        suite = load_suite(path, plugins)
        runner = Runner(suite, plugins, device="cpu", cache_dir=tmp_path / "cache")
        return {cell.task: runner.execute(cell.runs()[0]) for cell in build_grid(suite, plugins)}


def test_every_record_carries_the_baseline_on_its_report_split(records: dict[str, RunRecord]):
    record = records["toy"]
    assert record.ok, record.error
    assert record.trivial is not None and record.metrics is not None and record.data is not None
    assert record.data.sizes["report"] == 40  # the suite's cap: the baseline is scored on those rows
    # computed apart: the majority of the run's 64 training rows, scored on its 40 report rows
    data = ToyTask("toy", TaskOptions(**TOY)).load(None)
    train, report = list(data.splits["train"]["label"]), list(data.splits["report"]["label"])
    majority = max(sorted(set(train)), key=train.count)
    name = ("negative", "positive")[majority]
    assert record.trivial.method == f"majority class {name!r} of the training split"
    assert record.trivial.metrics == {"accuracy": pytest.approx(report.count(majority) / len(report))}
    # the fake strategy predicts the training majority too: the same report metrics, the same keys
    assert record.trivial.metrics == record.metrics.report
    assert "trivial_error" not in record.details
    again = load_record(json.loads(json.dumps(record.to_json())))  # what the store keeps, read back
    assert again.trivial == record.trivial and isinstance(again.trivial, Trivial)


def test_a_task_without_a_baseline_gives_none(records: dict[str, RunRecord]):
    record = records["fake_task"]
    assert record.ok, record.error
    assert record.trivial is None and "trivial_error" not in record.details


def test_a_failing_baseline_does_not_fail_the_run(records: dict[str, RunRecord]):
    record = records["broken_trivial"]
    assert record.ok, record.error
    assert record.metrics is not None and record.trivial is None
    assert record.details["trivial_error"] == ("BrokenTrivial.trivial_predictions: RuntimeError: "
                                               "no baseline today")


def test_records_without_the_field_load(records: dict[str, RunRecord]):
    old = records["toy"].to_json()
    del old["trivial"]  # as a tlbench before trivial baselines wrote it
    assert load_record(old).trivial is None
