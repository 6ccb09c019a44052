"""`tlbench run` then `tlbench status` end to end in one process, with the fake ``sleepy`` strategy
on ``fake_task`` (the runner loads a tiny BERT's tokenizer: torch, so not a unit test)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fakes import SLEEPY_SUITE as SUITE
from tlbench.config import load_suite
from tlbench.grid import build_grid
from tlbench.store import SPEC_ATTR, Store
from tlbench.testing import tiny_bert


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("tiny"))


def test_cli_run_then_status_shows_coverage_and_who_is_running(tmp_path, model, monkeypatch):
    from typer.testing import CliRunner

    from tests import fakes
    from tlbench import cli
    from tlbench.cli import app
    from tlbench.plugins import get_plugins

    monkeypatch.setattr(cli.console, "width", 200)  # the table, not cut to a terminal's width

    url = f"sqlite:///{tmp_path}/cli.db"
    with get_plugins().temporarily(fakes, name="tlbench-fakes") as plugins:
        path = tmp_path / "s.toml"
        path.write_text(SUITE.format(model=model, trials=2, pruner="none", extra=""))
        out = CliRunner().invoke(app, ["run", str(path), "--storage", url, "--results", str(tmp_path / "r")],
                                 catch_exceptions=False)
        assert out.exit_code == 0, out.output
        assert "tuning: 2 trials per cell, none pruner. 0 of 6 pieces of work already done" in out.output
        assert "sleepy × fake_task trial 1 seed 10000 [lr=" in out.output
        assert "sleepy × fake_task tuned seed 1: report accuracy" in out.output
        (cell,) = build_grid(load_suite(path, plugins), plugins)
        store = Store(url, "s", heartbeat_seconds=1)
        busy = store.study.ask()  # another worker, still running a run of this cell
        busy.set_user_attr(SPEC_ATTR, {"run_id": "x", "cell_id": cell.id, "seed": 7, "variant": "default"})
        busy.set_user_attr("worker", "gpu-7:4242")
        store.storage.record_heartbeat(busy._trial_id)
        status = CliRunner().invoke(app, ["status", str(path), "--storage", url], catch_exceptions=False)
    assert status.exit_code == 0, status.output
    row = next(line for line in status.output.splitlines() if "sleepy" in line)
    assert re.search(r"gpu-7:4242 \([0-9] s ago\)", row) and row.count("2/2") == 3
    assert "6 of 6 pieces of work done" in status.output
