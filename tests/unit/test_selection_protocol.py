"""Selection never touches a reported run (issue 17): the tuning trials' seed is never a reporting
seed, and a group of tasks is tuned on normalised scores, so that no task's metric scale dominates.
Hermetic: no runner, no torch (the feature cache key's test is tests/integration/test_feature_key.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.fakes import SLEEPY_SUITE as SUITE
from tests.fakes import FakeTask
from tlbench.config import DEFAULT_TRIAL_SEED, Budget, Tuning, load_suite
from tlbench.errors import ConfigError
from tlbench.grid import build_grid
from tlbench.interfaces import DataSource, TaskData
from tlbench.tuning import Headroom, Tuner, group_objective, selection_trivial


def load(tmp_path: Path, plugins, *, seeds: str = "[0, 1]", tuning: str = "") -> Any:
    path = tmp_path / "s.toml"
    text = SUITE.format(model="tiny-bert", trials=2, pruner="none", extra="")
    text = text.replace("seeds = [0, 1]", f"seeds = {seeds}").replace('pruner = "none"',
                                                                       f'pruner = "none"\n{tuning}')
    path.write_text(text)
    return load_suite(path, plugins)


class _Studies:
    """The one part of Store a Tuner needs here: studies, in memory."""

    def study_named(self, name: str, **kwargs: Any) -> Any:
        import optuna

        return optuna.create_study(storage=optuna.storages.InMemoryStorage(), study_name=name,
                                   direction="maximize", **kwargs)


# -- the trial seed --------------------------------------------------------------------------
def test_trials_default_to_a_seed_outside_the_reporting_seeds(tmp_path, with_fakes):
    suite = load(tmp_path, with_fakes, seeds="[0, 1, 2]")
    assert suite.tuning.trial_seed == DEFAULT_TRIAL_SEED == 10_000
    assert suite.tuning.trial_seed not in suite.seeds
    assert Tuner(_Studies(), suite.tuning, suite.seeds).trial_seed == DEFAULT_TRIAL_SEED  # type: ignore[arg-type]


def test_the_default_trial_seed_is_fixed_so_adding_seeds_keeps_the_tuning(tmp_path, with_fakes):
    (few,) = build_grid(load(tmp_path, with_fakes, seeds="[0, 1]"), with_fakes)
    more = load(tmp_path, with_fakes, seeds="[0, 1, 2, 3]")
    (cell,) = build_grid(more, with_fakes)
    assert cell.id == few.id and cell.tuning_key(more.tuning) == few.tuning_key(
        load(tmp_path, with_fakes, seeds="[0, 1]").tuning)
    # the key names the seed trials use: setting the default explicitly is the same tuning, another
    # seed is another tuning (a fresh study), and so is an unset seed before issue 17 (None)
    explicit = load(tmp_path, with_fakes, tuning=f"trial_seed = {DEFAULT_TRIAL_SEED}")
    other = load(tmp_path, with_fakes, tuning="trial_seed = 7")
    assert cell.tuning_key(explicit.tuning) == cell.tuning_key(more.tuning) != cell.tuning_key(other.tuning)
    unset = more.tuning.model_copy(update={"trial_seed": None})
    assert cell.tuning_key(unset) != cell.tuning_key(more.tuning)
    assert other.tuning.trial_seed == 7


def test_a_trial_seed_among_the_reporting_seeds_is_a_validation_error(tmp_path, with_fakes):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, with_fakes, seeds="[0, 1, 2]", tuning="trial_seed = 1")
    message = str(exc.value)
    assert "tuning.trial_seed: 1 is one of seeds [0, 1, 2]" in message
    assert "winner's curse" in message and "not in seeds" in message


def test_seeds_that_hold_the_default_trial_seed_must_name_another(tmp_path, with_fakes):
    with pytest.raises(ConfigError, match=r"seeds: 10000 is the default tuning trial seed.*"
                                          r"set tuning.trial_seed to a seed not in seeds \[0, 10000\]"):
        load(tmp_path, with_fakes, seeds="[0, 10000]")
    suite = load(tmp_path, with_fakes, seeds="[0, 10000]", tuning="trial_seed = 5")
    assert suite.tuning.trial_seed == 5


def test_the_tuner_refuses_a_reporting_seed_too():
    tuning = Tuning(budget=Budget(trials=2), trial_seed=0)
    with pytest.raises(ValueError, match="tuning.trial_seed: 0 is one of seeds"):
        Tuner(_Studies(), tuning, (0, 1))  # type: ignore[arg-type]
    assert Tuning(budget=Budget(trials=2)).seed_problem((0, 1)) is None


# -- the group objective ---------------------------------------------------------------------
def test_a_0_100_task_no_longer_dominates_the_group_objective():
    """SQuAD-like F1 5.0 on 0-100 (trivial 4.0) and accuracy 0.8 on 0-1 (trivial 0.5): the raw mean
    is 2.9, nearly all from the first task; normalised, each counts by its headroom gain."""
    scores = {"squad": 5.0, "sst2": 0.8}
    headroom = {"squad": Headroom(scale=100.0, trivial=4.0), "sst2": Headroom(scale=1.0, trivial=0.5)}
    squad, sst2 = (5.0 - 4.0) / (100.0 - 4.0), (0.8 - 0.5) / (1.0 - 0.5)
    assert headroom["squad"].gain(5.0) == pytest.approx(squad)  # about 0.0104
    assert headroom["sst2"].gain(0.8) == pytest.approx(sst2) == pytest.approx(0.6)
    assert group_objective(scores, headroom) == pytest.approx((squad + sst2) / 2)
    raw = sum(scores.values()) / 2
    assert 5.0 / 2 / raw > 0.85  # the raw mean: 86% from the 0-100 task
    assert sst2 / 2 / group_objective(scores, headroom) > 0.95  # now the task that gained most leads
    # improving each task by the same share of its headroom moves the objective by the same amount
    up_squad = group_objective({"squad": 5.0 + 0.1 * 96.0, "sst2": 0.8}, headroom)
    up_sst2 = group_objective({"squad": 5.0, "sst2": 0.8 + 0.1 * 0.5}, headroom)
    assert up_squad == pytest.approx(up_sst2)


def test_without_a_trivial_baseline_a_score_counts_on_its_declared_scale():
    assert Headroom(scale=100.0).gain(5.0) == pytest.approx(0.05)
    assert Headroom(scale=1.0).gain(0.8) == pytest.approx(0.8)
    scaled = group_objective({"a": 5.0, "b": 0.8}, {"a": Headroom(100.0), "b": Headroom(1.0)})
    assert scaled == pytest.approx((0.05 + 0.8) / 2)
    # a trivial baseline already at the best value leaves no headroom: the scale alone
    assert Headroom(scale=1.0, trivial=1.0).gain(1.0) == pytest.approx(1.0)
    # below the baseline is a negative gain
    assert Headroom(scale=1.0, trivial=0.5).gain(0.4) == pytest.approx(-0.2)
    # a score beyond the declared scale is flagged in what the record keeps
    term = Headroom(scale=1.0).describe(6.4)
    assert term["gain"] == pytest.approx(6.4) and "metric_scale" in term["warning"]
    assert "warning" not in Headroom(scale=100.0, trivial=4.0).describe(6.4)


class _MajorityTask(FakeTask):
    """The fake task with a trivial baseline: the training split's majority label, one per row of
    the split it is asked for (``report``); it reads no label of that split."""

    metric_scale = 1.0

    def trivial_predictions(self, data: TaskData) -> tuple[str, Any] | None:
        labels = list(data.splits["train"]["label"])
        top = max(set(labels), key=labels.count)
        return f"majority {top}", np.full(len(data.splits["report"]["label"]), top)


def _data(train: list[int], select: list[int], report: list[int]) -> TaskData:
    splits = {"train": {"label": train}, "select": {"label": select}, "report": {"label": report}}
    return TaskData(splits=splits, sources={r: DataSource("memory://fake") for r in splits})


def test_the_trivial_baseline_of_the_objective_is_scored_on_the_selection_split():
    task = _MajorityTask("t", FakeTask.Options())
    # majority of train is 0; select is 3/4 zeros, report 1/4: the objective uses select's 0.75
    data = _data(train=[0, 0, 1], select=[0, 0, 0, 1], report=[0, 1, 1, 1])
    assert selection_trivial(task, data) == (pytest.approx(0.75), None)
    headroom = Headroom.of(task, data)
    assert (headroom.scale, headroom.trivial, headroom.note) == (1.0, pytest.approx(0.75), None)
    assert headroom.gain(0.875) == pytest.approx(0.5)
    # a task without a baseline, and one whose baseline fails, fall back to the scale
    assert selection_trivial(FakeTask("t", FakeTask.Options()), data) == (None, None)
    broken = _data(train=[], select=[0], report=[0])
    value, error = selection_trivial(task, broken)
    assert value is None and error and "trivial_predictions on select" in error
    assert Headroom.of(task, broken).gain(0.5) == pytest.approx(0.5)
