"""A suite's [training] table (one budget and one checkpoint rule for every engine strategy), the
checkpoint-selection defaults every engine strategy shares, multitask's search space, and the
"still improving" rule (tlbench.convergence) with its place in the analysis and the leaderboard.
Torch-free: suites are only validated, never run."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

from tests.records import record
from tlbench import ConfigError, EngineOptions, load_suite
from tlbench.analysis import analyse
from tlbench.cells import merged_options
from tlbench.convergence import group_noise, run_still_improving, standard_error, still_improving
from tlbench.grid import build_grid
from tlbench.plugins import Plugins
from tlbench.record import RunRecord
from tlbench.report import leaderboard

ENGINE = """
models = ["m"]
seeds = [0]

[tasks.sst2]
max_train_examples = 100

[tasks.imdb]
max_train_examples = 100

[strategies.full_finetune]
[strategies.partial_freeze]
[strategies.lora]
[strategies.linear_probe]
[strategies.multitask]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(textwrap.dedent(text))
    return path


def load(tmp_path: Path, text: str, plugins):
    return load_suite(write(tmp_path, text), plugins, check_data=False)


def problems(tmp_path: Path, text: str, plugins) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, plugins)
    return str(info.value)


def training(table: str, suite: str = ENGINE) -> str:
    return suite + "\n[training]\n" + textwrap.dedent(table)


# -- validation --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("budget", "expected"), [
    ("{ steps = 0 }", "training.budget.steps must be > 0, got 0"),
    ("{ steps = -5 }", "training.budget.steps must be > 0, got -5"),
    ("{ examples = 0 }", "training.budget.examples must be > 0, got 0"),
    ("{ epochs = 0.0 }", "training.budget.epochs must be > 0, got 0.0"),
    ("{ epochs = -1 }", "training.budget.epochs must be > 0, got -1"),
    ("{ steps = 10, epochs = 2 }", "give exactly one of steps, examples or epochs (got steps and epochs)"),
    ("{}", "give exactly one of steps, examples or epochs"),
    ("{ step = 10 }",
     "training.budget.step: unknown key 'step'. Did you mean: steps? Allowed: epochs, examples, steps."),
])
def test_a_bad_budget_names_the_key(tmp_path, plugins, budget, expected):
    assert expected in problems(tmp_path, training(f"budget = {budget}"), plugins)


def test_a_training_table_needs_a_budget_or_a_checkpoint(tmp_path, plugins):
    assert "give budget" in problems(tmp_path, ENGINE + "\n[training]\n", plugins)
    msg = problems(tmp_path, training('budget = { steps = 5 }\npatience = 2'), plugins)
    assert 'patience (early stopping) needs checkpoint = "best"' in msg
    msg = problems(tmp_path, training('checkpoint = "sometimes"'), plugins)
    assert "training.checkpoint must be one of" in msg


def test_more_steps_than_one_pass_is_fine(tmp_path, plugins):
    suite = load(tmp_path, training("budget = { steps = 100000 }"), plugins)
    assert {c.strategy_options.max_steps for c in build_grid(suite, plugins)} == {100000}


def test_a_budget_on_a_strategy_that_trains_nothing_is_refused(tmp_path, plugins):
    text = ENGINE + '\n[strategies.probe_knn]\nstrategy = "linear_probe"\nhead = "knn"\n'
    msg = problems(tmp_path, training("budget = { steps = 50 }", text), plugins)
    assert "training.budget: strategies.probe_knn (linear_probe) trains nothing" in msg
    assert "training.exempt" in msg
    # exempt: it keeps its own options, every other strategy gets the budget
    suite = load(tmp_path, training('budget = { steps = 50 }\nexempt = ["probe_knn"]', text), plugins)
    steps = {c.strategy: c.strategy_options.max_steps for c in build_grid(suite, plugins)}
    assert steps.pop("probe_knn") is None and set(steps.values()) == {50}
    # an override turning a trained head into kNN counts too
    text = ENGINE + '\n[[overrides]]\nstrategy = "linear_probe"\ntask = "imdb"\noptions = { head = "knn" }\n'
    assert "strategies.linear_probe (linear_probe) trains nothing" in problems(
        tmp_path, training("budget = { steps = 50 }", text), plugins)


def test_a_budget_on_a_strategy_without_the_engine_is_refused(tmp_path, with_fakes):
    text = """
    models = ["m"]
    seeds = [0]
    [tasks.fake_task]
    rows = 10
    [strategies.fake_strategy]
    [training]
    budget = { examples = 640 }
    """
    msg = problems(tmp_path, text, with_fakes)
    assert ("training.budget: strategies.fake_strategy (fake_strategy) does not train with the engine and "
            "declares no training budget") in msg
    assert "unknown" in problems(tmp_path, text + 'exempt = ["unknown"]\n', with_fakes)
    assert load(tmp_path, text + 'exempt = ["fake_strategy"]\n', with_fakes).training is not None


