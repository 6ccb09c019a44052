"""The tuning sampler draws a start-up trial's options from its ordinal, so workers draw alike."""

from __future__ import annotations

import optuna
import pytest

from tlbench.sampler import ORDINAL_ATTR, StartupSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def storage() -> optuna.storages.InMemoryStorage:
    return optuna.storages.InMemoryStorage()


def draw(storage, sampler: StartupSampler, ordinal: int | None) -> tuple[optuna.Trial, float]:
    """One worker (its own sampler object, as in its own process) asks a trial of the shared study."""
    study = optuna.create_study(storage=storage, study_name="cell", sampler=sampler, load_if_exists=True,
                                direction="maximize")
    trial = study.ask()
    if ordinal is not None:
        trial.set_user_attr(ORDINAL_ATTR, ordinal)
    return trial, trial.suggest_float("lr", 1e-4, 1.0, log=True)


def test_start_up_draws_follow_the_ordinal_not_the_worker(storage):
    first, a1 = draw(storage, StartupSampler(7, 3), 1)
    _, b2 = draw(storage, StartupSampler(7, 3), 2)  # another worker, the next place in the budget
    assert a1 != b2  # not the duplicate two workers seeded alike drew from their own generators
    _, again = draw(optuna.storages.InMemoryStorage(), StartupSampler(7, 3), 1)
    assert again == a1  # the same place draws the same options on any storage and worker
    _, other_seed = draw(optuna.storages.InMemoryStorage(), StartupSampler(8, 3), 1)
    assert other_seed != a1


def test_pruned_and_finished_trials_do_not_change_a_start_up_draw(storage):
    _, reference = draw(optuna.storages.InMemoryStorage(), StartupSampler(7, 3), 2)
    for _ in range(4):  # trials stopped at once (surplus: pruned) and finished ones
        t, value = draw(storage, StartupSampler(7, 3), None)
        optuna.load_study(storage=storage, study_name="cell").tell(t, state=optuna.trial.TrialState.PRUNED)
    _, late = draw(storage, StartupSampler(7, 3), 2)
    assert late == reference


def test_after_start_up_tpe_fits_the_finished_trials(storage):
    study = optuna.create_study(storage=storage, study_name="cell", direction="maximize",
                                sampler=StartupSampler(7, 2))
    for ordinal in range(30):
        trial = study.ask()
        trial.set_user_attr(ORDINAL_ATTR, ordinal)
        x = trial.suggest_float("x", -10.0, 10.0)
        study.tell(trial, -(x - 3.0) ** 2)
    late = [abs(t.params["x"] - 3.0) for t in study.trials[-15:]]
    assert sum(late) / len(late) < 4.0, late  # TPE; uniform draws over [-10, 10] average 5.45 away
