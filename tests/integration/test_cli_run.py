"""`tlbench run` / `report` end to end on a tiny BERT and real SST-2 rows: records, resume, failures."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tlbench.cli import app
from tlbench.records import read_jsonl
from tlbench.store import Store
from tlbench.testing import tiny_bert

ROOT = Path(__file__).resolve().parents[2]

SUITE = """
models = ["{model}"]
seeds = [0, 1]

[tasks.sst2]
max_train_examples = 64
select_examples = 32
max_eval_examples = 48
max_length = 32

[strategies.full_finetune]
epochs = 1
batch_size = 16

[strategies.linear_probe]
epochs = 5
"""


@pytest.fixture
def suite(tmp_path: Path, data_dir: Path) -> Path:
    model = tiny_bert(tmp_path / "tiny-bert")
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE.format(model=model))
    return path


def invoke(*args: str, cwd: Path):
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def trial_count(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return con.execute("select count(*) from trials").fetchone()[0]


def test_run_report_and_rerun_skips_finished(suite: Path, tmp_path: Path):
    out = invoke("run", str(suite), cwd=tmp_path)
    assert out.exit_code == 0, out.output
    assert "2 cells × 2 seeds; no tuning (defaults only). 0 of 4 pieces of work already done" in out.output
    results = tmp_path / "results" / "tiny"
    records = read_jsonl(results / "runs.jsonl")
    assert {r.status for r in records} == {"ok"} and len(records) == 4
    r = records[0]
    assert r.data.sizes == {"train": 64, "select": 32, "report": 48}
    assert r.provenance.data_dir and len(r.data.sources["train"].sha256) == 64
    assert r.provenance.model.revision_or_weights_sha256
    assert r.cost.stored_bytes > 0 and r.cost.peak_memory_bytes > 0
    assert set(r.provenance.versions) >= {"tlbench", "torch", "transformers", "datasets"}
    assert len(r.predictions["report"]) == 48

    again = invoke("run", str(suite), cwd=tmp_path)
    assert "4 of 4 pieces of work already done" in again.output
    assert "0 runs and trials by this worker" in again.output
    assert trial_count(results / "tlbench.db") == 4

    rep = invoke("report", str(suite), cwd=tmp_path)
    assert rep.exit_code == 0, rep.output
    board = (results / "LEADERBOARD.md").read_text()
    assert "| full_finetune |" in board and "| linear_probe |" in board and "(n=2: " in board


def test_failing_run_is_recorded_and_grid_goes_on(suite: Path, tmp_path: Path, monkeypatch):
    from tlbench_builtin.full_finetune import FullFinetune

    def explode(self, job):
        raise RuntimeError("simulated out of memory")

    with monkeypatch.context() as m:
        m.setattr(FullFinetune, "fit", explode)
        out = invoke("run", str(suite), cwd=tmp_path)
    assert out.exit_code == 1
    assert "simulated out of memory" in out.output
    assert "4 runs and trials by this worker, 2 failed" in out.output
    assert "2 runs of the grid failed" in out.output
    invoke("report", str(suite), cwd=tmp_path)
    board = (tmp_path / "results" / "tiny" / "LEADERBOARD.md").read_text()
    assert "full_finetune × sst2 seed 0: `RuntimeError: simulated out of memory`" in board

    again = invoke("run", str(suite), cwd=tmp_path)  # failures stay failures ...
    assert "0 runs and trials by this worker" in again.output and again.exit_code == 0
    retry = invoke("run", "--retry-failed", str(suite), cwd=tmp_path)  # ... until asked; successes stay
    assert "2 runs and trials by this worker, 0 failed" in retry.output and retry.exit_code == 0
    store = Store(f"sqlite:///{tmp_path}/results/tiny/tlbench.db", "tiny")
    assert len(store.records()) == 6 and len(store.finished()) == 4


FAKE_SUITE = """
models = ["{model}"]
seeds = [0, 1, 2, 3, 4, 5]
heartbeat_seconds = 1

[tasks.fake_task]
rows = 20