def test_keys_the_table_sets_may_not_be_set_again(tmp_path, plugins):
    text = ENGINE.replace("[strategies.full_finetune]", "[strategies.full_finetune]\nepochs = 3")
    text += '\n[[overrides]]\nstrategy = "lora"\noptions = { max_steps = 7 }\n'
    msg = problems(tmp_path, training("budget = { steps = 50 }", text), plugins)
    assert "strategies.full_finetune.epochs: set by training.budget for every strategy" in msg
    assert "overrides[0].options.max_steps: set by training.budget" in msg
    text = ENGINE.replace("[strategies.linear_probe]",
                          "[strategies.linear_probe]\nsearch_space.epochs = [5, 50]")
    assert "the search space of strategies.linear_probe (epochs)" in problems(
        tmp_path, training("budget = { epochs = 1 }", text), plugins)
    text = ENGINE.replace("[strategies.partial_freeze]", "[strategies.partial_freeze]\nevals_per_epoch = 1\n"
                          "early_stopping_patience = 2")
    assert "strategies.partial_freeze.early_stopping_patience: set by training.checkpoint" in problems(
        tmp_path, training('checkpoint = "last"', text), plugins)
    text = ENGINE.replace("[strategies.multitask]", "[strategies.multitask]\nselection = \"per_task\"")
    assert "strategies.multitask.selection: per_task keeps each task's best checkpoint" in problems(
        tmp_path, training('checkpoint = "last"', text), plugins)
    assert load(tmp_path, training('checkpoint = "best"', text), plugins).training is not None
    text = ENGINE.replace("[strategies.multitask]", "[strategies.multitask]\nsteps = 40")
    assert "strategies.multitask.steps: 40 steps, but training.budget sets every strategy's" in problems(
        tmp_path, training("budget = { steps = 50 }", text), plugins)


def test_options_the_table_makes_impossible_are_named(tmp_path, plugins):
    # early stopping counts scheduled evaluations: the probe schedules none by default
    msg = problems(tmp_path, training('checkpoint = "best"\npatience = 2'), plugins)
    assert "training: strategies.linear_probe" in msg and "evals_per_epoch > 0" in msg


# -- application ---------------------------------------------------------------------------------------
def _options(suite, plugins) -> dict[tuple[str, str], EngineOptions]:
    return {(c.strategy, c.task): c.strategy_options for c in build_grid(suite, plugins)}  # type: ignore[misc]


def test_a_steps_budget_reaches_every_engine_strategy(tmp_path, plugins):
    suite = load(tmp_path, training("budget = { steps = 200 }"), plugins)
    options = _options(suite, plugins)
    assert {s for s, _ in options} == {"full_finetune", "partial_freeze", "lora", "linear_probe", "multitask"}
    assert {o.max_steps for o in options.values()} == {200}
    # the same through merged_options (what tuning and the plan read)
    s = next(x for x in suite.strategies if x.label == "linear_probe")
    assert merged_options(suite, plugins, s, suite.tasks[0], "m")[0].max_steps == 200


def test_an_examples_budget_becomes_steps_at_each_batch_size(tmp_path, plugins):
    suite = load(tmp_path, training("budget = { examples = 6400 }"), plugins)
    for (strategy, _), o in _options(suite, plugins).items():
        assert o.max_steps == math.ceil(6400 / o.batch_size), strategy
    assert _options(suite, plugins)[("linear_probe", "sst2")].max_steps == 25  # batch_size 256


def test_an_epochs_budget_sets_epochs(tmp_path, plugins):
    suite = load(tmp_path, training('budget = { epochs = 3 }\ncheckpoint = "best"'), plugins)
    for o in _options(suite, plugins).values():
        assert (o.epochs, o.max_steps, o.checkpoint, o.early_stopping_patience) == (3.0, None, "best", 0)
        assert o.restores_best


def test_without_a_table_nothing_changes(tmp_path, plugins):
    options = _options(load(tmp_path, ENGINE, plugins), plugins)
    assert options[("linear_probe", "sst2")].epochs == 30 and options[("full_finetune", "sst2")].epochs == 2
    assert all(o.max_steps is None and o.checkpoint is None for o in options.values())


# -- defaults every engine strategy shares --------------------------------------------------------------
def _engine_strategies() -> dict[str, type]:
    plugins = Plugins()  # the installed third-party plugins too (bitfit)
    return {n: plugins.strategies.get(n).factory for n in plugins.strategies.names()
            if issubclass(plugins.strategies.get(n).factory.Options, EngineOptions)}


def test_every_engine_strategy_selects_its_checkpoint_the_same_way_by_default():
    found = _engine_strategies()
    assert {"full_finetune", "linear_probe", "multitask", "lora", "partial_freeze"} <= set(found)
    for name, factory in found.items():
        o = factory.Options()
        assert (o.checkpoint, o.early_stopping_patience, o.min_evals, o.max_steps) == (None, 0, 4, None), name
        assert not o.restores_best, name


