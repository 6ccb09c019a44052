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


class _MemoryStore:
    """The one part of Store a Tuner's bookkeeping needs: studies, here in memory."""

    def __init__(self) -> None:
        import optuna

        self.storage = optuna.storages.InMemoryStorage()

    def study_named(self, name: str, **kwargs):
        import optuna

        return optuna.create_study(storage=self.storage, study_name=name, direction="maximize",
                                   load_if_exists=True, **kwargs)


def test_ties_go_to_the_trial_first_asked_for_whatever_number_its_retry_took(tmp_path, with_fakes, model):
    """A worker killed on the defaults trial: its heartbeat retry runs after trial 1 and scores the
    same. One worker would have picked the defaults (trial 0); so must the retry."""
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from tlbench.tuning import Tuner

    suite, cells = make(tmp_path, with_fakes, model)
    tuner = Tuner(_MemoryStore(), suite.tuning, suite.seeds)  # type: ignore[arg-type]
    study = tuner.study(cells[0])
    dist = {"lr": FloatDistribution(1e-4, 1.0, log=True)}
    defaults = study.get_trials()[0]
    assert defaults.user_attrs.get("defaults") and defaults.state == TrialState.WAITING  # enqueued
    lr = defaults.system_attrs["fixed_params"]["lr"]
    study._storage.set_trial_state_values(defaults._trial_id, TrialState.RUNNING)
    study._storage.set_trial_state_values(defaults._trial_id, TrialState.FAIL)  # the worker died
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.5, params={"lr": 0.3},
                                 distributions=dist))
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.5, params={"lr": lr},
                                 distributions=dist, user_attrs={"defaults": True},
                                 system_attrs={"failed_trial": 0, "retry_history": [0]}))
    st = tuner.state(cells[0])
    assert st.counted == st.complete == 2  # the dead worker's trial is not charged
    assert st.best_number == 2 and st.best_params == {"lr": lr}

    # a later trial that scores higher still wins
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.6, params={"lr": 0.2},
                                 distributions=dist))
    assert tuner.state(cells[0]).best_number == 3


def test_defaults_enqueued_by_two_workers_at_once_run_once(tmp_path, with_fakes, model):
    from optuna.trial import TrialState

    from tlbench.tuning import Tuner

    suite, cells = make(tmp_path, with_fakes, model)
    study = Tuner(_MemoryStore(), suite.tuning, suite.seeds).study(cells[0])
    fixed = study.get_trials()[0].system_attrs["fixed_params"]
    study.enqueue_trial(fixed, user_attrs={"defaults": True})  # the other worker's copy (no skip)
    first, second = study.ask(), study.ask()
    assert not Tuner._second_defaults(study, first)
    assert Tuner._second_defaults(study, second)  # surplus: not charged, not run
    # but once the first copy's worker died (failed, no error), its heartbeat retry is no copy
    study.tell(first, state=TrialState.FAIL)
    study.enqueue_trial(fixed, user_attrs={"defaults": True})
    second.set_user_attr("surplus", True)  # as the objective marks it
    study.tell(second, state=TrialState.PRUNED)
    assert not Tuner._second_defaults(study, study.ask())
