"""The low-resource protocol end to end through the runner (issue 20): per-class cells and training
subsets run, their records keep the size and subset, a class too small fails its runs (recorded, the
grid goes on), and every (subset, seed) run reaches the statistics. The fake strategy on the fake
task; the runner loads a tiny BERT's tokenizer (torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tlbench import hookimpl
from tlbench.analysis import analyse
from tlbench.config import load_suite
from tlbench.grid import build_grid
from tlbench.record import PerClass
from tlbench.runner import Runner
from tlbench.testing import tiny_bert

SUITE = """
models = ["test/tiny-bert"]
seeds = [0, 1]
train_sizes = [{ per_class = 3 }, { per_class = 8 }]
subsets = 2

[tasks.fake_task]
rows = 21          # 7 rows of class 1 ('yes'), 14 of class 0
max_length = 8

[strategies.fake_strategy]
"""


class LocalModel:
    def __init__(self, path: Path):
        self.path = path

    @hookimpl
    def resolve_model(self, model_id: str) -> Path | None:
        return self.path if model_id == "test/tiny-bert" else None


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert")


def test_subset_runs_are_recorded_and_counted_and_a_short_class_fails_its_runs(tmp_path, with_fakes, model):
    path = tmp_path / "s.toml"
    path.write_text(SUITE)
    with with_fakes.temporarily(LocalModel(model), name="test-local-model") as plugins:
        suite = load_suite(path, plugins)
        cells = build_grid(suite, plugins)
        assert [(str(c.train_size), c.subset) for c in cells] == [
            ("3/class", 0), ("3/class", 1), ("8/class", 0), ("8/class", 1)]
        runner = Runner(suite, plugins, device="cpu", cache_dir=tmp_path / "cache")
        records = [runner.execute(run) for c in cells for run in c.runs()]
    small = [r for r in records if r.train_size == PerClass(per_class=3)]
    assert all(r.ok for r in small), [r.error_line for r in small]
    assert sorted((r.train_subset, r.seed) for r in small) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(r.data is not None and r.data.sizes["train"] == 6 for r in small)
    # the fake task's 'yes' class has 7 rows: 8 per class fails every such run, named, and the rest stand
    large = [r for r in records if r.train_size == PerClass(per_class=8)]
    assert large and not any(r.ok for r in large)
    assert all("per_class = 8 needs 8 training rows of every class, but class 'yes' has 7" in r.error_line
               for r in large)
    # the tables show the largest size, whose runs failed: named as failed, with the reason
    (failed,) = analyse(records, baseline="fake_strategy", n_resamples=200)["failed"]
    assert "class 'yes' has 7" in failed["errors"][0]
    a = analyse(small, baseline="fake_strategy", n_resamples=200)
    cell = a["tasks"]["fake_task"]["strategies"]["fake_strategy"]
    # 2 subsets x 2 seeds: the seeds of a subset share its rows, so n counts the 2 subsets (issue 20)
    assert cell["n"] == 2 and cell["subsets"] == [0, 0, 1, 1] and len(cell["values"]) == 4
    assert a["tasks"]["fake_task"]["training_draw"] == "3/class × 2 subsets"
    assert np.isfinite(cell["mean"])
