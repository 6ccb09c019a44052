"""The plan (`tlbench validate --plan`) under every form of a suite's `[training] budget` (issue 17):
a run sized in steps (a budget in steps or examples becomes the engine's ``max_steps``) draws
``max_steps x batch_size`` examples (a step is ``batch_size`` rows however many micro-batches it
accumulates), whatever the task's rows; an epochs budget draws rows x epochs. Multitask's own
``steps`` count likewise, shared among its group. Torch-free: suites are only validated (no mirror:
the rows are the tasks' ``max_train_examples``)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

from tlbench import load_suite
from tlbench.grid import build_grid
from tlbench.plan import CellPlan, plan

SUITE = """
models = ["m"]
seeds = [0]

[tasks.sst2]
max_train_examples = 100

[tasks.imdb]
max_train_examples = 60

[tasks.rte]                    # no cap and no mirror: its rows are unknown (the whole Hub split)

[strategies.full_finetune]
batch_size = 8
grad_accum_steps = 2           # micro-batches of 4 rows: a step is still 8 rows

[strategies.linear_probe]      # its own epochs: 30 by default
batch_size = 16
"""


@pytest.fixture(autouse=True)
def _no_mirror(monkeypatch):
    monkeypatch.delenv("TLBENCH_DATA_DIR", raising=False)


def plans(tmp_path: Path, text: str, plugins) -> dict[tuple[str, str], CellPlan]:
    path = tmp_path / "suite.toml"
    path.write_text(textwrap.dedent(text))
    suite = load_suite(path, plugins, check_data=False)
    return {(p.strategy, p.task): p for p in plan(suite, build_grid(suite, plugins), plugins)}


def test_a_steps_budget_plans_steps_times_batch_size(tmp_path, plugins):
    got = plans(tmp_path, SUITE + "\n[training]\nbudget = { steps = 10 }\n", plugins)
    ft, probe = got["full_finetune", "sst2"], got["linear_probe", "sst2"]
    assert (ft.train_rows, ft.per_run, ft.passes, ft.examples) == (100, 80, 0.8, 80)
    assert (probe.per_run, probe.passes) == (160, 1.6)  # not rows x its 30 epochs: the budget replaced them
    assert got["full_finetune", "imdb"].per_run == 80
    assert got["full_finetune", "imdb"].passes == pytest.approx(80 / 60)
    # steps need no row count: the examples are known, the passes are not
    hub = got["full_finetune", "rte"]
    assert (hub.train_rows, hub.per_run, hub.passes) == (None, 80, None)


def test_an_examples_budget_plans_whole_steps_of_each_strategys_batch(tmp_path, plugins):
    got = plans(tmp_path, SUITE + "\n[training]\nbudget = { examples = 100 }\n", plugins)
    assert got["full_finetune", "sst2"].per_run == math.ceil(100 / 8) * 8 == 104
    assert got["linear_probe", "sst2"].per_run == math.ceil(100 / 16) * 16 == 112
    assert got["linear_probe", "imdb"].passes == pytest.approx(112 / 60)
    assert got["full_finetune", "rte"].per_run == 104


@pytest.mark.parametrize(("table", "ft", "probe"), [
    ("\n[training]\nbudget = { epochs = 1.5 }\n", 1.5, 1.5),
    ("", 2.0, 30.0),  # no budget: each strategy's own epochs (the defaults: 2 and the probe's 30)
])
def test_epochs_plan_rows_times_epochs(tmp_path, plugins, table, ft, probe):
    got = plans(tmp_path, SUITE + table, plugins)
    assert (got["full_finetune", "sst2"].per_run, got["full_finetune", "sst2"].passes) == (100 * ft, ft)
    assert (got["linear_probe", "imdb"].per_run, got["linear_probe", "imdb"].passes) == (60 * probe, probe)
    hub = got["full_finetune", "rte"]  # rows unknown: so are the examples, the passes are the epochs
    assert (hub.per_run, hub.passes) == (None, ft)


MULTITASK = """
models = ["m"]
seeds = [0]

[tasks.sst2]
max_train_examples = 100

[tasks.imdb]
max_train_examples = 60

[strategies.multitask]
batch_size = 16
{options}
"""


@pytest.mark.parametrize(("options", "sst2", "imdb"), [
    # a number of steps: steps x batch_size rows in all, an equal share per task of one-task batches
    ("steps = 50", 400, 400),
    # mixed batches: every task draws a batch at every micro-batch
    ('steps = 50\nbatching = "mixed"', 800, 800),
    # matched steps (the default): each task about its single-task run's rows x epochs (2)
    ("epochs = 2", 200, 120),
    # matched and mixed: every task draws the whole group's matched examples
    ('epochs = 2\nbatching = "mixed"', 320, 320),
])
def test_multitask_plans_its_steps_as_each_tasks_share(tmp_path, plugins, options, sst2, imdb):
    got = plans(tmp_path, MULTITASK.format(options=options), plugins)
    a, b = got["multitask", "sst2"], got["multitask", "imdb"]
    assert (a.per_run, b.per_run) == (sst2, imdb)
    assert (a.passes, b.passes) == (pytest.approx(sst2 / 100), pytest.approx(imdb / 60))
    assert a.group and a.group == b.group


def test_multitask_matched_to_a_steps_budget(tmp_path, plugins):
    text = MULTITASK.format(options="") + "\n[training]\nbudget = { steps = 10 }\n"
    got = plans(tmp_path, text, plugins)
    assert got["multitask", "sst2"].per_run == got["multitask", "imdb"].per_run == 10 * 16


def test_the_printed_plan_shows_passes_and_examples_under_a_steps_budget(tmp_path, plugins):
    from typer.testing import CliRunner

    from tlbench import cli

    path = tmp_path / "suite.toml"
    path.write_text(textwrap.dedent(SUITE.replace("[tasks.rte]", "# [tasks.rte]")
                                    + "\n[training]\nbudget = { steps = 10 }\n"))
    out = CliRunner().invoke(cli.app, ["validate", "--plan", str(path)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    # 2 tasks x (full_finetune 80 + linear_probe 160), one seed, no tuning
    assert "about 480 training examples drawn" in text, text
    rows = [" ".join(line.replace("│", " ").split()) for line in out.output.splitlines()]
    assert "full_finetune sst2 100 0.8 80 1 0 80" in rows, out.output
    assert "linear_probe imdb 60 2.67 160 1 0 160" in rows, out.output


def test_lp_ft_plans_both_stages(tmp_path, plugins):
    """LP-FT's runs draw stage 1's probe_epochs passes over the features and stage 2's fine-tuning
    (a steps budget sizes stage 2 only); with probe_epochs = 0 it is full fine-tuning's plan."""
    text = SUITE + "\n[strategies.lp_ft]\nbatch_size = 8\nprobe_epochs = 5\n"
    one = text.replace("probe_epochs = 5", "probe_epochs = 5\nepochs = 1")
    got = plans(tmp_path, one, plugins)
    assert got["lp_ft", "sst2"].per_run == 100 * 1 + 100 * 5  # one fine-tuning epoch, 5 probe epochs
    assert got["lp_ft", "rte"].per_run is None  # unknown rows: stage 1 is unknown too
    budget = plans(tmp_path, text + "\n[training]\nbudget = { steps = 10 }\n", plugins)
    assert budget["lp_ft", "sst2"].per_run == 10 * 8 + 100 * 5
    plain = plans(tmp_path, SUITE + "\n[strategies.lp_ft]\nprobe_epochs = 0\n", plugins)
    assert plain["lp_ft", "sst2"].per_run == plain["full_finetune", "sst2"].per_run
