"""Tuning and the shared queue, in one process, with the fake ``sleepy`` strategy (no training).

Integration: the runner prepares each job (a tiny BERT's tokenizer, so torch and transformers), and
the worker takes its runs from a real Optuna storage. The suite-level checks of tuning that need no
runner are in tests/unit/test_tuning.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fakes import SLEEPY_SUITE as SUITE
from tlbench.config import load_suite
from tlbench.grid import build_grid
from tlbench.record import load_record
from tlbench.runner import Runner
from tlbench.store import RECORD_ATTR, SPEC_ATTR, Store
from tlbench.testing import tiny_bert
from tlbench.tuning import Tuner
from tlbench.worker import Worker


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("tiny"))


def make(tmp_path: Path, plugins, model: Path, *, trials: int = 4, pruner: str = "none",
         extra: str = "", more: str = "") -> tuple:
    path = tmp_path / "s.toml"
    path.write_text(SUITE.format(model=model, trials=trials, pruner=pruner, extra=extra) + more)
    suite = load_suite(path, plugins)
    cells = build_grid(suite, plugins)
    store = Store(f"sqlite:///{tmp_path}/db.sqlite", suite.name, heartbeat_seconds=1)
    tuner = Tuner(store, suite.tuning, suite.seeds)
    runner = Runner(suite, plugins, device="cpu", cache_dir=tmp_path / "cache")
    return suite, cells, store, tuner, runner


def worker(parts: tuple, **kw) -> Worker:
    suite, cells, store, tuner, runner = parts
    return Worker(suite, cells, store, runner.execute, tuner=tuner, poll_seconds=0.1, **kw)


def test_budget_then_best_params_rerun_for_every_seed(tmp_path, with_fakes, model):
    parts = make(tmp_path, with_fakes, model, trials=5)
    suite, cells, store, tuner, _ = parts
    worker(parts).run()
    (cell,) = cells
    st = tuner.state(cell)
    assert st.counted == st.complete == 5 and st.done
    best = max(tuner.trials(cell), key=lambda t: t.value)
    records = store.records()
    tuned = [r for r in records if r.variant == "tuned"]
    default = [r for r in records if r.variant == "default"]
    assert sorted(r.seed for r in tuned) == sorted(r.seed for r in default) == [0, 1]
    assert all(r.tuned_params == best.params for r in tuned)
    assert all(r.params["strategy"]["options"]["lr"] == best.params["lr"] for r in tuned)
    assert all(r.params["strategy"]["options"]["lr"] == 1e-3 for r in default)
    summary = tuned[0].tuning
    assert summary.trials == 5 and summary.best_trial == best.number
    assert summary.select_spread.max == pytest.approx(best.value)
    assert len(summary.select_scores) == 5
    # trials keep their own records, trained with the trial seed, which is no reporting seed (issue
    # 17): the first tried the defaults and trained (no default run has its seed), and no reported
    # run is a trial's training, the winner's included
    rec = load_record(best.user_attrs[RECORD_ATTR])  # the trial keeps the record's JSON form
    assert rec.variant == "trial" and rec.predictions and rec.seed == suite.tuning.trial_seed == 10_000
    trials = [load_record(t.user_attrs[RECORD_ATTR]) for t in tuner.trials(cell)]
    assert all(t.seed == 10_000 and t.reused is None for t in trials)
    first = tuner.trials(cell)[0]
    assert first.params == {"lr": 1e-3} and first.user_attrs["defaults"]
    # every seed trains the tuned options, unless they are the defaults, which the default runs have
    assert all(r.reused is None or r.reused.variant == "default" for r in tuned)
    assert all((r.reused is not None) == (best.number == first.number) for r in tuned)
    # a second worker finds nothing to do and redoes nothing
    before = len(store.study.get_trials()), len(tuner.trials(cell))
    worker(parts).run()
    assert (len(store.study.get_trials()), len(tuner.trials(cell))) == before


def test_the_report_uses_tuned_runs_and_keeps_defaults(tmp_path, with_fakes, model):
    from tlbench.records import by_variant, reported

    parts = make(tmp_path, with_fakes, model, trials=3)
    worker(parts).run()
    records = parts[2].records()
    assert reported(records)[("sleepy", "fake_task")][0] == "tuned"
    assert len(by_variant(records)[("sleepy", "fake_task", "default")]) == 2


def test_a_failing_trial_is_recorded_counted_and_retried_on_request(tmp_path, with_fakes, model):
    parts = make(tmp_path, with_fakes, model, trials=4, extra="fail_above = 1e-3")
    suite, cells, store, tuner, _ = parts
    worker(parts).run()
    (cell,) = cells
    trials = tuner.trials(cell)
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert failed and all("is above" in t.user_attrs["error"] for t in failed)
    st = tuner.state(cell)
    assert st.counted == 4 and st.failed == len(failed)
    assert tuner.retry_failed(cell) == len(failed)
    assert tuner.retry_failed(cell) == 0  # enqueued once
    worker(parts).run()
    assert len(tuner.trials(cell)) == 4 + len(failed)


def test_pruner_stops_hopeless_trials(tmp_path, with_fakes, model):
    # Five good trials (the defaults' first, then four), then two hopeless ones, enqueued so the
    # sampler's choices cannot hide them (TPE converging on good values left nothing below the
    # median in one CI run out of many).
    parts = make(tmp_path, with_fakes, model, trials=7, pruner="median", extra="steps = 4")
    (cell,) = parts[1]
    study = parts[3].study(cell)
    assert [t.user_attrs.get("defaults") for t in study.get_trials()] == [True]  # waiting
    for lr in [1e-2] * 4 + [1.0, 1.0]:
        study.enqueue_trial({"lr": lr})
    worker(parts).run()
    pruned = [t for t in parts[3].trials(cell) if t.state.name == "PRUNED"]
    assert [t.params["lr"] for t in pruned] == [1.0, 1.0], "the hopeless trials were not pruned"
    assert all(t.user_attrs[RECORD_ATTR]["status"] == "pruned" for t in pruned)
    assert all(len(t.intermediate_values) < 4 for t in pruned)


def test_a_surplus_trial_started_by_a_racing_worker_is_ignored(tmp_path, with_fakes, model):
    parts = make(tmp_path, with_fakes, model, trials=2)
    _, cells, store, tuner, runner = parts
    (cell,) = cells
    assert tuner.run_trial(cell, runner.execute)
    study = tuner.study(cell)
    optimize, other = study.optimize, []

    def racing(*args, **kwargs):
        other.append(study.ask())  # another worker starts the last trial after our budget check
        return optimize(*args, **kwargs)

    study.optimize = racing
    tuner.run_trial(cell, runner.execute)  # this one started "at the same time": one too many
    study.optimize = optimize
    trials = tuner.trials(cell)
    assert [t.user_attrs.get("surplus") for t in trials] == [None, None, True]
    st = tuner.state(cell)
    assert st.counted == 2 and st.live == 1 and st.exhausted and not st.done
    study.tell(other[0], 0.5)
    assert tuner.state(cell).done


def test_a_dead_workers_run_is_retried_once_by_heartbeat(tmp_path, with_fakes, model):
    parts = make(tmp_path, with_fakes, model, trials=1)
    _, cells, store, tuner, runner = parts
    w = worker(parts)
    w.start()
    # a worker takes a run, beats once and dies (no more heartbeats, never told)
    dead = store.study.ask()
    store.storage.record_heartbeat(dead._trial_id)
    time.sleep(2.5)
    w.run()
    trials = store.study.get_trials()
    dead_run = dead.user_attrs[SPEC_ATTR]["run_id"]
    copies = [t for t in trials if t.user_attrs.get(SPEC_ATTR, {}).get("run_id") == dead_run]
    assert [t.state.name for t in copies] == ["FAIL", "COMPLETE"]
    assert len(store.finished()) == len({t.user_attrs[SPEC_ATTR]["run_id"] for t in trials}) == 4


def test_an_interrupted_run_is_enqueued_again_by_the_next_worker(tmp_path, with_fakes, model):
    parts = make(tmp_path, with_fakes, model, trials=1)
    store = parts[2]
    w = worker(parts)
    w.start()
    t = store.study.ask()
    store.study.tell(t, state=__import__("optuna").trial.TrialState.FAIL)  # Ctrl-C inside optimize
    worker(parts).run()
    assert len(store.finished()) == 4


def test_duplicate_enqueues_run_once(tmp_path, with_fakes, model):
    parts = make(tmp_path, with_fakes, model, trials=1)
    suite, cells, store, tuner, runner = parts
    specs = [{"run_id": r.id, "cell_id": r.cell.id, "seed": r.seed, "variant": "default", "tag": "",
              "params": {}} for r in cells[0].runs()]
    for spec in specs:  # two workers enqueued the same runs at the same moment
        store.study.enqueue_trial({}, user_attrs={SPEC_ATTR: spec})
        store.study.enqueue_trial({}, user_attrs={SPEC_ATTR: spec})
    worker(parts).run()
    done = [t for t in store.study.get_trials() if t.state.name == "COMPLETE"]
    ids = [t.user_attrs[SPEC_ATTR]["run_id"] for t in done]
    assert len(ids) == len(set(ids)) == 4
    assert sum(bool(t.user_attrs.get("skipped")) for t in store.study.get_trials()) == 2

def test_seconds_budget_stops_starting_trials(tmp_path, with_fakes, model):
    parts = make(tmp_path, with_fakes, model, extra="sleep = 0.4")
    suite = parts[0]
    tuning = suite.tuning.model_copy(update={"budget": suite.tuning.budget.model_copy(
        update={"trials": None, "seconds": 1.0})})
    tuner = Tuner(parts[2], tuning, suite.seeds)
    (cell,) = parts[1]
    while tuner.run_trial(cell, parts[4].execute) is not None:
        pass
    # trials start while less than the budget is spent; the last one may overrun it (timing-proof:
    # how many trials fit depends on the machine's speed)
    from tlbench.tuning import _duration

    spent = [_duration(t) for t in sorted(tuner.trials(cell), key=lambda t: t.number)]
    assert sum(spent[:-1]) < 1.0 <= sum(spent) and tuner.state(cell).exhausted
    assert tuner.run_trial(cell, parts[4].execute) is None

def test_a_strategy_whose_factory_fails_fails_its_own_cells_only(tmp_path, with_fakes, model):
    import types

    from tests.fakes import FakeStrategy
    from tlbench import hookimpl

    class Broken(FakeStrategy):
        def __init__(self, name, options):
            raise RuntimeError("factory broke")

    plugin = types.SimpleNamespace(register_strategies=hookimpl(lambda register: register("broken", Broken)))
    with with_fakes.temporarily(plugin, name="tlbench-broken"):
        parts = make(tmp_path, with_fakes, model, trials=1, more="\n[strategies.broken]\n")
        worker(parts).run()
    records = parts[2].records()
    broken = [r for r in records if r.strategy == "broken"]
    assert len(broken) == 2 and all("RuntimeError: factory broke" in r.error for r in broken)
    assert {r.variant for r in records if r.strategy == "sleepy" and r.ok} == {
        "default", "tuned"}
