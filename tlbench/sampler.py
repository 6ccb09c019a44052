"""The tuning sampler: Optuna's TPE, with start-up trials that every worker draws alike.

TPE starts with random trials. Optuna's own start-up draws come from a random generator in the
worker's process, and whether a trial is a start-up one from the count of complete and pruned
trials in the study. Both depend on the workers: two processes seeded alike draw the *same*
first random options for a cell (a duplicate trial, a wasted budget), and a trial that the tuner
stops at once because another worker took the budget's last place (pruned, ``surplus``) counts
as a finished trial, so that a trial becomes a TPE one that one worker would have drawn at random.
Seen in CI: two workers tuned a cell to other options than one worker did.

Here a start-up trial's options are drawn from a generator seeded by the study's seed and the
trial's *ordinal*: its place among the trials the budget counts (the defaults trial is 0), which
the tuner computes and stores on the trial (``ORDINAL_ATTR``) before it asks for any option. So
the start-up trials are the same whichever worker runs them, however the trial numbers fall. The
trials after them are TPE's, fitted on the finished trials; with several workers they depend on
which had finished when they were asked (as Optuna documents for any parallel study).
"""

from __future__ import annotations

from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from tlbench.grid import stable_id

__all__ = ["ORDINAL_ATTR", "StartupSampler"]

ORDINAL_ATTR = "ordinal"


class StartupSampler(BaseSampler):
    """TPE after ``n_startup`` trials; before, a random draw seeded by (seed, ordinal, option)."""

    def __init__(self, seed: int, n_startup: int):
        self.seed, self.n_startup = seed, n_startup
        # start-up is decided here, by ordinal: TPE itself fits from its first call on
        self._tpe = TPESampler(seed=seed, n_startup_trials=0)

    def _startup(self, trial: FrozenTrial) -> int | None:
        ordinal = trial.user_attrs.get(ORDINAL_ATTR)
        return ordinal if isinstance(ordinal, int) and ordinal < self.n_startup else None

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._tpe.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if self._startup(trial) is not None:
            return {}
        return self._tpe.sample_relative(study, trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        ordinal = self._startup(trial)
        if ordinal is None:
            return self._tpe.sample_independent(study, trial, param_name, param_distribution)
        seed = int(stable_id({"seed": self.seed, "ordinal": ordinal, "param": param_name})[:8], 16)
        return RandomSampler(seed=seed).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._tpe.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Any) -> None:
        self._tpe.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._tpe.reseed_rng()

