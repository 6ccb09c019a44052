"""The CLI's front door: fast help, validation output, report without data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.records import record
from tlbench.cli import app
from tlbench.records import export_jsonl

ROOT = Path(__file__).resolve().parents[2]


def test_help_does_not_import_torch():
    code = ("import sys\nfrom tlbench.cli import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n"
            "    pass\nassert 'torch' not in sys.modules, 'torch imported at start'\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for command in ("run", "validate", "report", "plugins"):
        assert command in out.stdout


@pytest.mark.usefixtures("installed_plugins")  # glue_small names bitfit, a third-party plugin
def test_validate_shows_the_grid():
    out = CliRunner().invoke(app, ["validate", str(ROOT / "suites" / "glue_small.toml")])
    assert out.exit_code == 0, out.output
    assert "24 cells × 3 seeds = 72 runs" in out.output and "is valid" in out.output


@pytest.mark.usefixtures("data_dir")
def test_a_refused_cell_is_named_with_its_fix_and_a_skip_override_leaves_it_out(tmp_path):
    suite = tmp_path / "s.toml"
    text = ('models = ["sentence-transformers/all-MiniLM-L6-v2"]\nseeds = [0]\n[tasks.sst2]\n[tasks.squad]\n'
            '[strategies.linear_probe]\n[strategies.ridge_probe]\n')
    suite.write_text(text)
    out = CliRunner().invoke(app, ["validate", str(suite)])
    assert out.exit_code == 2, out.output
    # the message names the TOML table as written (it used to lose "[[overrides]]" to console markup)
    assert "strategies.ridge_probe on tasks.squad: ridge_probe fits least squares" in out.output
    fix = "in [[overrides]] with strategy = 'ridge_probe', task = 'squad', or skip = true there"
    assert fix in out.output
    suite.write_text(text + '[[overrides]]\nstrategy = "ridge_probe"\ntask = "squad"\nskip = true\n')
    out = CliRunner().invoke(app, ["validate", str(suite)])
    assert out.exit_code == 0, out.output
    assert "3 cells × 1 seeds = 3 runs" in out.output
    # a strategy that trains its tasks together cannot skip one of them
    suite.write_text(text.replace("[strategies.ridge_probe]", "[strategies.multitask]")
                     + '[[overrides]]\nstrategy = "multitask"\ntask = "squad"\nskip = true\n')
    out = CliRunner().invoke(app, ["validate", str(suite)])
    want = "strategies.multitask trains sst2, squad together, but [[overrides]] skip it on squad"
    assert out.exit_code == 2 and want in " ".join(out.output.split()), out.output


def test_report_rebuilds_from_committed_jsonl_without_data(tmp_path, monkeypatch):
    suite = tmp_path / "s.toml"
    suite.write_text('models = ["m"]\nseeds = [0]\n[tasks.sst2]\n[strategies.full_finetune]\n')
    from tlbench.config import load_suite
    from tlbench.grid import build_grid
    from tlbench.plugins import get_plugins

    (cell,) = build_grid(load_suite(suite, get_plugins(), check_data=False))
    old = record(seed=0, score=0.5)  # a cell the suite no longer has
    now = record(seed=0, score=0.81).but(cell_id=cell.id, run_id=f"{cell.id}-s0")
    export_jsonl([now, old], tmp_path / "results" / "s" / "runs.jsonl")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TLBENCH_DATA_DIR", str(tmp_path / "no-such-mirror"))
    out = CliRunner().invoke(app, ["report", str(suite)])
    assert out.exit_code == 0, out.output
    assert "1 records of cells or tunings no longer in" in " ".join(out.output.split())
    board = (tmp_path / "results" / "s" / "LEADERBOARD.md").read_text()
    assert "0.810 (n=1)" in board and "0.500" not in board


def test_report_without_records_is_a_user_error(tmp_path, monkeypatch):
    suite = tmp_path / "s.toml"
    suite.write_text('models = ["m"]\nseeds = [0]\n[tasks.sst2]\n[strategies.full_finetune]\n')
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(app, ["report", str(suite)])
    assert out.exit_code == 2 and "run `tlbench run" in out.output
