"""Tuning: one Optuna study per cell on the selection split, under a budget matched across strategies.

Each study has a seeded TPE sampler and (by default) a median pruner fed by the engine's
evaluations on the selection split (``job.report``). A trial trains the cell with the sampled
options and the suite's trial seed; its value is the task's primary metric on the selection split
(a group's: :func:`group_objective`, the mean of its tasks' normalised selection scores).

The trial seed is never a reporting seed (``Tuning.seed_problem``; default
``config.DEFAULT_TRIAL_SEED``). So no reported run is a trial, the winning one included: the tuned
runs retrain the best options with each reporting seed, and a selection score that was high partly
by the luck of one seed is not carried into the report (the winner's curse). A trial therefore never
reuses a default run's training, and a tuned run never reuses a trial's.

The budget (``trials`` or wall-clock ``seconds`` per cell) counts every trial that spent compute:
complete, pruned, failed with an error, running and waiting. Not counted: a trial whose worker
died (Optuna's heartbeat fails it and re-enqueues its parameters, and the copy counts) and a
*surplus* trial: when two workers start the last trial at the same moment, the later one (by trial
number) sees the budget already spent, stops at once and is ignored, as is a second copy of the
defaults trial that two workers opening a fresh study at once both enqueued. So every cell gets
exactly its budget, whatever the number of workers. The sampler is TPE after start-up trials drawn
at random from each trial's place in the budget (:mod:`tlbench.sampler`), so the start-up trials
are the same whichever worker runs them.

The best trial is the highest selection score; ties go to the trial first asked for (a retry
counts as the trial it repeats, whatever number it took), so a killed worker does not change which
options win. With one worker the whole tuning is reproducible. With several, the defaults and the
start-up trials are the same as with one; a trial that TPE samples after them depends on which
trials had finished when it was asked, as Optuna documents for any parallel study: the default
runs are the same, the tuned options may differ.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from tlbench.config import Tuning
from tlbench.errors import StopTrial
from tlbench.grid import Cell, Run, stable_id
from tlbench.record import RunRecord
from tlbench.sampler import ORDINAL_ATTR, StartupSampler
from tlbench.space import Choice, Float, Int, Param, defaults_in
from tlbench.storage import worker_id
from tlbench.store import RECORD_ATTR, RunFailed, Store

LIVE = (TrialState.RUNNING, TrialState.WAITING)


@dataclass
class TuneState:
    """Where a cell's tuning stands (read from its study)."""

    counted: int = 0  # trials charged to the budget
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    live: int = 0  # running or waiting
    waiting: int = 0  # enqueued (retries): run even when the budget is otherwise spent
    seconds: float = 0.0  # wall-clock seconds charged
    exhausted: bool = False  # no new trial may start
    best_params: dict[str, Any] | None = None
    best_value: float | None = None
    best_number: int | None = None
    values: list[float] = field(default_factory=list)  # selection scores of complete trials

    @property
    def open(self) -> bool:
        """A trial may start: budget left, or an enqueued retry waiting."""
        return not self.exhausted or self.waiting > 0

    @property
    def done(self) -> bool:
        return self.exhausted and self.live == 0

    def summary(self) -> dict[str, Any]:
        """What a tuned run's record keeps about its tuning (sensitivity: the spread of scores)."""
        v = self.values
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        spread = {"min": min(v), "max": max(v), "sd": sd} if v else None
        return {"trials": self.counted, "complete": self.complete, "pruned": self.pruned,
                "failed": self.failed, "seconds": round(self.seconds, 3), "best_trial": self.best_number,
                "best_select": self.best_value, "select_scores": v, "select_spread": spread}


@dataclass(frozen=True)
class Headroom:
    """How one task's selection score counts in a group's objective (:func:`group_objective`).

    Tasks' metrics differ in scale (SQuAD's F1 is 0-100, accuracy 0-1) and in what chance gives
    (0.5 accuracy on a balanced binary task, entity F1 0 for NER), so their raw mean is dominated by
    whichever has the largest numbers. A score counts instead as the share of the headroom above the
    task's trivial baseline that it gains: ``(score - trivial) / (scale - trivial)``, 0 at the
    baseline, 1 at the metric's best value (``Task.metric_scale``), negative below the baseline.
    Without a trivial baseline (the task declares none, or it failed) it counts as
    ``score / scale``."""

    scale: float  # the primary metric's best value: 1.0, or 100.0 for percentages
    trivial: float | None = None  # the trivial baseline's primary metric on the selection split
    note: str | None = None  # why there is no trivial baseline (its error), when it failed

    @classmethod
    def of(cls, task: Any, data: Any) -> Headroom:
        """``task``'s headroom on ``data``'s selection split (the runner's ``TaskData``)."""
        scale = float(getattr(task, "metric_scale", 1.0))
        trivial, error = selection_trivial(task, data)
        return cls(scale=scale, trivial=trivial, note=error)

    def gain(self, score: float) -> float:
        if self.trivial is None or not math.isfinite(self.trivial) or self.trivial >= self.scale:
            return score / self.scale
        return (score - self.trivial) / (self.scale - self.trivial)

    def describe(self, score: float) -> dict[str, Any]:
        """What a record keeps of one task's term (``details["objective"]``)."""
        out: dict[str, Any] = {"select": score, "trivial": self.trivial, "scale": self.scale,
                               "gain": self.gain(score)}
        if self.note:
            out["trivial_error"] = self.note
        if abs(score) > self.scale:
            out["warning"] = (f"selection score {score:g} exceeds the task's metric_scale {self.scale:g}: "
                              "declare Task.metric_scale, or this task dominates the group's objective")
        return out


