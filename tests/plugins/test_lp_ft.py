"""``lp_ft``: the contract kit on the toy texts and tags; stage 1 trains the head and leaves the
encoder alone; the record's compute counts both stages; with ``probe_epochs = 0`` it is
``full_finetune`` bit for bit (CPU, same seed); and it runs on every head kind the engine has."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.plugins.test_every_task import SMALL, TASKS, load
from tlbench import HeadSpec, get_plugins
from tlbench.runner import prepare_job
from tlbench.testing import StrategyContract, ToyTagTask, ToyTask
from tlbench_builtin.full_finetune import FullFinetune
from tlbench_builtin.linear_probe import LinearProbeOptions
from tlbench_builtin.lp_ft import LpFt, LpFtOptions

torch = pytest.importorskip("torch")

OPTIONS = {"lr": 1e-3, "epochs": 6, "batch_size": 16, "probe_epochs": 40}


class TestLpFt(StrategyContract):
    strategy = "lp_ft"
    options = OPTIONS
    min_accuracy = 0.8  # 0.97 (full_finetune with the same stage-2 options: 0.95)

    def test_every_weight_trains_in_the_end(self, fitted: Any) -> None:
        trainable, total = fitted.parameter_counts()
        assert trainable == total

    def test_stage_one_trains_the_head_on_the_frozen_encoder(self, instance: Any, job: Any) -> None:
        from transformers import set_seed

        set_seed(0)
        model = instance._build(job)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        instance.probe_stage(job, model)
        after = dict(model.named_parameters())
        encoder = [n for n in before if n.startswith("backbone.")]
        head = [n for n in before if n.startswith("head.")]
        assert encoder and head
        assert all(torch.equal(before[n], after[n]) for n in encoder), "stage 1 changed the encoder"
        assert all(not torch.equal(before[n], after[n]) for n in head), "stage 1 left the head as built"

    def test_stage_one_trains_on_the_representation_stage_two_uses(self, fitted: Any, job: Any) -> None:
        from tlbench.engine.features import feature_path

        # pooling auto: cls for a fine-tuned encoder, while the probe alone would take the mean
        pooling = fitted.module.pooling
        assert pooling == "cls" and fitted.details.get("pooling", pooling) == "cls"
        assert feature_path(job, "train", pooling, "last").is_file()
        assert not feature_path(job, "train", "mean", "last").is_file()

    def test_compute_charges_both_stages(self, fitted: Any, job: Any) -> None:
        stages, c = fitted.details["stages"], fitted.compute
        probe, finetune = stages["probe"], stages["finetune"]
        rows = len(job.data.splits["train"])  # 192: one 256-row probe step an epoch, 12 of 16 rows
        assert probe["optimizer_steps"] == 40 * math.ceil(rows / 256)
        assert finetune["optimizer_steps"] == 6 * math.ceil(rows / 16)
        assert c.optimizer_steps == probe["optimizer_steps"] + finetune["optimizer_steps"]
        assert c.epochs == pytest.approx(probe["epochs"] + finetune["epochs"]) == pytest.approx(46.0)
        assert c.examples_seen == probe["examples_seen"] + finetune["examples_seen"] == 46 * rows
        # stage 1's tokens are the feature extraction's (one encoder pass), stage 2's every step's
        tokens = sum(len(ids) for ids in job.encoded("train")["input_ids"])
        assert probe["tokens"] == tokens and c.tokens == tokens + finetune["tokens"]
        assert finetune["tokens"] == 6 * tokens
        assert probe["seconds"] > 0 and finetune["seconds"] > 0 and c.oneoff_seconds > 0
        assert fitted.curve and all(step <= finetune["optimizer_steps"] for step, _ in fitted.curve)

    def test_probe_epochs_zero_is_full_finetune_bit_for_bit(self, job: Any) -> None:
        shared = {"lr": 1e-3, "epochs": 2, "batch_size": 16}
        lpft = LpFt("lp_ft", LpFtOptions(**shared, probe_epochs=0)).fit(job)
        ft = FullFinetune("full_finetune", FullFinetune.Options(**shared)).fit(job)
        a, b = dict(lpft.module.named_parameters()), dict(ft.module.named_parameters())
        assert set(a) == set(b) and all(torch.equal(a[n], b[n]) for n in a)
        assert np.array_equal(lpft.predict("report"), ft.predict("report"))
        assert lpft.curve == ft.curve
        assert lpft.compute.optimizer_steps == ft.compute.optimizer_steps
        assert lpft.details["stages"]["probe"]["optimizer_steps"] == 0

    def test_defaults_are_the_probes_then_full_finetunes(self) -> None:
        o, probe, ft = LpFtOptions(), LinearProbeOptions(), FullFinetune.Options()
        assert (o.probe_lr, o.probe_epochs, o.probe_batch_size) == (probe.lr, probe.epochs, probe.batch_size)
        assert (o.lr, o.epochs, o.batch_size, o.pooling, o.head) == (ft.lr, ft.epochs, ft.batch_size,
                                                                     ft.pooling, ft.head)
        assert {"lr", "probe_lr"} <= set(LpFt.search_space)

    def test_serves_every_engine_head_kind(self, instance: Any) -> None:
        for kind, n in (("classification", 2), ("regression", 1), ("token_classification", 5), ("span", 2)):
            assert instance.problem(HeadSpec(kind, n)) is None  # type: ignore[arg-type]
        crf = LpFt("lp_ft", LpFtOptions(head="crf"))
        assert crf.problem(HeadSpec("classification", 2))  # the engine's own refusal


class TestLpFtTokens(StrategyContract):
    strategy = "lp_ft"
    options = {"lr": 3e-3, "epochs": 12, "batch_size": 16, "probe_epochs": 60, "probe_lr": 1e-2}
    task_class = ToyTagTask
    min_accuracy = 0.35  # entity F1 0.72 (full_finetune with the same stage-2 options: 0.48)


# -- every head kind of the mirror's tasks, end to end (pairs, regression, tokens, spans) ------------------
@pytest.mark.parametrize("task_name", ["mrpc", "stsb", "conll2003", "squad"])
def test_runs_on_task(task_name: str, data_dir: Path, tmp_path: Path) -> None:
    from tlbench import ModelRef
    from tlbench.testing import tiny_bert

    plugins = get_plugins()
    entry = plugins.tasks.get(task_name)
    task = entry.factory(task_name, entry.factory.Options(**{**SMALL, **TASKS[task_name]}))
    model = ModelRef("tiny-bert", str(tiny_bert(tmp_path / "tiny")), "test")
    job = prepare_job(task, model, load(task, data_dir), seed=0, device="cpu", cache_dir=tmp_path / "cache",
                      plugins=plugins)
    instance = LpFt("lp_ft", LpFtOptions(epochs=1, batch_size=8, probe_epochs=2))
    assert instance.problem(task.head) is None
    fitted = instance.fit(job)
    outputs = fitted.predict("report")
    metrics = job.score("report", outputs)
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    assert fitted.details["stages"]["probe"]["optimizer_steps"] > 0
    fitted.save(tmp_path / "saved")
    again = instance.load(job, tmp_path / "saved").predict("report")
    for a, b in zip(outputs if isinstance(outputs, list) else [outputs],
                    again if isinstance(again, list) else [again], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("head", "task_class"), [("mlp", ToyTask), ("crf", ToyTagTask)])
def test_other_heads_move_from_stage_one(head: str, task_class: type, tmp_path: Path) -> None:
    from transformers import set_seed

    from tlbench import ModelRef, TaskOptions
    from tlbench.testing import tiny_bert

    task = task_class("toy", TaskOptions(select_examples=16, max_train_examples=32, max_length=16))
    model = ModelRef("tiny-bert", str(tiny_bert(tmp_path / "tiny")), "test")
    job = prepare_job(task, model, task.load(None), seed=0, device="cpu", cache_dir=tmp_path / "cache",
                      plugins=get_plugins())
    instance = LpFt("lp_ft", LpFtOptions(head=head, epochs=1, batch_size=16, probe_epochs=3))  # type: ignore[arg-type]
    set_seed(0)
    built = instance._build(job)
    before = {n: p.detach().clone() for n, p in built.head.named_parameters()}
    instance.probe_stage(job, built)
    assert all(not torch.equal(before[n], p) for n, p in built.head.named_parameters()), head
    fitted = instance.fit(job)
    assert fitted.details["stages"]["probe"]["optimizer_steps"] == 3
    assert 0.0 <= job.score("report", fitted.predict("report"))[task.primary_metric] <= 1.0
