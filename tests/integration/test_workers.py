"""Several `tlbench run` worker processes on one suite and storage: the grid is shared, a worker
killed with SIGKILL mid-run loses nothing, and nothing is done twice. Against the embedded SQLite
default and a real PostgreSQL server, with the fake ``sleepy`` strategy (seconds, no training)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tlbench.config import load_suite
from tlbench.grid import build_grid
from tlbench.storage import _with_driver
from tlbench.store import SPEC_ATTR, Store
from tlbench.testing import tiny_bert
from tlbench.tuning import Tuner

ROOT = Path(__file__).resolve().parents[2]
SUITE = """
name = "w"
models = ["{model}"]
seeds = [0, 1]
heartbeat_seconds = 1

[tuning]
budget = {{ trials = 2 }}
pruner = "none"

[tasks.small]
task = "fake_task"
rows = 20

[strategies.sleepy]
sleep = 0.5

[strategies.sleepy_other]
strategy = "sleepy"
sleep = 0.5
lr = 0.05
"""


def worker(suite: Path, cwd: Path, storage: str | None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tests.fake_cli", "run", str(suite)]
    cmd += ["--storage", storage] if storage else []
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})


def query(url: str, sql: str, **params: object) -> int:
    engine = create_engine(_with_driver(url))
    try:
        with engine.connect() as con:
            return int(con.execute(text(sql), params).scalar() or 0)
    except Exception:  # noqa: BLE001 - tables not created yet
        return 0
    finally:
        engine.dispose()


def running_of(url: str, pid: int) -> int:
    return query(url, "select count(*) from trials t join trial_user_attributes a on a.trial_id = t.trial_id "
                      "where t.state = 'RUNNING' and a.key = 'worker' and a.value_json like :who",
                 who=f'%:{pid}"')


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One suite file (and tiny model) for both backends: their runs' ids are the same, so one
    single-worker reference serves both (:func:`single_worker`)."""
    where = tmp_path_factory.mktemp("suite")
    path = where / "w.toml"
    path.write_text(SUITE.format(model=tiny_bert(where / "tiny")))
    return path


_REFERENCE: dict[Path, list] = {}


def single_worker(suite: Path, plugins) -> list:
    """The records of ``suite`` run by one worker on a fresh storage (once per module)."""
    if suite not in _REFERENCE:
        where = suite.parent / "single"
        where.mkdir()
        url = f"sqlite:///{where}/single.db"
        finish(worker(suite, where, url))
        _REFERENCE[suite] = exported(url, suite, plugins)[0]
    return _REFERENCE[suite]


def finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    return out


def exported(url: str, suite: Path, plugins) -> tuple[list, dict]:
    """(sorted (run_id, report metrics) of the finished runs, per-cell tuning state) of a storage."""
    s = load_suite(suite, plugins)
    store = Store(url, s.name)
    tuner = Tuner(store, s.tuning, s.seeds)
    runs = sorted((r.run_id, r.metrics.report) for r in store.records())
    return runs, {c.id: tuner.state(c) for c in build_grid(s, plugins)}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_workers_one_killed_finish_the_grid_exactly_once(backend, suite, tmp_path, request, with_fakes):
    url = (request.getfixturevalue("postgres_url") if backend == "postgres"
           else f"sqlite:///{tmp_path}/results/w/tlbench.db")
    storage = url if backend == "postgres" else None  # sqlite: the default under results/<suite>/
    a, b = worker(suite, tmp_path, storage), worker(suite, tmp_path, storage)
    deadline = time.time() + 240
    complete = "select count(*) from trials where state = 'COMPLETE'"
    while time.time() < deadline and not (query(url, complete) >= 3 and running_of(url, a.pid)):
        assert a.poll() is None, a.communicate()[0]
        time.sleep(0.1)
    a.send_signal(signal.SIGKILL)  # mid-run: it holds a RUNNING trial
    a.wait()
    c = worker(suite, tmp_path, storage)  # a restarted worker joins the survivor
    logs = finish(b) + finish(c)
    if backend == "postgres":  # the URL's password is never shown or recorded
        secret = ":" + str(__import__("sqlalchemy").engine.make_url(url).password) + "@"
        assert "***@" in logs and secret not in logs
        assert secret not in (tmp_path / "results" / "w" / "runs.jsonl").read_text()

    runs, tuning = exported(url, suite, with_fakes)
    ids = [r for r, _ in runs]
    assert len(ids) == len(set(ids)) == 2 * 2 * 2  # 2 cells x (default, tuned) x 2 seeds, once each
    for st in tuning.values():
        assert st.counted == st.complete == 2 and st.done  # every cell got exactly its budget
    # a trial its dead worker left RUNNING, failed by the heartbeat: no error, and no record or the
    # record of a run killed between writing it and finishing the trial (not reported; retried)
    trials = Store(url, "w").study.get_trials() + [
        t for st in tuning for t in Tuner(Store(url, "w"), load_suite(suite, with_fakes).tuning, (0,)).trials(
            next(c for c in build_grid(load_suite(suite, with_fakes), with_fakes) if c.id == st))]
    stale = sum(t.state.name == "FAIL" and "error" not in t.user_attrs
                and t.user_attrs.get("record", {}).get("status", "ok") == "ok" for t in trials)
    assert stale == 1, "the killed worker's trial was not failed by its heartbeat"

    # the same suite run by one worker on a fresh storage gives the same records: each cell's two
    # trials are the defaults and the sampler's first (random) draw, and a tie between them goes to
    # the trial first asked for even when the killed worker's retry took a later number
    assert single_worker(suite, with_fakes) == runs
    # and the storage's per-run queue entries all carry their run spec, but for the fresh trials a
    # worker that lost the race for the last waiting one got from Optuna (marked skipped, ignored)
    store = Store(url, "w")
    assert all(SPEC_ATTR in t.user_attrs or t.user_attrs.get("skipped") for t in store.study.get_trials())
