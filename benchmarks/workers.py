"""How the shared grid scales with worker processes, and what the storage costs per run or trial.

    python benchmarks/workers.py [--storage sqlite|postgresql://...] [--workers 1 2 4] [--sleep 1.0]
        [--cells 8] [--seeds 2] [--trials 3]

Each worker is a process running tlbench's own loop (``tlbench.worker.Worker`` with ``Store`` and
``Tuner``, exactly what ``tlbench run`` runs) on a suite of ``--cells`` cells of the fake ``sleepy``
strategy (tests/fakes.py) with ``--seeds`` seeds and ``--trials`` tuning trials per cell. Training
is replaced by ``time.sleep(--sleep)`` (no model, no data), so what is measured is the coordination:
popping runs, starting trials, heartbeats, writing records. For each worker count, on a fresh
storage: the wall time from the first worker's start to the last one's exit, cells per minute, the
speed-up over one worker, and the overhead per piece of work (wall x workers / pieces - sleep).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SUITE = """
name = "bench"
models = ["m"]
seeds = {seeds}
heartbeat_seconds = 5

[tuning]
budget = {{ trials = {trials} }}
pruner = "none"

{tasks}

[strategies.sleepy]
"""


def load(suite_path: Path) -> tuple[Any, list[Any]]:
    from tests import fakes
    from tlbench.config import load_suite
    from tlbench.grid import build_grid
    from tlbench.plugins import Plugins

    plugins = Plugins()
    plugins.add(fakes, name="tlbench-fakes", distribution="tests")
    plugins.refresh()
    suite = load_suite(suite_path, plugins, check_data=False)
    return suite, build_grid(suite, plugins)


def fake_execute(sleep: float) -> Any:
    """What ``Runner.execute`` returns, after ``sleep`` seconds instead of training."""

    def execute(run: Any, report: Any = None) -> Any:
        from tlbench.record import RunRecord

        time.sleep(sleep)
        lr = run.cell.strategy_options.lr
        cell = run.cell
        return RunRecord.model_validate({
            "suite": "bench", "run_id": run.id, "run_key": run.key, "cell_id": cell.id,
            "strategy": cell.strategy, "strategy_name": cell.strategy_name, "task": cell.task,
            "task_name": cell.task_name, "model": cell.model, "seed": run.seed, "variant": run.variant,
            "trial_number": run.trial_number, "tuning_key": run.tuning_key, "tuned_params": run.params,
            "params": cell.resolved(), "started_at": "", "finished_at": "", "status": "ok",
            "primary_metric": "accuracy",
            "metrics": {"select": {"accuracy": 1 / (1 + abs(lr - 0.01))}, "report": {"accuracy": 0.5}},
            "provenance": {"versions": {}, "plugins": {}, "device": {}, "suite_file": "", "suite_sha256": "",
                           "git": {}}})

    return execute


def work(suite_path: str, url: str, sleep: float) -> None:
    from tlbench.store import Store
    from tlbench.tuning import Tuner
    from tlbench.worker import Worker

    suite, cells = load(Path(suite_path))
    store = Store(url, suite.name, heartbeat_seconds=suite.heartbeat_seconds)
    Worker(suite, cells, store, fake_execute(sleep), tuner=Tuner(store, suite.tuning, suite.seeds),
           poll_seconds=0.2).run()


def fresh_storage(base: str, tmp: Path, n: int) -> str:
    if base == "sqlite":
        return f"sqlite:///{tmp}/bench-{n}.db"
    from sqlalchemy import create_engine, text

    from tlbench.storage import _with_driver

    name = f"tlbench_bench_{n}_{int(time.time())}"
    engine = create_engine(_with_driver(base), isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        con.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return base.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--storage", default="sqlite",
                        help="sqlite, or a PostgreSQL URL (a database per measurement: CREATEDB needed)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds per run or trial")
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    from tlbench.storage import safe_url

    tasks = "\n".join(f"[tasks.t{i}]\ntask = \"fake_task\"\nrows = {10 + i}\n" for i in range(args.cells))
    pieces = args.cells * (2 * args.seeds + args.trials)
    results: dict[str, Any] = {"storage": safe_url(args.storage), "sleep": args.sleep, "cells": args.cells,
                               "pieces_per_cell": 2 * args.seeds + args.trials, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "bench.toml"
        suite.write_text(SUITE.format(seeds=list(range(args.seeds)), trials=args.trials, tasks=tasks))
        load(suite)  # fail here, not in the workers
        ctx = mp.get_context("spawn")
        for n in args.workers:
            url = fresh_storage(args.storage, Path(tmp), n)
            from tlbench.store import Store

            Store(url, "bench")  # tables exist before the workers race to create them
            procs = [ctx.Process(target=work, args=(str(suite), url, args.sleep)) for _ in range(n)]
            t0 = time.perf_counter()
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            wall = time.perf_counter() - t0
            assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
            done = len([r for r in Store(url, "bench").records() if r.ok])
            overhead = wall * n / pieces - args.sleep
            results["runs"][n] = {"wall_s": round(wall, 2), "cells_per_min": round(args.cells / wall * 60, 2),
                                  "overhead_per_piece_s": round(overhead, 3), "runs_recorded": done}
            base = results["runs"][args.workers[0]]["wall_s"]
            print(f"{n} worker(s): {wall:6.1f} s for {pieces} runs+trials of {args.sleep:g} s "
                  f"({args.cells / wall * 60:.2f} cells/min, x{base / wall:.2f} vs {args.workers[0]}); "
                  f"overhead {overhead:.3f} s per run or trial (start-up included)", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