[strategies.stopping]
"""


@pytest.fixture
def stopping_suite(tmp_path: Path) -> Path:
    """Six runs of the ``stopping`` strategy of tests/integration/stopping.py on the fake task."""
    path = tmp_path / "tiny.toml"
    path.write_text(FAKE_SUITE.format(model=tiny_bert(tmp_path / "tiny-bert")))
    return path


def run_stopping(suite: Path, stop_at: int | None = None, signal_name: str = "SIGINT"):
    """``tlbench run suite`` in a fresh process whose ``stop_at``-th run stops it with ``signal_name``
    (at that point on any machine: no timer)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLBENCH_TEST_STOP_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    if stop_at is not None:
        env.update(TLBENCH_TEST_STOP_AT=str(stop_at), TLBENCH_TEST_STOP_SIGNAL=signal_name)
    return subprocess.run([sys.executable, "-m", "tests.integration.stopping", "run", str(suite)],
                          cwd=suite.parent, env=env, capture_output=True, text=True, timeout=600)


def test_kill_9_loses_nothing_and_redoes_nothing(stopping_suite: Path, tmp_path: Path):
    killed = run_stopping(stopping_suite, stop_at=3, signal_name="SIGKILL")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    db = tmp_path / "results" / "tiny" / "tlbench.db"
    before = _complete_ids(db)
    assert len(before) == 2  # the third run was in progress

    again = run_stopping(stopping_suite)  # its heartbeat stops: the run is taken again
    assert again.returncode == 0, again.stderr
    store = Store(f"sqlite:///{db}", "tiny")
    ids = [r.run_id for r in store.records() if r.status == "ok"]
    assert len(ids) == len(set(ids)) == 6  # every run exactly once: nothing redone, nothing lost
    assert set(before) <= set(ids)


def _complete(db: Path) -> int:
    try:
        with sqlite3.connect(db) as con:
            return con.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def _complete_ids(db: Path) -> list[str]:
    store = Store(f"sqlite:///{db}", "tiny")
    return [r.run_id for r in store.records() if r.status == "ok"]


def test_user_error_exits_2_without_traceback(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text('models = ["m"]\nseeds = [0]\n[tasks.sst]\n[strategies.lroa]\n')
    for command in ("validate", "run", "report"):
        out = subprocess.run([sys.executable, "-m", "tlbench", command, str(bad)], capture_output=True,
                             text=True, cwd=tmp_path)
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr
        assert "Unknown task 'sst'. Did you mean: sst2?" in out.stderr
        assert "Unknown strategy 'lroa'." in out.stderr


def test_ctrl_c_keeps_finished_runs_and_says_how_to_continue(stopping_suite: Path, tmp_path: Path):
    out = run_stopping(stopping_suite, stop_at=3, signal_name="SIGINT")  # Ctrl-C during the third run
    # stdout too: once in CI (2026-12-03, a loaded machine) the grid ended with failed runs instead
    assert out.returncode == 130, out.stdout[-4000:] + out.stderr
    message = " ".join(out.stderr.split())
    assert "interrupted: 2 runs and trials of this session are saved" in message, out.stderr
    assert "the one in progress was dropped. Rerun the same command to continue." in message
    db = tmp_path / "results" / "tiny" / "tlbench.db"
    exported = read_jsonl(tmp_path / "results" / "tiny" / "runs.jsonl")
    assert len(exported) == _complete(db) == 2
    again = run_stopping(stopping_suite)  # as the message says: the same command continues
    assert again.returncode == 0, again.stderr
    assert len(read_jsonl(tmp_path / "results" / "tiny" / "runs.jsonl")) == _complete(db) == 6


def test_a_runs_model_is_released_when_it_ends(suite: Path, tmp_path: Path, monkeypatch):
    """Nothing keeps a finished run's model alive (so its memory, on a GPU its cached blocks too, is
    given back before the next run or trial)."""
    import weakref

    from tlbench.config import load_suite
    from tlbench.grid import build_grid
    from tlbench.plugins import get_plugins
    from tlbench.runner import Runner
    from tlbench_builtin.full_finetune import FullFinetune

    models: list[weakref.ref] = []
    fit = FullFinetune.fit

    def watched(self, job):
        fitted = fit(self, job)
        models.append(weakref.ref(fitted.module))
        return fitted

    monkeypatch.setattr(FullFinetune, "fit", watched)
    plugins = get_plugins()
    s = load_suite(suite, plugins)
    cell = next(c for c in build_grid(s, plugins) if c.strategy == "full_finetune")
    record = Runner(s, plugins, device="cpu", cache_dir=tmp_path / "cache").execute(cell.runs()[0])
    assert record.ok, record.error
    assert models and models[0]() is None, "the trained model outlived its run"
