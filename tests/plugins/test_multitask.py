"""multitask: the contract kit (single task and a group), sharing, samplers, steps, and how the grid,
the runner and tuning treat a strategy that spans tasks (one training per group and seed)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from tlbench import build_grid, load_suite
from tlbench.errors import ConfigError
from tlbench.plugins import get_plugins
from tlbench.samplers import Sampler, checked
from tlbench.testing import GroupStrategyContract, StrategyContract, ToyTagTask, tiny_bert


class TestMultitask(GroupStrategyContract):
    strategy = "multitask"
    options = {"lr": 1e-3, "epochs": 6, "batch_size": 16}
    min_accuracy = 0.8  # one task: the same training as full fine-tuning

    def test_hard_sharing_trains_one_encoder_under_both_heads(self, group_fitted):
        texts, tags = group_fitted["texts"], group_fitted["tags"]
        assert texts.module.backbone is tags.module.backbone
        heads = sum(p.numel() for f in (texts, tags) for p in f.module.head.parameters())
        encoder = sum(p.numel() for p in texts.module.backbone.parameters())
        assert texts.parameter_counts() == (encoder + heads, encoder + heads)

    def test_matched_steps_are_the_single_task_runs_sum(self, group_fitted):
        info = group_fitted["texts"].details
        assert group_fitted["tags"].details == info  # one training: the same steps and draws
        assert group_fitted["texts"].curve == group_fitted["tags"].curve
        assert info["steps"] == sum(info["single_task_steps"].values())
        assert sum(info["batches_drawn"].values()) == info["steps"]  # one task per batch
        assert all(n > 0 for n in info["batches_drawn"].values())


class TestMultitaskTokens(StrategyContract):
    strategy = "multitask"
    options = {"lr": 3e-3, "epochs": 12, "batch_size": 16}  # 2 epochs left entity F1 at 0 (all "O")
    task_class = ToyTagTask
    min_accuracy = 0.35  # entity F1 0.48, as full fine-tuning's


class TestMultitaskSoft(GroupStrategyContract):
    strategy = "multitask"
    options = {"lr": 1e-3, "epochs": 6, "batch_size": 16, "sharing": "soft", "soft_weight": 0.01,
               "batching": "mixed", "selection": "per_task", "sampler": "annealed"}
    min_accuracy = 0.8  # 0.95 (2 epochs stayed at the majority label)

    def test_soft_sharing_keeps_an_encoder_per_task_and_counts_them(self, group_fitted):
        texts, tags = group_fitted["texts"], group_fitted["tags"]
        assert texts.module.backbone is not tags.module.backbone
        encoder = sum(p.numel() for p in texts.module.backbone.parameters())
        assert texts.parameter_counts()[0] > 2 * encoder

    def test_mixed_batches_draw_every_task_each_step(self, group_fitted):
        info = group_fitted["tags"].details
        assert info["batches_drawn"] == {"texts": info["steps"], "tags": info["steps"]}


def test_soft_penalty_pulls_encoders_together(tmp_path):
    import torch

    from tlbench.engine.multitask import MultitaskModel
    from tlbench.interfaces import ModelRef

    class J:  # what MultitaskModel reads of a job
        def __init__(self, head):
            self.device, self.task = "cpu", head
            self.model = ModelRef("t", str(tiny_bert(tmp_path / "m")), "")

    head = type("T", (), {"head": ToyTagTask("x", ToyTagTask.Options()).head})()
    model = MultitaskModel({"a": J(head), "b": J(head)}, pooling="cls", dropout=0.0, head="linear",
                           sharing="soft", soft_weight=1.0)
    with torch.no_grad():
        assert model.penalty().item() == 0.0  # both copies start from the checkpoint
        next(model.for_task("b").backbone.parameters()).add_(1.0)
        assert model.penalty().item() > 0.0


# -- samplers -----------------------------------------------------------------------------------
SIZES = {"big": 900, "small": 100}


def probs(name: str, progress: float = 0.0, temperature: float = 2.0) -> dict[str, float]:
    sampler = get_plugins().samplers.get(name).factory(name)
    return checked(sampler.probabilities(SIZES, progress=progress, temperature=temperature), SIZES, name)


def test_builtin_samplers_match_jiants_definitions():
    assert probs("uniform") == pytest.approx({"big": 0.5, "small": 0.5})
    assert probs("proportional") == pytest.approx({"big": 0.9, "small": 0.1})
    assert probs("temperature", temperature=1.0) == pytest.approx(probs("proportional"))
    assert probs("temperature", temperature=2.0) == pytest.approx({"big": 0.75, "small": 0.25})  # 30 : 10
    assert probs("temperature", temperature=1e6)["small"] == pytest.approx(0.5, abs=1e-4)
    # annealed: proportional at the start, the temperature's at the end
    assert probs("annealed", 0.0) == pytest.approx(probs("proportional"))
    assert probs("annealed", 1.0) == pytest.approx(probs("temperature"))
    assert 0.1 < probs("annealed", 0.5)["small"] < 0.25


def test_a_bad_sampler_answer_fails_naming_the_sampler():
    with pytest.raises(ValueError, match="sampler 'odd'.*sum to 1"):
        checked({"big": 0.7, "small": 0.7}, SIZES, "odd")
    with pytest.raises(ValueError, match="not for the tasks"):
        checked({"big": 1.0}, SIZES, "odd")


class RoundRobin(Sampler):
    description = "a third party's sampler"

    def probabilities(self, sizes, *, progress, temperature):
        return {t: 1.0 / len(sizes) for t in sizes}


def test_register_samplers(plugins):
    from tlbench import hookimpl

    class Plugin:
        @hookimpl
        def register_samplers(self, register):
            register("round_robin", RoundRobin)

    with plugins.temporarily(Plugin(), name="tlbench-rr") as p:
        row = next(r for r in p.listing() if r["name"] == "round_robin")
        assert (row["kind"], row["distribution"]) == ("sampler", "tlbench-rr")
        assert p.samplers.get("round_robin").factory is RoundRobin


# -- suites: the grid, validation, the runner and tuning ------------------------------------------
SUITE = """
models = ["{model}"]
seeds = [0]
heartbeat_seconds = 1
{tuning}
[tasks.a]
task = "fake_task"
[tasks.b]
task = "fake_task"
rows = 30
{more_tasks}
[strategies.multitask]
steps = 3
batch_size = 8
{options}
[strategies.fake_strategy]
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("tiny"))


