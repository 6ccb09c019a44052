"""The compute behind a record (issue 17): optimizer steps, epochs, examples seen and tokens counted
by the training loop (``tlbench.engine.training.Compute``), the one-off/own split of the training
time (the probe's feature extraction), preparation and evaluation seconds, in ``Cost``. A tiny BERT
through the runner, with row counts, batch sizes and epochs chosen so the truth is known."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from tlbench import hookimpl
from tlbench.config import load_suite
from tlbench.engine.features import extraction_tokens
from tlbench.engine.training import Compute
from tlbench.grid import build_grid
from tlbench.record import RunRecord, load_record
from tlbench.report import leaderboard
from tlbench.runner import Runner
from tlbench.testing import ToyTask, tiny_bert

ROWS, BATCH, EPOCHS = 10, 4, 2

SUITE = f"""
models = ["{{model}}"]
seeds = [0, 1]

[tasks.toy]
max_train_examples = {ROWS}
select_examples = 8
max_eval_examples = 8
max_length = 16

[strategies.full_finetune]
epochs = {EPOCHS}
batch_size = {BATCH}
evals_per_epoch = 0

[strategies.ft_accum]           # micro-batches of 2: an epoch of 5 micro-batches is 2 steps
strategy = "full_finetune"
epochs = {EPOCHS}
batch_size = {BATCH}
grad_accum_steps = 2
evals_per_epoch = 0

[strategies.linear_probe]
epochs = 3
batch_size = {BATCH}

