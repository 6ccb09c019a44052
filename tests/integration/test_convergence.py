"""The engine's evaluation schedule and training budget on CPU (issue 17): extra evaluations
(``min_evals``) change nothing about training, reach the curve but not the tuning pruner nor early
stopping; ``checkpoint = "best"`` restores the best evaluation without stopping; ``max_steps``
replaces epochs for the single-task loop, the probe's head and multitask's matched steps. Tiny models,
seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from tlbench import hookimpl
from tlbench.engine.batching import Collator
from tlbench.engine.heads import FeatureModel
from tlbench.engine.options import EngineOptions
from tlbench.engine.training import spread_steps, train
from tlbench.interfaces import HeadSpec, ModelRef, TaskOptions
from tlbench.plugins import get_plugins
from tlbench.testing import ToyTagTask, ToyTask, build_strategy, tiny_bert

COMMON = {"lr": 0.05, "batch_size": 16, "evals_per_epoch": 0, "warmup_ratio": 0.0}


def _rows(n: int = 64, width: int = 8) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, width)).astype(np.float32)
    return [{"features": x[i], "labels": int(x[i, 0] > 0)} for i in range(n)]


def _fit(options: EngineOptions, scores: list[float] | None = None, dropout: float = 0.3,
         ) -> tuple[nn.Module, list[tuple[int, float]], list[int], list[list[torch.Tensor]]]:
    """Train a small head with dropout (training draws random numbers); the evaluation really
    predicts (eval mode) and returns ``scores`` in turn (else the accuracy)."""
    from tlbench.engine.infer import predict

    torch.manual_seed(0)
    model = FeatureModel(HeadSpec("classification", 2), 8, dropout=dropout)
    rows, reported, snapshots = _rows(), [], []
    given = iter(scores or [])

    def evaluate() -> float:
        snapshots.append([p.detach().clone() for p in model.parameters()])
        out = predict(model, rows, Collator(), batch_size=32, device="cpu", precision="fp32")
        accuracy = float((out.argmax(-1) == np.array([r["labels"] for r in rows])).mean())
        return next(given) if scores else accuracy

    curve = train(model, rows, Collator(), model.loss, options, seed=0, device="cpu", evaluate=evaluate,
                  report=lambda step, value: reported.append(step))
    return model, curve, reported, snapshots


def test_extra_evaluations_leave_the_trained_weights_bit_identical():
    plain, curve, _, _ = _fit(EngineOptions(**COMMON, epochs=3, min_evals=0))
    assert curve == []
    watched, curve, reported, _ = _fit(EngineOptions(**COMMON, epochs=3, min_evals=5))
    assert [s for s, _ in curve] == [3, 5, 8, 10, 12] and reported == []  # 12 steps; none to the pruner
    for a, b in zip(plain.state_dict().values(), watched.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_only_the_schedule_reaches_the_pruner_and_early_stopping():
    # 4 steps an epoch, one scheduled evaluation an epoch, 6 spread ones: the pruner sees 4, 8, 12
    options = EngineOptions(**{**COMMON, "evals_per_epoch": 1}, epochs=3, min_evals=6)
    _, curve, reported, _ = _fit(options)
    assert [s for s, _ in curve] == [2, 4, 6, 8, 10, 12] and reported == [4, 8, 12]
    # patience 1 counts scheduled evaluations only: without a new best at step 8, it stops there,
    # whatever the extra ones in between said (step 6's 0.99 is not the scheduled best)
    stopping = {**COMMON, "evals_per_epoch": 1, "epochs": 3, "early_stopping_patience": 1}
    _, alone, _, _ = _fit(EngineOptions(**stopping, min_evals=0), scores=[0.5, 0.4, 0.3])
    _, mixed, _, _ = _fit(EngineOptions(**stopping, min_evals=6), scores=[0.5, 0.6, 0.99, 0.55])
    assert [s for s, _ in alone] == [4, 8] and [s for s, _ in mixed] == [2, 4, 6, 8]


def test_checkpoint_best_restores_the_best_evaluation_without_stopping():
    options = EngineOptions(**COMMON, epochs=3, min_evals=4, checkpoint="best")
    model, curve, _, snapshots = _fit(options, scores=[0.5, 0.9, 0.7, 0.6])
    assert [s for s, _ in curve] == [3, 6, 9, 12]  # trained to the end
    for restored, best in zip(model.parameters(), snapshots[1], strict=True):
        assert torch.equal(restored, best)
    last, _, _, _ = _fit(EngineOptions(**COMMON, epochs=3, min_evals=4), scores=[0.5, 0.9, 0.7, 0.6])
    assert not all(torch.equal(a, b) for a, b in zip(last.parameters(), snapshots[1], strict=True))


def test_max_steps_replaces_epochs_and_may_exceed_one_pass():
    _, curve, _, _ = _fit(EngineOptions(**COMMON, epochs=1, max_steps=10, min_evals=2))
    assert [s for s, _ in curve] == [5, 10]  # 64 rows / 16 = 4 steps a pass: 2.5 passes
    assert spread_steps(3, 4) == {1, 2, 3} and spread_steps(100, 4) == {25, 50, 75, 100}
    assert spread_steps(7, 0) == set()


# -- strategies with a budget ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from tlbench.runner import prepare_job

    work = tmp_path_factory.mktemp("budget")
    model = ModelRef("tiny-bert", str(tiny_bert(work / "tiny-bert")), "test")
    out = {}
    for label, cls in (("texts", ToyTask), ("tags", ToyTagTask)):
        task = cls(label, TaskOptions(select_examples=64, max_length=16))
        out[label] = prepare_job(task, model, task.load(None), seed=0, device="cpu", cache_dir=work / "cache",
                                 plugins=get_plugins())
    return out


def _strategy(name: str, **options: Any) -> Any:
    return build_strategy(name, options, get_plugins())


def test_extra_evaluations_leave_fine_tuning_bit_identical(jobs: dict[str, Any]):
    """A real encoder with dropout: predictions on the selection split between steps draw nothing."""
    common = {"lr": 1e-3, "batch_size": 16, "max_steps": 6, "evals_per_epoch": 0}
    plain = _strategy("full_finetune", **common, min_evals=0).fit(jobs["texts"])
    watched = _strategy("full_finetune", **common, min_evals=3).fit(jobs["texts"])
    assert list(plain.curve) == [] and [s for s, _ in watched.curve] == [2, 4, 6]
    for a, b in zip(plain.module.state_dict().values(), watched.module.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_the_budget_sets_the_probe_heads_steps(jobs: dict[str, Any]):
    fitted = _strategy("linear_probe", max_steps=7, min_evals=7).fit(jobs["texts"])
    assert [s for s, _ in fitted.curve] == list(range(1, 8))  # 30 epochs would be 30 x passes


def test_the_budget_sets_each_tasks_share_of_multitask_matched_steps(jobs: dict[str, Any]):
    fitted = _strategy("multitask", lr=1e-3, batch_size=16, max_steps=5, min_evals=2).fit_group(jobs)
    details = fitted["texts"].details
    assert details["single_task_steps"] == {"texts": 5, "tags": 5} and details["steps"] == 10
    assert [s for s, _ in fitted["texts"].curve] == [5, 10]


# -- through the runner: the suite's [training] table, the record's flag -----------------------------------
SUITE = """
models = ["{model}"]
seeds = [0]

