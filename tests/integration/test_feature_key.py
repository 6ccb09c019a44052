"""The frozen-feature cache key (``tlbench.engine.features.feature_key``) changes with everything that
changes the features: the data (every split file's hash, the split's rows), the task's code and the
precision the extraction runs under. Features of one configuration are never read for another."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests.fakes import FakeTask
from tlbench.engine.features import feature_key, feature_path
from tlbench.interfaces import DataSource, ModelRef, TaskData


def job(*, device: str = "cpu", sha: str = "aaa", report_sha: str = "ccc", rows: int = 4,
        task: Any = None) -> Any:
    from datasets import Dataset

    splits = {"train": Dataset.from_dict({"label": [0] * rows}),
              "select": Dataset.from_dict({"label": [0, 1]}), "report": Dataset.from_dict({"label": [1, 1]})}
    train = DataSource("sst2/train.jsonl.gz", sha)
    sources = {"train": train, "select": train, "report": DataSource("sst2/validation.jsonl.gz", report_sha)}
    return SimpleNamespace(model=ModelRef("m", "models/m", "weights-sha"), device=device, cache_dir="cache",
                           task=task or FakeTask("fake_task", FakeTask.Options()),
                           data=TaskData(splits=splits, sources=sources))  # type: ignore[arg-type]


def test_precision_changes_the_key():
    j = job()
    fp32 = feature_key(j, "train", "mean", precision="fp32")
    bf16 = feature_key(j, "train", "mean", precision="bf16")
    assert fp32 != bf16
    # the key is the autocast dtype the extraction really runs under: on a CPU ``auto`` is fp32
    assert feature_key(j, "train", "mean", precision="auto") == fp32 == feature_key(j, "train", "mean")
    assert feature_path(j, "train", "mean", precision="bf16").name == f"{bf16}.npz"


def test_the_data_hashes_and_rows_change_the_key():
    base = feature_key(job(), "train", "mean")
    assert feature_key(job(sha="bbb"), "train", "mean") != base  # the split's own file
    assert feature_key(job(report_sha="ddd"), "train", "mean") != base  # any split's file
    assert feature_key(job(rows=5), "train", "mean") != base  # a changed carve or cap
    assert feature_key(job(), "select", "mean") != base and feature_key(job(), "train", "cls") != base


def test_the_tasks_code_changes_the_key(monkeypatch):
    import tlbench.runner

    base = feature_key(job(), "train", "mean")
    monkeypatch.setattr(tlbench.runner, "code_fingerprint", lambda cls: "edited")
    assert feature_key(job(), "train", "mean") != base
    # the task's options too (which rows, max length)
    j = job()
    j.task = FakeTask("fake_task", FakeTask.Options(rows=21))
    monkeypatch.undo()
    assert feature_key(j, "train", "mean") != base
    assert feature_key(job(), "train", "mean") == base  # and nothing else: the same key again