def test_multitask_searches_no_axis_the_single_task_strategies_lack():
    found = _engine_strategies()
    engine_fields = set(EngineOptions.model_fields)

    def axes(factory: type) -> set[str]:
        space = factory.search_space
        return set(space(factory.Options()) if callable(space) else space)

    single = set().union(*(axes(f) for n, f in found.items() if n != "multitask")) & engine_fields
    multi = axes(found["multitask"]) & engine_fields  # its own knobs (temperature) have no counterpart
    assert "epochs" not in multi and "max_steps" not in multi
    assert multi <= single, multi - single


def test_engine_options_check_the_checkpoint():
    with pytest.raises(ValueError, match="contradicts"):
        EngineOptions(checkpoint="last", early_stopping_patience=2)
    with pytest.raises(ValueError, match="needs evaluations"):
        EngineOptions(checkpoint="best", evals_per_epoch=0, min_evals=0)
    with pytest.raises(ValueError):
        EngineOptions(max_steps=0)
    assert EngineOptions(early_stopping_patience=2).restores_best  # as before: early stopping restores


# -- the convergence rule ------------------------------------------------------------------------------
N = 400  # selection rows: the noise of an accuracy near 0.8 is sqrt(0.16 / 400) = 0.02


def test_rising_beyond_the_noise_is_still_improving():
    assert run_still_improving([(25, 0.60), (50, 0.70), (75, 0.76), (100, 0.80)], "accuracy", N) is True


def test_a_plateau_is_not():
    assert run_still_improving([(25, 0.78), (50, 0.80), (75, 0.80), (100, 0.80)], "accuracy", N) is False
    # the last evaluation below an earlier one: past its best
    assert run_still_improving([(25, 0.60), (50, 0.70), (75, 0.90), (100, 0.85)], "accuracy", N) is False


def test_rising_within_the_noise_is_not():
    assert run_still_improving([(25, 0.78), (50, 0.79), (75, 0.795), (100, 0.80)], "accuracy", N) is False


def test_fewer_than_three_points_are_not_judged():
    assert run_still_improving([(50, 0.5), (100, 0.9)], "accuracy", N) is None
    assert run_still_improving([], "accuracy", N) is None
    assert run_still_improving([(1, 0.5), (2, 0.6), (3, 0.9)], "accuracy", 1) is None  # no noise estimate
    # every point in the final third: nothing to compare with
    assert run_still_improving([(90, 0.5), (95, 0.6), (100, 0.9)], "accuracy", N) is None


def test_the_noise_follows_the_metric_and_its_scale():
    assert standard_error("accuracy", 0.8, 400) == pytest.approx(0.02)
    assert standard_error("f1", 80.0, 400, scale=100.0) == pytest.approx(2.0)  # SQuAD's percent
    assert standard_error("matthews", 0.6, 101) == pytest.approx(0.064)  # (1 - r^2) / sqrt(n - 1)
    # a 1.5-point rise of SQuAD F1 over 400 questions is noise; a 4-point one is not
    assert run_still_improving([(1, 78.0), (2, 78.5), (3, 79.5)], "f1", 400, 100.0) is False
    assert run_still_improving([(1, 75.0), (2, 76.0), (3, 80.0)], "f1", 400, 100.0) is True
    # a group's objective: the mean of k gains, each gain's noise scaled by its slope
    assert group_noise([("accuracy", 400, 0.8, 1.0, 2.0), ("f1", 400, 80.0, 100.0, 0.01)]) == \
        pytest.approx(math.sqrt(0.04 ** 2 + 0.02 ** 2) / 2)
    assert still_improving([(1, 0.1), (2, 0.2), (3, 0.3)], lambda a, b: 0.05) is True


# -- the record, the analysis and the leaderboard -------------------------------------------------------
def test_the_flag_is_counted_per_cell_and_shown_in_the_task_table():
    records = [record("full_finetune", seed=s, score=0.8 + s / 100) for s in range(3)]
    records += [record("linear_probe", seed=s, score=0.7 + s / 100).but(still_improving=s < 2)
                for s in range(3)]
    assert RunRecord.model_validate(records[3].to_json()).still_improving is True  # kept in JSON
    a = analyse(records, baseline="full_finetune", n_resamples=200)
    cells = a["tasks"]["sst2"]["strategies"]
    assert cells["linear_probe"]["still_improving"] == {"count": 2, "of": 3}
    assert cells["full_finetune"]["still_improving"] is None  # not judged (older records)
    text = leaderboard(records, "s", baseline="full_finetune", analysis=a)
    assert "*still improving* (2 of 3 seeds)" in text
    assert "*still improving*: the run's selection score" in text
