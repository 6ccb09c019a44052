"""The runner keeps what ``model_training_data`` declares in each record, and the leaderboard's
contamination note follows from it (issue 17). The fake strategy and task (no training); the runner
loads the tiny BERT's tokenizer, hence here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest

from tests.fakes import FakeTask
from tlbench import hookimpl
from tlbench.config import load_suite
from tlbench.contamination import contamination
from tlbench.grid import build_grid
from tlbench.runner import Runner
from tlbench.testing import tiny_bert

SUITE = """
models = ["{model}"]
seeds = [0]

[tasks.sourced_task]
rows = 12

[strategies.fake_strategy]
"""


class SourcedTask(FakeTask):
    source_datasets: ClassVar[tuple[str, ...]] = ("fakeset",)


class _Tasks:
    @hookimpl
    def register_tasks(self, register):
        register("sourced_task", SourcedTask)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT with a sentence-transformers data_config.json (as all-MiniLM-L6-v2 ships one)."""
    path = tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert")
    (path / "data_config.json").write_text(json.dumps([
        {"name": "fakeset_pairs.jsonl.gz", "lines": 10, "weight": 1},
        {"name": "reddit/reddit_2015.jsonl.gz", "lines": 10, "weight": 1}]))
    return path


def test_model_training_data_is_recorded_and_marks_the_task(tmp_path, with_fakes, model):
    path = tmp_path / "s.toml"
    path.write_text(SUITE.format(model=model))
    with with_fakes.temporarily(_Tasks(), name="sourced-tasks") as plugins:
        suite = load_suite(path, plugins)
        (cell,) = build_grid(suite, plugins)
        record = Runner(suite, plugins, device="cpu", cache_dir=tmp_path / "cache").execute(cell.runs()[0])
        assert record.ok, record.error
        assert record.provenance.model is not None
        declared = record.provenance.model.training_data
        assert declared is not None
        assert declared.datasets == ("fakeset_pairs.jsonl.gz", "reddit/reddit_2015.jsonl.gz")
        assert "tiny-bert/data_config.json" in declared.source
        assert str(model.parent) not in declared.source  # no machine path in the record
        notes = contamination([record], plugins)
    assert list(notes) == ["sourced_task"] and notes["sourced_task"].datasets == ("fakeset_pairs.jsonl.gz",)


DECLARED = """
models = ["{model}"]
seeds = [0]

[tasks.reviews]
kind = "classification"
data_files = {{ train = "train.csv", test = "test.csv" }}
select_examples = 6
source_datasets = {sources}

[strategies.fake_strategy]
"""


@pytest.mark.parametrize(("sources", "noted"), [('["FakeSet"]', True), ('["other_corpus"]', False),
                                                 ("[]", False)])
def test_a_declared_task_names_its_sources_and_is_noted(tmp_path, with_fakes, model, sources, noted):
    """A task declared from files says where its data comes from (``source_datasets``, a suite
    key): the record keeps it and the note follows, with no plugin in between."""
    rows = "\n".join(f"review number {i} {'good' if i % 2 else 'bad'},{i % 2}" for i in range(30))
    for split in ("train", "test"):
        (tmp_path / f"{split}.csv").write_text("text,label\n" + rows + "\n")
    path = tmp_path / "s.toml"
    path.write_text(DECLARED.format(model=model, sources=sources))
    plugins = with_fakes
    if True:
        suite = load_suite(path, plugins)
        (cell,) = build_grid(suite, plugins)
        record = Runner(suite, plugins, device="cpu", cache_dir=tmp_path / "cache").execute(cell.runs()[0])
        assert record.ok, record.error
        assert record.data is not None and record.data.source_datasets == tuple(json.loads(sources))
        notes = contamination([record], plugins)
    if noted:
        assert notes["reviews"].datasets == ("fakeset_pairs.jsonl.gz",)
        assert "reviews (FakeSet)" in notes["reviews"].sentence
    else:
        assert notes == {}