def selection_trivial(task: Any, data: Any) -> tuple[float | None, str | None]:
    """The primary metric of ``task``'s trivial baseline (``Task.trivial_predictions``) on the
    selection split: the baseline is asked for the selection rows where it would predict the report
    rows (it learns from the training split only and reads no label of the rows it predicts), then
    scored on them, as the runner's ``_trivial`` scores the report split. (value, None); (None,
    None) when the task declares none; (None, the error) when computing or scoring it fails."""
    from dataclasses import replace

    try:
        select = data.splits["select"]
        declared = task.trivial_predictions(replace(data, splits={**data.splits, "report": select}))
        if declared is None:
            return None, None
        return float(task.score(declared[1], select)[task.primary_metric]), None
    except Exception as exc:  # noqa: BLE001 - the objective falls back to the metric's scale
        return None, f"{type(task).__name__}.trivial_predictions on select: {type(exc).__name__}: {exc}"


def group_objective(scores: dict[str, float], headroom: dict[str, Headroom]) -> float:
    """What tuning maximises (and multitask's early stopping and the pruner compare) for a group of
    tasks trained together: the mean over its tasks of the selection score's headroom gain
    (:class:`Headroom`), so that each task weighs the same whatever its metric's scale."""
    return sum(headroom[t].gain(v) for t, v in scores.items()) / len(scores)


