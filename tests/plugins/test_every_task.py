"""Every built-in strategy runs on every task with a mirror, end to end on a tiny BERT:
train, predict, decode, score, save and reload. (Learning itself is shown with the real model in
tests/integration.)"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tlbench import ModelRef, get_plugins
from tlbench.runner import prepare_job
from tlbench.stats import reduce
from tlbench.testing import tiny_bert

SMALL = {"max_train_examples": 24, "max_eval_examples": 16, "select_examples": 16, "max_length": 48}
TASKS = {"sst2": {}, "cola": {}, "mrpc": {}, "rte": {}, "stsb": {}, "wnli": {}, "imdb": {},
         "conll2003": {}, "squad": {"doc_stride": 24, "max_length": 56}}  # 56 + 4 prompt tokens <= 64
STRATEGIES = {"full_finetune": {"epochs": 1, "batch_size": 8}, "linear_probe": {"epochs": 2}}
#: the other built-in strategies and head options, on one task of each head kind (and long IMDb)
MORE = {
    "partial_freeze": {"epochs": 1, "batch_size": 8, "frozen_layers": 1},
    "lora": {"epochs": 1, "batch_size": 8},
    "peft": {"epochs": 1, "batch_size": 8, "method": "prompt_tuning", "config": {"num_virtual_tokens": 4}},
    "linear_probe/knn": {"head": "knn"},
    "linear_probe/mlp-last4": {"epochs": 2, "head": "mlp", "layers": "last4"},
    "full_finetune/crf": {"epochs": 1, "batch_size": 8, "head": "crf"},
    "multitask": {"epochs": 1, "batch_size": 8},  # a group of one: each head kind on the shared encoder
}
MORE_TASKS = ("sst2", "stsb", "imdb", "conll2003", "squad")
PAIRS = [(t, s) for s in STRATEGIES for t in TASKS] + [(t, s) for s in MORE for t in MORE_TASKS]


#: task -> its loaded splits: loading (carving SST-2's 67k rows) is the slow part of these tests
_DATA: dict[str, object] = {}


def load(task, data_dir: Path):
    if task.name not in _DATA:
        _DATA[task.name] = task.load(data_dir)
    return _DATA[task.name]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ModelRef:
    path = tiny_bert(tmp_path_factory.mktemp("tiny-bert"), layers=4)  # layers = "last4" needs four
    return ModelRef("tiny-bert", str(path), "test")


@pytest.mark.parametrize(("task_name", "strategy"), PAIRS)
def test_strategy_runs_on_task(task_name: str, strategy: str, model: ModelRef, data_dir: Path,
                               tmp_path: Path):
    plugins = get_plugins()
    name = strategy.split("/")[0]
    t_entry, s_entry = plugins.tasks.get(task_name), plugins.strategies.get(name)
    task = t_entry.factory(task_name, t_entry.factory.Options(**{**SMALL, **TASKS[task_name]}))
    instance = s_entry.factory(name, s_entry.factory.Options(**{**STRATEGIES, **MORE}[strategy]))
    problem = instance.problem(task.head)
    if problem:
        assert strategy.endswith(("/knn", "/crf")), problem  # only these heads refuse a task kind
        pytest.skip(f"{strategy} refuses {task_name}, at validation (tests/unit/test_config.py): {problem}")
    data = load(task, data_dir)
    job = prepare_job(task, model, data, seed=0, device="cpu", cache_dir=tmp_path / "cache",
                      plugins=plugins)
    fitted = instance.fit(job)
    outputs = fitted.predict("report")
    metrics = job.score("report", outputs)
    assert task.primary_metric in metrics
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    predictions = task.decode(outputs, job.encoded("report"), data.splits["report"])
    assert len(predictions) == len(data.splits["report"])
    # per-item statistics give back the primary metric exactly (what the paired tests resample)
    stats, how = task.item_stats(predictions, data.splits["report"])
    assert len(stats) == len(data.splits["report"])
    assert reduce(stats, how) == pytest.approx(metrics[task.primary_metric], abs=1e-9)

    fitted.save(tmp_path / "saved")
    again = instance.load(job, tmp_path / "saved").predict("report")
    for a, b in zip(outputs if isinstance(outputs, list) else [outputs],
                    again if isinstance(again, list) else [again], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
