"""Mirror reading: bad files get errors naming file and line; caps and carving are seeded and stratified."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import datasets
import numpy as np
import pytest

from tlbench.data import cap, carve, load_split, read_mirror
from tlbench.errors import DataError


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    return path


ROWS = [{"sentence": f"s{i}", "label": i % 2} for i in range(10)]


def test_reads_and_checks(tmp_path):
    path = write_rows(tmp_path / "t" / "train.jsonl.gz", ROWS)
    assert read_mirror(path, ["sentence", "label"], {"label": 2}) == ROWS


def test_missing_column_names_file_and_line(tmp_path):
    rows = [*ROWS[:3], {"text": "oops", "label": 0}]
    path = write_rows(tmp_path / "t" / "train.jsonl.gz", rows)
    with pytest.raises(DataError, match=r"train.jsonl.gz, line 4: row has no column 'sentence'"):
        read_mirror(path, ["sentence", "label"], {})


def test_label_outside_labels_json(tmp_path):
    path = write_rows(tmp_path / "t" / "train.jsonl.gz", [*ROWS[:2], {"sentence": "x", "label": 7}])
    with pytest.raises(DataError, match=r"line 3: label 7 in column 'label' is outside labels.json \(0..1"):
        read_mirror(path, ["sentence", "label"], {"label": 2})
    tags = write_rows(tmp_path / "n" / "train.jsonl.gz", [{"tokens": ["a"], "ner_tags": [0, 9]}])
    with pytest.raises(DataError, match="label 9 in column 'ner_tags'"):
        read_mirror(tags, ["tokens"], {"ner_tags": 9})


def test_hidden_labels_are_in_range(tmp_path):
    path = write_rows(tmp_path / "t" / "test.jsonl.gz", [{"sentence": "x", "label": -1}])
    assert read_mirror(path, ["label"], {"label": 2})[0]["label"] == -1


def test_not_gzip_and_truncated_and_bad_json(tmp_path):
    plain = tmp_path / "plain.jsonl.gz"
    plain.write_text('{"a": 1}\n')
    with pytest.raises(DataError, match="is not a gzip file"):
        read_mirror(plain, [], {})
    good = write_rows(tmp_path / "good.jsonl.gz", ROWS * 200)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_mirror(cut, [], {})
    broken = tmp_path / "broken.jsonl.gz"
    with gzip.open(broken, "wt") as fh:
        fh.write('{"a": 1}\n{"a": \n')
    with pytest.raises(DataError, match="line 2: not valid JSON"):
        read_mirror(broken, [], {})


def test_missing_split_lists_what_the_mirror_has(tmp_path):
    write_rows(tmp_path / "task" / "train.jsonl.gz", ROWS)
    with pytest.raises(DataError) as info:
        load_split(tmp_path, "task", "validation", "org/task")
    msg = str(info.value)
    assert str(tmp_path / "task" / "validation.jsonl.gz") in msg and "has train for task" in msg
    assert "TLBENCH_DATA_DIR" in msg


def test_load_split_records_sha256(tmp_path):
    path = write_rows(tmp_path / "task" / "train.jsonl.gz", ROWS)
    ds, src = load_split(tmp_path, "task", "train", "org/task", required=["sentence"])
    assert len(ds) == 10 and src.location == str(path) and len(src.sha256) == 64


def dataset(n: int, positive_share: float) -> datasets.Dataset:
    labels = [1 if i < n * positive_share else 0 for i in range(n)]
    return datasets.Dataset.from_dict({"idx": list(range(n)), "label": labels})


def test_cap_is_seeded_stratified_and_keeps_small_splits_whole():
    ds = dataset(1000, 0.2)
    a, b = cap(ds, 100, seed=0, stratify="label"), cap(ds, 100, seed=0, stratify="label")
    assert a["idx"] == b["idx"] and len(a) == 100
    assert sum(a["label"]) == 20  # the 20 % positive share is kept exactly
    assert cap(ds, 100, seed=1, stratify="label")["idx"] != a["idx"]
    assert cap(ds, 5000, seed=0) is ds  # more than the split has: the whole split, not an error


def test_carve_is_disjoint_and_stratified():
    ds = dataset(500, 0.3)
    train, select = carve(ds, 100, seed=0, stratify="label")
    assert len(train) == 400 and len(select) == 100
    assert not set(train["idx"]) & set(select["idx"])
    assert np.mean(select["label"]) == pytest.approx(0.3)
    with pytest.raises(DataError, match="cannot carve 600"):
        carve(ds, 600, seed=0)


def test_truncated_share_counts_examples_not_windows():
    from tests.fakes import FakeTask

    task = FakeTask("fake", FakeTask.Options())
    assert task.truncated_share({"truncated": [True, False, False, False]}) == 0.25
    windows = {"truncated": [True, True, True, False, False], "example_id": ["a", "a", "a", "b", "c"]}
    assert task.truncated_share(windows) == pytest.approx(1 / 3)
    assert task.truncated_share({"input_ids": [[1]]}) is None