def suite(tmp_path: Path, plugins, model: Path, *, options: str = "", tuning: str = "",
          more_tasks: str = ""):
    path = tmp_path / "s.toml"
    path.write_text(SUITE.format(model=model, options=options, tuning=tuning, more_tasks=more_tasks))
    return load_suite(path, plugins)


def test_a_group_is_one_cell_per_task_sharing_one_training_id(tmp_path, with_fakes, model):
    cells = build_grid(suite(tmp_path, with_fakes, model), with_fakes)
    mt = [c for c in cells if c.strategy == "multitask"]
    assert [c.task for c in mt] == ["a", "b"]
    assert mt[0].id != mt[1].id and mt[0].group_id == mt[1].group_id
    assert [m[0] for m in mt[0].group] == ["a", "b"]
    single = [c for c in cells if c.strategy == "fake_strategy"]
    assert all(not c.group and c.group_id == c.id for c in single)
    # a member's options are part of every member's identity
    changed = build_grid(suite(tmp_path, with_fakes, model, more_tasks="").model_copy(update={
        "tasks": tuple(t if t.label == "a" else t.model_copy(update={"options": t.options.model_copy(
            update={"rows": 31})}) for t in suite(tmp_path, with_fakes, model).tasks)}), with_fakes)
    assert [c.id for c in changed if c.strategy == "multitask"][0] != mt[0].id


def test_named_group_keeps_its_tasks_and_unknown_names_are_suggested(tmp_path, with_fakes, model):
    more = '[tasks.c]\ntask = "fake_task"\nrows = 40\n'
    cells = build_grid(suite(tmp_path, with_fakes, model, options='tasks = ["a", "c"]', more_tasks=more),
                       with_fakes)
    assert [c.task for c in cells if c.strategy == "multitask"] == ["a", "c"]
    with pytest.raises(ConfigError, match=r"strategies.multitask: tasks names \['d'\].*Tasks: a, b"):
        suite(tmp_path, with_fakes, model, options='tasks = ["a", "d"]')


def test_an_unknown_sampler_is_a_config_error_with_a_suggestion(tmp_path, with_fakes, model):
    with pytest.raises(ConfigError, match="unknown sampler 'temprature'. Did you mean: temperature"):
        suite(tmp_path, with_fakes, model, options='sampler = "temprature"')


def run_suite(tmp_path: Path, plugins, model: Path, cache: str = "cache", **kw) -> tuple:
    from tlbench.runner import Runner
    from tlbench.store import Store
    from tlbench.tuning import Tuner
    from tlbench.worker import Worker

    s = suite(tmp_path, plugins, model, **kw)
    cells = [c for c in build_grid(s, plugins) if c.strategy == "multitask"]
    store = Store(f"sqlite:///{tmp_path}/db.sqlite", s.name, heartbeat_seconds=1)
    tuner = Tuner(store, s.tuning, s.seeds) if s.tuning else None
    runner = Runner(s, plugins, device="cpu", cache_dir=tmp_path / cache, store=store)
    with counted(plugins) as trainings:
        Worker(s, cells, store, runner.execute, tuner=tuner, poll_seconds=0.1).run()
    return cells, store, tuner, trainings