[tasks.toy]
max_train_examples = 64
select_examples = 32
max_eval_examples = 32
max_length = 16

[strategies.full_finetune]
lr = 1e-3
batch_size = 16

[strategies.multitask]
lr = 1e-3
batch_size = 16

[training]
budget = {{ examples = 128 }}
checkpoint = "last"
"""


class ToyTasks:
    @staticmethod
    @hookimpl
    def register_tasks(register: Any) -> None:
        register("toy", ToyTask)


def test_the_runner_applies_the_budget_and_records_the_flag(tmp_path: Path):
    from tlbench.config import load_suite
    from tlbench.convergence import group_still_improving, run_still_improving
    from tlbench.grid import build_grid
    from tlbench.plugins import Plugins
    from tlbench.runner import Runner

    plugins = Plugins(entry_points=False)
    with plugins.temporarily(ToyTasks, name="toy-tasks"):
        path = tmp_path / "suite.toml"
        path.write_text(SUITE.format(model=tiny_bert(tmp_path / "tiny-bert")))
        suite = load_suite(path, plugins)
        runner = Runner(suite, plugins, device="cpu", cache_dir=tmp_path / "cache")
        records = {cell.strategy: runner.execute(cell.runs()[0]) for cell in build_grid(suite, plugins)}
    single, group = records["full_finetune"], records["multitask"]
    assert single.ok and group.ok, (single.error, group.error)
    for r in (single, group):  # 128 examples at 16 rows a step: 8 steps, 4 spread evaluations
        assert r.params["strategy"]["options"]["max_steps"] == 8
        assert [s for s, _ in r.curve] == [2, 4, 6, 8]
        assert isinstance(r.still_improving, bool)
    assert single.still_improving == run_still_improving(single.curve, "accuracy", 32)
    assert group.details["steps"] == 8
    gain = group.details["objective"]["tasks"]["toy"]
    slope = 1 / (1.0 - gain["trivial"]) if gain["trivial"] is not None else 1.0
    assert group.still_improving == group_still_improving(group.curve, [("accuracy", 32, gain["select"], 1.0,
                                                                         slope)])
