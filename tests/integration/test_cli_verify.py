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


def test_verify_reproduces_a_stored_seed_and_checks_a_new_one(tmp_path, model, monkeypatch):
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
        # the same seed: its stored score, to the CPU's tolerance; |Δ| in seed sds (seeds 0-3 score
        # 0.1 apart: sd 0.129, tests/fakes.py)
        line = (f"sleepy × fake_task (tuned) seed 1: accuracy stored {tuned:.4f}, now {tuned:.4f}; |Δ| 0 "
                "(0 sd of 4 seeds); matches the stored run (tolerance 1e-06, declared for cpu)")
        assert line in out.output
        # a new seed: trained, and inside the prediction interval of the 4 stored seeds
        scores = sorted(r.metrics.report["accuracy"] for r in Store(url, "s").records()
                        if r.variant == "tuned" and r.status == "ok")
        mean, sd = float(np.mean(scores)), float(np.std(scores, ddof=1))
        half = 3.182446 * sd * np.sqrt(1 + 1 / 4)  # t(3, 0.975)
        new = CliRunner().invoke(cli.app, ["verify", str(path), "--cell", cell.id, "--seed", "5", *args],
                                 catch_exceptions=False)
        assert new.exit_code == 0, new.output
        assert (f"sleepy × fake_task (tuned) seed 5 (a new seed): accuracy now {tuned:.4f}; 4 stored seeds: "
                f"mean {mean:.4f}, sd {sd:.4f}; |Δ| from their mean ") in new.output
        pi = f"[{mean - half:.4f}, {mean + half:.4f}]"
        assert f"inside the 95% prediction interval {pi} of a new seed" in new.output
        # a rerun that comes out different (every item wrong) is reported, with exit status 1
        monkeypatch.setattr(fakes.SleepyFitted, "predict", lambda self, role: np.eye(2, dtype=np.float32)[
            1 - np.asarray(self.job.data.splits[role]["label"], dtype=int)])
        off = CliRunner().invoke(cli.app, ["verify", str(path), "--cell", cell.id, *args])
        assert off.exit_code == 1 and "seed 0: accuracy stored" in off.output
        assert "now 0.0000" in off.output and "differs from the stored run" in off.output
        # a looser tolerance given on the command line is used (and said)
        given = CliRunner().invoke(cli.app, ["verify", str(path), "--cell", cell.id, "--tolerance=1", *args])
        assert given.exit_code == 0 and "matches the stored run (tolerance 1, given)" in given.output
        off_new = CliRunner().invoke(cli.app, ["verify", str(path), "--cell", cell.id, "--seed", "5", *args])
        assert off_new.exit_code == 1 and "outside the 95% prediction interval" in off_new.output
        bad = CliRunner().invoke(cli.app, ["verify", str(path), "--cell", "zzz", *args])
        assert bad.exit_code == 2 and "no cell with an id starting 'zzz'" in bad.output
        # a new seed of a cell with one stored seed: nothing to check against, exit status 3
        from tlbench import verify

        one = verify.Verdict(5, "tuned", "accuracy", 0.7, "cpu", (0.6,))
        monkeypatch.setattr(verify, "verify", lambda *a, **k: one)
        lone = CliRunner().invoke(cli.app, ["verify", str(path), "--cell", cell.id, "--seed", "5", *args])
        assert lone.exit_code == 3, lone.output
        assert ("seed 5 (a new seed): accuracy now 0.7000; one stored seed (0.6000): no prediction interval; "
                "Δ = +0.1000 (sd unknown); not checkable") in lone.output