@contextlib.contextmanager
def counted(plugins):
    """The task groups multitask trained while the block ran (its ``fit_group`` calls)."""
    cls = plugins.strategies.get("multitask").factory
    group_fit, trainings = cls.fit_group, []

    def counting(self, jobs):
        trainings.append(sorted(jobs))
        return group_fit(self, jobs)

    cls.fit_group = counting
    try:
        yield trainings
    finally:
        cls.fit_group = group_fit


def test_the_group_trains_once_per_seed_and_each_task_gets_its_record(tmp_path, with_fakes, model):
    cells, store, _, trainings = run_suite(tmp_path, with_fakes, model)
    assert trainings == [["a", "b"]]
    records = {r.task: r for r in store.records()}
    assert set(records) == {"a", "b"} and all(r.ok for r in records.values())
    a, b = records["a"], records["b"]
    assert a.group.tasks == ("a", "b") and [a.group.reused, b.group.reused] == [False, True]
    assert a.cost.train_seconds == b.cost.train_seconds
    assert a.data.sizes["train"] != b.data.sizes["train"]  # each task's own data
    # fake tasks declare no trivial baseline and scores on [0, 1]: each counts as score / 1
    assert a.objective == pytest.approx((a.score("select") + b.score("select")) / 2) == a.group.select_mean
    assert a.details["objective"]["tasks"]["b"]["gain"] == pytest.approx(b.score("select"))
    json.dumps(a.to_json())  # a record stays plain JSON
    # verify's runner (no store) trains again instead of reading the kept training
    from tlbench.grid import Run
    from tlbench.runner import Runner

    s = suite(tmp_path, with_fakes, model)
    with counted(with_fakes) as again:
        Runner(s, with_fakes, device="cpu", cache_dir=tmp_path / "cache").execute(Run(cells[1], 0))
    assert again == [["a", "b"]]


def test_the_group_training_is_kept_in_the_storage_not_in_a_cache_dir(tmp_path, with_fakes, model):
    """Two runners on one storage with different cache folders (two machines) train a group once
    per seed, and both members' records carry that one training."""
    from tlbench.grid import Run
    from tlbench.runner import Runner
    from tlbench.store import Store

    s = suite(tmp_path, with_fakes, model)
    cells = [c for c in build_grid(s, with_fakes) if c.strategy == "multitask"]
    store = Store(f"sqlite:///{tmp_path}/db.sqlite", s.name, heartbeat_seconds=1)
    one, two = (Runner(s, with_fakes, device="cpu", cache_dir=tmp_path / name, store=store)
                for name in ("machine1", "machine2"))
    with counted(with_fakes) as trainings:
        a = one.execute(Run(cells[0], 0))
        b = two.execute(Run(cells[1], 0))
        c = two.execute(Run(cells[1], 1))  # another seed is another training
    assert trainings == [["a", "b"]] * 2
    assert [a.group.reused, b.group.reused, c.group.reused] == [False, True, False]
    assert a.cost.train_seconds == b.cost.train_seconds and a.group.select_mean == b.group.select_mean
    assert not (tmp_path / "machine1" / "groups").exists()


def test_tuning_a_group_is_one_study_and_its_best_params_rerun_for_every_task(tmp_path, with_fakes, model):
    cells, store, tuner, trainings = run_suite(tmp_path, with_fakes, model,
                                               tuning="[tuning]\nbudget = { trials = 2 }\npruner = \"none\"")
    a, b = cells
    assert tuner.study(a) is tuner.study(b) and len(tuner.trials(a)) == 2
    tuned = [r for r in store.records() if r.variant == "tuned"]
    assert sorted(r.task for r in tuned) == ["a", "b"]
    assert tuned[0].tuned_params == tuned[1].tuned_params
    # the default run, then both trials (the trial seed is no reporting seed, so the defaults' trial
    # trains too), then the tuned run, unless the defaults won: their tuned run is the default run
    st = tuner.state(a)
    defaults_won = st.best_number == tuner.trials(a)[0].number
    assert trainings == [["a", "b"]] * (3 if defaults_won else 4)
    assert all((r.reused is not None) == defaults_won for r in tuned)


def test_a_broken_task_fails_the_group_naming_the_task(tmp_path, with_fakes, model):
    more = '[tasks.c]\ntask = "fake_task"\nbroken = true\n'
    _, store, _, _ = run_suite(tmp_path, with_fakes, model, more_tasks=more)
    records = store.records()
    assert len(records) == 3 and all(r.status == "failed" for r in records)
    assert all("task 'c' of the multitask group ['a', 'b', 'c']" in r.error
               and "fake data file is corrupt" in r.error for r in records)


def test_an_override_of_one_group_task_is_refused(tmp_path, with_fakes, model):
    more = '[[overrides]]\nstrategy = "multitask"\ntask = "b"\noptions = { lr = 0.5 }\n'
    path = tmp_path / "s.toml"
    path.write_text(SUITE.format(model=model, options="", tuning="", more_tasks="") + more)
    with pytest.raises(ConfigError, match=r"strategies.multitask trains a, b together .* some of them \(b\)"):
        load_suite(path, with_fakes)