[strategies.multitask]          # a group of one task: the matched steps are the single-task run's
epochs = 1
batch_size = {BATCH}
evals_per_epoch = 0
"""


class Toy:
    @staticmethod
    @hookimpl
    def register_tasks(register: Any) -> None:
        register("toy", ToyTask)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory, model: Path) -> dict[str, RunRecord]:
    """Every run, seed 0 before seed 1, by ``strategy/seed``."""
    from tlbench.plugins import Plugins

    tmp_path = tmp_path_factory.mktemp("compute")
    plugins = Plugins(entry_points=False)
    with plugins.temporarily(Toy, name="toy"):
        path = tmp_path / "compute.toml"
        path.write_text(SUITE.format(model=model))
        suite = load_suite(path, plugins)
        runner = Runner(suite, plugins, device="cpu", cache_dir=tmp_path / "cache")
        return {f"{cell.strategy}/{run.seed}": runner.execute(run)
                for cell in build_grid(suite, plugins) for run in cell.runs()}


@pytest.fixture(scope="module")
def lengths(model: Path) -> list[int]:
    """The real token count of every training row, tokenized apart from the runner."""
    from transformers import AutoTokenizer

    from tlbench import TaskOptions

    data = ToyTask("toy", TaskOptions(max_train_examples=ROWS, select_examples=8, max_eval_examples=8,
                                      max_length=16)).load(None)
    tokenizer = AutoTokenizer.from_pretrained(model)
    encoded = tokenizer(list(data.splits["train"]["sentence"]), truncation=True, max_length=16)
    return [len(ids) for ids in encoded["input_ids"]]


def test_full_finetune_counts_steps_epochs_examples_and_tokens(records: dict[str, RunRecord],
                                                                lengths: list[int]):
    for seed in (0, 1):
        r = records[f"full_finetune/{seed}"]
        assert r.ok, r.error
        c = r.cost
        assert c is not None and r.data is not None and r.data.sizes["train"] == ROWS == len(lengths)
        # the loop's arithmetic: ceil(rows / batch) steps per epoch (a short last batch), x epochs
        assert c.optimizer_steps == math.ceil(ROWS / BATCH) * EPOCHS == 6
        assert c.epochs == EPOCHS
        # whole epochs: every row twice (not steps x batch = 24: the last batch of an epoch has 2 rows)
        assert c.examples_seen == ROWS * EPOCHS == 20
        # every training token twice; padding only adds positions
        assert c.tokens == sum(lengths) * EPOCHS
        assert c.tokens <= c.padded_tokens <= max(lengths) * ROWS * EPOCHS
        # no one-off work: the run's own training is all of it
        assert c.oneoff_seconds == 0.0 and c.own_train_seconds == pytest.approx(c.train_seconds)
        assert c.prepare_seconds is not None and c.prepare_seconds > 0
        assert c.eval_seconds is not None and c.eval_seconds > 0


def test_accumulation_counts_micro_batches_truthfully(records: dict[str, RunRecord], lengths: list[int]):
    c = records["ft_accum/0"].cost
    assert c is not None
    # 5 micro-batches of 2 rows an epoch: 5 // 2 = 2 steps an epoch, 4 steps, 8 micro-batches drawn:
    # 1.6 passes over the rows (the engine's epoch is whole steps), and the record says so
    assert c.optimizer_steps == 4 and c.epochs == pytest.approx(8 / 5)
    assert c.examples_seen == 16 == c.epochs * ROWS
    assert c.tokens is not None and c.padded_tokens is not None and 0 < c.tokens <= c.padded_tokens


def test_probe_counts_its_head_and_its_one_off_feature_extraction(records: dict[str, RunRecord],
                                                                   lengths: list[int]):
    first, second = records["linear_probe/0"], records["linear_probe/1"]
    assert first.ok and second.ok, first.error + second.error
    for r in (first, second):
        c = r.cost
        assert c is not None
        # the head: 3 batches (4 + 4 + 2 rows) an epoch, 3 epochs, every row three times
        assert c.optimizer_steps == 9 and c.epochs == 3.0 and c.examples_seen == 3 * ROWS
        # the encoder read the training split once, for its features, in one inference batch
        assert (c.tokens, c.padded_tokens) == (sum(lengths), max(lengths) * ROWS)
    a, b = first.cost, second.cost
    assert a is not None and b is not None and a.oneoff_seconds and b.oneoff_seconds
    assert a.own_train_seconds is not None and b.own_train_seconds is not None
    # seed 0 extracted the features inside its training: own + one-off is its train time
    assert a.own_train_seconds + a.oneoff_seconds == pytest.approx(a.train_seconds)
    assert a.own_train_seconds < a.train_seconds
    # seed 1 read them from the cache: its train time is all its own, the one-off is the cache's record
    assert b.own_train_seconds == pytest.approx(b.train_seconds)
    assert b.oneoff_seconds < a.oneoff_seconds  # the cache records the encoder pass, not loading it


def test_multitask_counts_over_its_group(records: dict[str, RunRecord], lengths: list[int]):
    r = records["multitask/0"]
    assert r.ok, r.error
    c = r.cost
    assert c is not None and r.details["steps"] == c.optimizer_steps == math.ceil(ROWS / BATCH)
    assert c.epochs == pytest.approx(1.0) and c.examples_seen == ROWS and c.tokens == sum(lengths)


def task_row(md: str, strategy: str) -> str:
    """``strategy``'s row of the toy task's table (not the summary's)."""
    return next(line for line in md.split("## toy", 1)[1].splitlines()
                if line.startswith((f"| {strategy} |", f"| **{strategy}")))


def test_the_leaderboard_shows_the_compute(records: dict[str, RunRecord]):
    md = leaderboard(list(records.values()), "compute", baseline="full_finetune")
    assert "6 st / 2.0 ep / 20 ex" in task_row(md, "full_finetune")
    probe = task_row(md, "linear_probe")
    assert "9 st / 3.0 ep / 30 ex" in probe and " one-off" in probe
    assert "steps / epochs / examples" in md and "tokens (real / padded)" in md


def test_records_without_the_fields_still_load_and_render(records: dict[str, RunRecord]):
    new = ("optimizer_steps", "epochs", "examples_seen", "tokens", "padded_tokens", "oneoff_seconds",
           "own_train_seconds", "prepare_seconds", "eval_seconds")
    old = []
    for r in records.values():
        data = json.loads(json.dumps(r.to_json()))
        for key in new:
            del data["cost"][key]
        old.append(load_record(data))
    assert all(r.cost is not None and r.cost.optimizer_steps is None for r in old)
    md = leaderboard(old, "compute", baseline="full_finetune")
    assert task_row(md, "full_finetune").endswith("| – | – | – |")


def test_compute_counts_what_the_loop_draws():
    """Pure counting: a mapping batch, a multitask list of (task, batch, weight), a features batch."""
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    text = {"input_ids": torch.ones(2, 4, dtype=torch.long), "attention_mask": mask, "labels": torch.zeros(2)}
    features = {"features": torch.zeros(3, 8), "labels": torch.zeros(3)}
    count = Compute()
    drawn = list(count.watch(iter([text, [("a", text, 1.0), ("b", features, 0.5)], features]),
                             accum=1, micro_batches_per_epoch=2))
    assert len(drawn) == 3 and count.optimizer_steps == 3 and count.epochs == 1.5
    assert count.examples_seen == 2 + (2 + 3) + 3
    assert (count.tokens, count.padded_tokens) == (5 + 5, 8 + 8)
    assert count.cost_fields(train_seconds=2.0)["own_train_seconds"] == 2.0
    # longest first, batches of 2 padded to their longest row: (5 + 5) + (3 + 3) + 1
    assert extraction_tokens([3, 5, 1, 2, 4], 2) == (15, 17)


@pytest.mark.parametrize(("options", "steps"), [({"epochs": 2}, 4), ({"max_steps": 5}, 5)])
def test_accumulated_epochs_are_micro_batches_drawn_over_a_pass(options: dict[str, Any], steps: int):
    """grad_accum_steps = 3 over a loader of 7 micro-batches (14 rows, 2 a micro-batch): an epoch is
    7 // 3 = 2 steps, so 2 epochs are 4 steps, 12 micro-batches: 12 / 7 passes, not 4 / 2 = 2.0."""
    from tlbench.engine.batching import Collator, length_grouped_loader
    from tlbench.engine.heads import FeatureModel
    from tlbench.engine.options import EngineOptions
    from tlbench.engine.training import train
    from tlbench.interfaces import HeadSpec

    rows = [{"features": torch.full((4,), float(i)), "labels": i % 2} for i in range(14)]
    o = EngineOptions(batch_size=6, grad_accum_steps=3, evals_per_epoch=0, warmup_ratio=0.0, **options)
    loader = length_grouped_loader(rows, o.batch_size // o.grad_accum_steps, Collator(), 0, o.length_grouping)
    assert len(loader) == 7 and len(loader) % 3  # the case the old arithmetic got wrong
    torch.manual_seed(0)
    model = FeatureModel(HeadSpec("classification", 2), 4)
    count = Compute()
    train(model, rows, Collator(), model.loss, o, seed=0, device="cpu", count=count)
    assert count.optimizer_steps == steps and count.micro_batches == 3 * steps
    assert count.epochs == pytest.approx(count.micro_batches / len(loader))
    assert count.examples_seen == 2 * count.micro_batches == pytest.approx(count.epochs * len(rows))
