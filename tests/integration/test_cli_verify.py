"""`tlbench verify` end to end in one process, with the fake ``sleepy`` strategy on ``fake_task``
(the runner loads a tiny BERT's tokenizer: torch, so not a unit test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.fakes import SLEEPY_SUITE as SUITE
from tlbench.config import load_suite
from tlbench.grid import build_grid
from tlbench.store import Store
from tlbench.testing import tiny_bert


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("tiny"))


def test_verify_reruns_a_tuned_seed_inside_the_stored_interval(tmp_path, model, monkeypatch):
    from typer.testing import CliRunner

    from tests import fakes
    from tlbench import cli
    from tlbench.plugins import get_plugins

    monkeypatch.setattr(cli.console, "width", 300)
    url = f"sqlite:///{tmp_path}/v.db"
    with get_plugins().temporarily(fakes, name="tlbench-fakes") as plugins:
        path = tmp_path / "s.toml"
        # the default lr (1.0) lies outside the searched range, near the best lr (1e-2): every trial,
        # so the tuned options, differ from the defaults, and score better (tests/fakes.py)
        space = "\n[strategies.sleepy.search_space]\nlr = { low = 5e-3, high = 2e-2 }\n"
        path.write_text(SUITE.format(model=model, trials=2, pruner="none", extra="lr = 1.0").replace(
            "seeds = [0, 1]", "seeds = [0, 1, 2, 3]") + space)
        args = ["--storage", url, "--results", str(tmp_path / "r")]
        assert CliRunner().invoke(cli.app, ["run", str(path), *args]).exit_code == 0
        (cell,) = build_grid(load_suite(path, plugins), plugins)
        seed1 = {r.variant: r for r in Store(url, "s").records() if r.seed == 1 and r.status == "ok"}
        tuned, default = (seed1[v].metrics.report["accuracy"] for v in ("tuned", "default"))
        assert tuned > default + 0.2, "a rerun that dropped the tuned options would score the same"
        out = CliRunner().invoke(cli.app, ["verify", str(path), "--cell", cell.id[:6], "--seed", "1", *args],
                                 catch_exceptions=False)
        assert out.exit_code == 0, out.output
        line = f"sleepy × fake_task (tuned) seed 1: accuracy stored {tuned:.4f}, now {tuned:.4f}"
        assert line in out.output
        assert "inside the stored 95% interval" in out.output
        # a rerun that comes out different (every item wrong) is reported, with exit status 1
        monkeypatch.setattr(fakes.SleepyFitted, "predict", lambda self, role: np.eye(2, dtype=np.float32)[
            1 - np.asarray(self.job.data.splits[role]["label"], dtype=int)])
        off = CliRunner().invoke(cli.app, ["verify", str(path), "--cell", cell.id, *args])
        assert off.exit_code == 1 and "outside" in off.output
        bad = CliRunner().invoke(cli.app, ["verify", str(path), "--cell", "zzz", *args])
        assert bad.exit_code == 2 and "no cell with an id starting 'zzz'" in bad.output
