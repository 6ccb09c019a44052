"""The plan of a suite (`tlbench validate --plan`): runs, trials and training examples, counted
before anything runs. Hermetic: the fake ``sleepy`` strategy on ``fake_task``; no model is loaded."""

from __future__ import annotations

from tests.fakes import SLEEPY_SUITE as SUITE
from tlbench.config import load_suite
from tlbench.grid import build_grid


def test_validate_plan_counts_runs_trials_and_examples(tmp_path):
    from typer.testing import CliRunner

    from tests import fakes
    from tlbench import cli
    from tlbench.plan import plan
    from tlbench.plugins import get_plugins

    path = tmp_path / "s.toml"
    path.write_text(SUITE.format(model="tiny-bert", trials=4, pruner="none", extra="").replace(
        "rows = 20", "rows = 20\nmax_train_examples = 100"))
    with get_plugins().temporarily(fakes, name="tlbench-fakes") as plugins:
        suite = load_suite(path, plugins)
        (p,) = plan(suite, build_grid(suite, plugins), plugins)
        assert (p.train_rows, p.passes, p.per_run, p.runs, p.trials, p.examples) == (100, 1.0, 100, 4, 4, 800)
        out = CliRunner().invoke(cli.app, ["validate", "--plan", str(path)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert ("1 cells × 2 seeds; tuning 4 trials per tunable cell: 4 runs (default and tuned) and 4 trials; "
            "about 800 training examples drawn") in " ".join(out.output.split())
