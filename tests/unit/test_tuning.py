"""Tuning as a suite declares it: search spaces and budgets, checked when the suite loads. Hermetic:
the fake ``sleepy`` strategy, no runner, no torch. (Trials, pruning and the shared queue run through
the runner in tests/integration/test_tuning.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import SLEEPY_SUITE as SUITE
from tlbench.config import load_suite
from tlbench.errors import ConfigError
from tlbench.grid import build_grid


@pytest.fixture
def model() -> str:
    return "tiny-bert"  # a name only: nothing here loads a model


def make(tmp_path: Path, plugins, model: str, *, more: str = "") -> tuple:
    path = tmp_path / "s.toml"
    path.write_text(SUITE.format(model=model, trials=4, pruner="none", extra="") + more)
    suite = load_suite(path, plugins)
    return suite, build_grid(suite, plugins)


def test_search_space_errors_name_the_key(tmp_path, with_fakes, model):
    def problems(space: str) -> str:
        with pytest.raises(ConfigError) as exc:
            make(tmp_path, with_fakes, model, more=f"\n[strategies.sleepy.search_space]\n{space}\n")
        return str(exc.value)

    assert "strategies.sleepy.search_space.lr: low <= high must hold, got low=0.001 high=1e-05" in problems(
        "lr = { low = 1e-3, high = 1e-5 }")
    assert "search_space.lrr: not an option of this strategy. Did you mean: lr?" in problems(
        "lrr = { low = 1e-3, high = 1e-2 }")
    assert "search_space.lr: the value 2.0 is refused" in problems("lr = { low = 1e-3, high = 2.0 }")
    assert "search_space.steps: the value 0 is refused" in problems("steps = { choices = [0, 3] }")
    assert "log range needs low > 0" in problems("sleep = { low = 0.0, high = 1.0, log = true }")


def test_budget_must_be_trials_or_seconds(tmp_path, with_fakes, model):
    path = tmp_path / "b.toml"
    path.write_text(SUITE.format(model=model, trials=1, pruner="none", extra="").replace(
        "{ trials = 1 }", "{ trials = 1, seconds = 5 }"))
    with pytest.raises(ConfigError, match="give exactly one of trials or seconds"):
        load_suite(path, with_fakes)


def test_suite_narrows_widens_and_drops_dimensions(tmp_path, with_fakes, model):
    from tlbench.space import Choice, Float

    extra = ("\n[strategies.sleepy.search_space]\nlr = { low = 1e-3, high = 1e-2 }\n"
             "steps = { choices = [2, 3] }\n")
    _, cells, *_ = make(tmp_path, with_fakes, model, more=extra)
    assert cells[0].space == {"lr": Float(1e-3, 1e-2), "steps": Choice(2, 3)}
    _, cells, *_ = make(tmp_path, with_fakes, model, more="\n[strategies.sleepy.search_space]\nlr = false\n")
    assert cells[0].space == {}