def suggest(trial: optuna.Trial, space: dict[str, Param]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, p in space.items():
        if isinstance(p, Float):
            params[name] = trial.suggest_float(name, p.low, p.high, log=p.log)
        elif isinstance(p, Int):
            params[name] = trial.suggest_int(name, p.low, p.high, step=p.step, log=p.log)
        elif isinstance(p, Choice):
            params[name] = trial.suggest_categorical(name, list(p.choices))
    return params


def _origin(t: optuna.trial.FrozenTrial, by_number: dict[int, optuna.trial.FrozenTrial]) -> int:
    """The number of the trial ``t`` repeats, followed back to the first: Optuna's heartbeat retry
    (``retry_history``) or a ``--retry-failed`` copy (``retry_of``); else its own number."""
    history = t.system_attrs.get("retry_history") or []
    first = history[0] if history else t.user_attrs.get("retry_of")
    if first is None or first == t.number or first not in by_number:
        return t.number if first is None else int(first)
    return _origin(by_number[first], by_number)


def _abandoned(t: optuna.trial.FrozenTrial) -> bool:
    """Failed without an error: its worker died, and the heartbeat re-enqueued it."""
    return t.state == TrialState.FAIL and "error" not in t.user_attrs


def _duration(t: optuna.trial.FrozenTrial) -> float:
    if t.datetime_start is None:
        return 0.0
    from datetime import datetime

    end = t.datetime_complete or datetime.now()
    return max(0.0, (end - t.datetime_start).total_seconds())


class Tuner:
    def __init__(self, store: Store, tuning: Tuning, seeds: tuple[int, ...]):
        self.store, self.tuning = store, tuning
        # never a reporting seed (``load_suite`` refuses one): no reported run is a trial's training
        self.trial_seed = tuning.seed
        if self.trial_seed in seeds:
            raise ValueError(tuning.seed_problem(seeds))
        self._studies: dict[str, optuna.Study] = {}

    def study(self, cell: Cell) -> optuna.Study:
        if cell.group_id not in self._studies:  # the cells trained together share one study
            key = cell.tuning_key(self.tuning)
            seed = int(stable_id({"cell": cell.group_id, "seed": self.tuning.sampler_seed})[:8], 16)
            pruner = (optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
                      if self.tuning.pruner == "median" else optuna.pruners.NopPruner())
            startup = min(10, max(2, (self.tuning.budget.trials or 20) // 3))  # the defaults trial counts
            study = self.store.study_named(f"tune:{cell.group_id}:{key}",
                                           sampler=StartupSampler(seed, startup), pruner=pruner)
            study.set_user_attr("cell", {"id": cell.id, "strategy": cell.strategy, "task": cell.task,
                                         "model": cell.model})
            defaults = defaults_in(cell.space, cell.strategy_options) if cell.space else None
            fresh = not study.get_trials(deepcopy=False)
            if self.tuning.start_from_defaults and defaults is not None and fresh:
                # two workers may both get here: Optuna skips an enqueue whose params already wait
                study.enqueue_trial(defaults, user_attrs={"defaults": True}, skip_if_exists=True)
            self._studies[cell.group_id] = study
        return self._studies[cell.group_id]

    def tunable(self, cell: Cell) -> bool:
        return bool(cell.space)

    def state(self, cell: Cell, before: int | None = None) -> TuneState:
        """The cell's tuning state; with ``before``, counting only trials numbered below it."""
        st = TuneState()
        trials = self.study(cell).get_trials(deepcopy=False)
        retried = {t.user_attrs.get("retry_of") for t in trials}
        by_number = {t.number: t for t in trials}
        best: optuna.trial.FrozenTrial | None = None
        best_key: tuple[float, int] | None = None  # (value, -origin): ties go to the first asked for
        for t in trials:
            if before is not None and t.number >= before:
                continue
            if t.user_attrs.get("surplus") or t.number in retried:
                continue
            if _abandoned(t):
                continue
            st.counted += 1
            st.seconds += _duration(t)
            if t.state in LIVE:
                st.live += 1
                st.waiting += t.state == TrialState.WAITING
            elif t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value):
                st.complete += 1
                st.values.append(t.value)
                key = (t.value, -_origin(t, by_number))
                if best_key is None or key > best_key:
                    best, best_key = t, key
            elif t.state == TrialState.PRUNED:
                st.pruned += 1
            else:
                st.failed += 1
        budget = self.tuning.budget
        st.exhausted = (not self.tunable(cell) or (budget.trials is not None and st.counted >= budget.trials)
                        or (budget.seconds is not None and st.seconds >= budget.seconds))
        if best is not None:
            st.best_params, st.best_value, st.best_number = dict(best.params), best.value, best.number
        return st

    def run_trial(self, cell: Cell, execute: Callable[..., RunRecord]) -> RunRecord | bool | None:
        """Run one trial of ``cell`` (``execute(run, report) -> record``): its record, False when the
        trial turned out surplus, None if the budget is spent."""
        st = self.state(cell)
        if st.exhausted and not st.waiting:
            return None
        study, outcome = self.study(cell), {}

        def objective(trial: optuna.Trial) -> float:
            before = self.state(cell, before=trial.number)
            if before.exhausted or self._second_defaults(study, trial):
                trial.set_user_attr("surplus", True)
                raise optuna.TrialPruned()
            if ORDINAL_ATTR not in trial.user_attrs:  # a retry keeps the ordinal of the trial it repeats
                trial.set_user_attr(ORDINAL_ATTR, before.counted)  # what a start-up draw is seeded by
            trial.set_user_attr("worker", worker_id())
            params = suggest(trial, cell.space)
            run = Run(cell.with_params(params), self.trial_seed, "trial", str(trial.number), params)

            def report(step: int, value: float) -> None:
                trial.report(value, step)
                if trial.should_prune():
                    raise StopTrial(f"pruned at step {step} (selection score {value:.4g})")

            started = time.perf_counter()
            # always trained: the trial seed is no reporting seed, so no run shares its training
            record = execute(run, report)
            record = record.but(tuning_seconds=time.perf_counter() - started)
            outcome["record"] = record
            trial.set_user_attr(RECORD_ATTR, record.to_json())
            if record.status == "pruned":
                raise optuna.TrialPruned()
            if not record.ok:
                trial.set_user_attr("error", record.error[-2000:])
                raise RunFailed(record.error_line)
            # a group's runs carry the mean over its tasks (``objective``), else the cell's select score
            value = record.select_objective
            if not math.isfinite(value):
                trial.set_user_attr("error", f"selection score is {value}")
                raise RunFailed(f"selection score is {value}")
            return value

        study.optimize(objective, n_trials=1, catch=(RunFailed,), gc_after_trial=False)
        return outcome.get("record", False)

    @staticmethod
    def _second_defaults(study: optuna.Study, trial: optuna.Trial) -> bool:
        """``trial`` is the defaults trial and another worker enqueued it too (both saw a fresh study):
        only the first copy runs."""
        if not trial.user_attrs.get("defaults"):
            return False
        return any(t.number < trial.number and t.user_attrs.get("defaults") and not _abandoned(t)
                   and not t.user_attrs.get("surplus") for t in study.get_trials(deepcopy=False))

    def retry_failed(self, cell: Cell) -> int:
        """Give the failed trials of ``cell`` another go with the same parameters (``--retry-failed``)."""
        study, n = self.study(cell), 0
        trials = study.get_trials(deepcopy=False)
        retried = {t.user_attrs.get("retry_of") for t in trials}
        for t in trials:
            if t.state == TrialState.FAIL and "error" in t.user_attrs and t.number not in retried:
                study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
                n += 1
        return n

    def fail_stale(self, cell: Cell) -> None:
        self.store.fail_stale(self.study(cell))

    def trials(self, cell: Cell) -> list[optuna.trial.FrozenTrial]:
        return self.study(cell).get_trials(deepcopy=False)
