"""Evaluation clusters (``Task.item_clusters``): one label per report item, kept in the record's
``Items`` for the paired bootstrap to resample whole clusters (SQuAD's paragraphs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from tests.fakes import FakeTask, FakeTaskOptions
from tests.records import record
from tlbench.record import Items, load_record
from tlbench.records import read_jsonl
from tlbench.runner import _items
from tlbench_builtin.conll import Conll2003
from tlbench_builtin.squad import Squad, SquadOptions, paragraph_label

COMMITTED = Path(__file__).resolve().parents[2] / "results" / "glue_small" / "runs.jsonl"


def test_squad_clusters_are_paragraphs_in_the_order_of_the_item_rows(data_dir: Path):
    task = Squad("squad", SquadOptions(max_eval_examples=80))
    split = task.load(data_dir).splits["report"]
    by, labels = task.item_clusters(split)
    assert by == "paragraph"
    rows, how = task.item_stats([golds[0] for golds in task.references(split)], split)
    assert len(labels) == len(rows) == len(split) == 80
    # row i's label is the paragraph of question i: the same context <-> the same label
    contexts = split["context"]
    assert len({(c, lab) for c, lab in zip(contexts, labels, strict=True)}) == len(set(contexts))
    assert len(set(labels)) == len(set(contexts)) == 73  # the 80 questions' 73 paragraphs
    assert all(lab.startswith(f"{title}#") for lab, title in zip(labels, split["title"], strict=True))
    # a record holds them: one label per item row
    items = Items(stats=rows, reduce=how, clusters=labels, cluster_by=by)
    assert items.clusters == labels
    assert task.item_clusters(task.load(data_dir).splits["report"]) == (by, labels)  # stable across loads


def test_paragraph_labels_are_stable_and_tell_paragraphs_and_articles_apart():
    assert paragraph_label("Normans", "The Normans were") == paragraph_label("Normans", "The Normans were")
    assert paragraph_label("Normans", "The Normans were") != paragraph_label("Normans", "The Normans are")
    assert paragraph_label("A", "same text") != paragraph_label("B", "same text")


def test_conll_declares_no_clusters():
    """The mirror and the Hub copy of CoNLL-2003 dropped the -DOCSTART- document boundaries."""
    assert Conll2003("conll2003", Conll2003.Options()).item_clusters(None) is None


def test_items_reject_a_cluster_label_count_unlike_the_item_rows():
    with pytest.raises(ValidationError, match="1 cluster labels for 2 item rows"):
        Items(stats=[[1.0], [0.0]], reduce="mean", clusters=["a"], cluster_by="paragraph")
    ok = Items(stats=[[1.0], [0.0]], reduce="mean", clusters=["a", "a"], cluster_by="paragraph")
    assert ok.clusters == ["a", "a"] and ok.cluster_by == "paragraph"


def test_records_without_clusters_still_load_and_records_with_them_round_trip():
    old = record(items=[1.0, 0.0, 1.0]).to_json()
    new_fields = ("clusters", "cluster_by", "clusters_error")
    old["items"] = {k: v for k, v in old["items"].items() if k not in new_fields}  # as older tlbench wrote
    loaded = load_record(old)
    assert loaded.items is not None and loaded.items.clusters is None and loaded.items.cluster_by is None
    new = loaded.but(items=Items(stats=[[1.0], [0.0], [1.0]], reduce="mean", clusters=["p1", "p1", "p2"],
                                 cluster_by="paragraph"))
    again = load_record(json.loads(json.dumps(new.to_json())))
    assert again.items == new.items
    committed = read_jsonl(COMMITTED)  # schema 1 evidence of tlbench 0.1
    assert committed and all(r.items is None or r.items.clusters is None for r in committed)


class ClusteredTask(FakeTask):
    """The fake task with per-item correctness and declared clusters (``labels``: None declares none)."""

    def __init__(self, labels: list[str] | None):
        super().__init__("clustered", FakeTaskOptions(rows=4))
        self.labels = labels

    def item_stats(self, predictions: Any, split: Any) -> tuple[list[list[float]], str] | None:
        return [[float(p == g)] for p, g in zip(predictions, split["label"], strict=True)], "mean"

    def item_clusters(self, split: Any) -> tuple[str, list[str]] | None:
        return None if self.labels is None else ("document", self.labels)


@pytest.mark.parametrize(("labels", "kept"), [
    (["d1", "d1", "d2", "d2"], True),
    (["d1", "d2"], False),  # not one per item: dropped with a note, the items stay
    (None, False),
])
def test_the_runner_keeps_declared_clusters_with_the_items(labels: list[str] | None, kept: bool):
    task = ClusteredTask(labels)
    split = task.load(None).splits["report"]
    predictions = np.asarray([1, 1, 0, 0])
    metrics = task.score(predictions, split)
    out = _items(task, predictions, split, metrics)
    assert out is not None
    items = Items.model_validate(out)  # what the record keeps
    assert items.stats is not None and len(items.stats) == 4 and items.error is None
    if kept:
        assert items.clusters == labels and items.cluster_by == "document" and items.clusters_error is None
    else:
        assert items.clusters is None and items.cluster_by is None
        assert (items.clusters_error is None) == (labels is None)
    if labels is not None and not kept:
        assert items.clusters_error == ("ClusteredTask.item_clusters gave 2 document labels for 4 item "
                                        "rows: items resampled independently")
