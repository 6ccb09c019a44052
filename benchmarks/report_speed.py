"""How long `tlbench report` takes on a large synthetic results set (no training, no database).

    python benchmarks/report_speed.py [--strategies 10] [--tasks 10] [--seeds 5] [--items 1000]
                                      [--repeats 3] [--profile] [--keep DIR]

Builds, in a temporary folder, a suite of ``--strategies`` x ``--tasks`` cells (built-in plugins,
each label with its own options so that every cell has its own id) and one record per cell and seed,
with ``--items`` report items each, written as ``results/<suite>/runs.jsonl``; there is no storage,
so ``tlbench report`` reads that file, as it does for a committed results folder. The tasks:

- ``t0``: SQuAD-like, per-question F1 in percent (reducer ``mean``) with paragraph clusters of 5
  questions (the bootstrap resamples by paragraph);
- ``t1``: CoNLL-like, per-sentence (true positive, false positive, false negative) entity counts
  (reducer ``f1``, micro F1), no clusters;
- the others: SST-2-like binary correctness (reducer ``mean``, accuracy).

Scores have a strategy effect, a seed effect and item difficulty, so comparisons, ties and ranks all
occur. The suite declares ``equivalence_margin`` for two tasks (the TOST path runs).

Timed: ``python -m tlbench report <suite>`` in a subprocess, as a user runs it (start-up, imports,
reading runs.jsonl, the analysis with 10,000 resamples per task, LEADERBOARD.md, leaderboard.json,
leaderboard.csv and every plot), ``--repeats`` times; then :func:`tlbench.analysis.analyse` alone,
in this process, on the same records. Min / median / max of each (and of the subprocess's CPU time,
which other load on the machine disturbs less than the wall time), the CPU model and the load
average. ``--profile`` adds a cProfile of one in-process ``write_report`` (top 25 by cumulative
time); ``--keep DIR`` keeps the suite and the report to look at. The last line is one JSON object. A
benchmark, not a test: the times depend on the machine and its load. Target: under 10 s end to end
for the default size.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import json
import os
import platform
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SUITE = "report_speed"
#: built-in strategies the labels cycle through (multitask left out: it groups tasks)
STRATEGIES = ("full_finetune", "linear_probe", "lora", "partial_freeze")
TARGET_SECONDS = 10.0


def task_kind(i: int) -> str:
    return {0: "squad", 1: "conll2003"}.get(i, "sst2")


def suite_text(n_strategies: int, n_tasks: int, n_seeds: int) -> str:
    """The suite: distinct options per label (equal options would make equal cells, which is refused)."""
    lines = [f'name = "{SUITE}"', 'models = ["m"]', f"seeds = {list(range(n_seeds))}",
             'baseline = "s0"', "equivalence_margin = { t0 = 1.0, t2 = 0.01 }" if n_tasks > 2 else "", ""]
    for i in range(n_tasks):
        lines += [f"[tasks.t{i}]", f'task = "{task_kind(i)}"', f"max_train_examples = {1000 + i}", ""]
    for i in range(n_strategies):
        lines += [f"[strategies.s{i}]", f'strategy = "{STRATEGIES[i % len(STRATEGIES)]}"',
                  f"lr = {1e-4 * (i + 1):g}", ""]
    return "\n".join(lines)


def item_data(kind: str, ability: float, seed_effect: float, difficulty: np.ndarray,
              rng: np.random.Generator) -> tuple[list[list[float]], str, dict[str, float]]:
    """One run's item statistics, its reducer and its metrics (the primary one from the items)."""
    p = 1.0 / (1.0 + np.exp(-(ability + seed_effect - difficulty)))
    if kind == "sst2":
        correct = (rng.random(p.shape) < p).astype(float)
        acc = float(correct.mean())
        return correct[:, None].tolist(), "mean", {"accuracy": acc, "macro_f1": acc}
    if kind == "squad":  # per-question F1 in percent: right, wrong or a partial overlap
        u = rng.random(p.shape)
        partial = np.round(rng.uniform(10, 90, p.shape))
        f1 = np.where(u < p, 100.0, np.where(u < p + 0.2 * (1 - p), partial, 0.0))
        mean = float(f1.mean())
        return f1[:, None].tolist(), "mean", {"f1": mean, "exact_match": float((f1 == 100.0).mean() * 100)}
    gold = rng.poisson(1.5, p.shape)  # conll2003: entities per sentence, found with probability p
    tp = rng.binomial(gold, p)
    fp = rng.poisson(0.3 * (1 - p))
    fn = gold - tp
    t, f_p, f_n = float(tp.sum()), float(fp.sum()), float(fn.sum())
    stats = np.stack([tp, fp, fn], axis=1).astype(float).tolist()
    return stats, "f1", {"f1": 2 * t / max(2 * t + f_p + f_n, 1.0), "precision": t / max(t + f_p, 1.0),
                         "recall": t / max(t + f_n, 1.0)}


def build_records(cells: list[Any], n_items: int, rng: np.random.Generator) -> list[Any]:
    from tests.records import record

    tasks = list(dict.fromkeys(c.task for c in cells))
    difficulty = {t: rng.normal(0.0, 1.5, n_items) for t in tasks}
    clusters = [f"article{i // 25}#{i // 5:010x}" for i in range(n_items)]  # 5 questions a paragraph
    secondary = {"sst2": ("macro_f1",), "squad": ("exact_match",), "conll2003": ("precision", "recall")}
    records = []
    for cell in cells:
        index = int(cell.strategy[1:])
        ability = 0.4 + 0.04 * index + rng.normal(0.0, 0.05)  # per cell: tasks do not all rank alike
        for seed in cell.seeds:
            stats, how, metrics = item_data(cell.task_name, ability, rng.normal(0.0, 0.05),
                                            difficulty[cell.task], rng)
            primary = "accuracy" if cell.task_name == "sst2" else "f1"
            items: dict[str, Any] = {"stats": stats, "reduce": how}
            if cell.task_name == "squad":
                items |= {"clusters": clusters, "cluster_by": "paragraph"}
            base = record(cell.strategy, cell.task, seed)
            records.append(base.but(
                cell_id=cell.id, run_id=f"{cell.id}-s{seed}", run_key=f"k-{cell.id}-s{seed}",
                strategy_name=cell.strategy_name, task_name=cell.task_name, primary_metric=primary,
                secondary_metrics=secondary[cell.task_name], items=items,
                metrics={"select": metrics, "report": metrics},
                data=base.data.model_dump() | {"sizes": {"train": 2000, "select": 500, "report": n_items}}
                if base.data else None))
    return records


def spread(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 2), "median": round(statistics.median(values), 2),
            "max": round(max(values), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strategies", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="also cProfile one in-process write_report")
    parser.add_argument("--keep", type=Path, help="copy the suite and the report's folder here, to look at")
    args = parser.parse_args()
    if args.strategies < 2 or args.tasks < 1:
        parser.error("at least 2 strategies and 1 task")

    from tlbench.analysis import analyse
    from tlbench.config import load_suite
    from tlbench.grid import build_grid
    from tlbench.plugins import get_plugins
    from tlbench.provenance import cpu_name
    from tlbench.records import export_jsonl, read_jsonl

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        suite_path = tmp / f"{SUITE}.toml"
        suite_path.write_text(suite_text(args.strategies, args.tasks, args.seeds), encoding="utf-8")
        plugins = get_plugins()
        suite = load_suite(suite_path, plugins, check_data=False)
        cells = build_grid(suite, plugins)
        records = build_records(cells, args.items, np.random.default_rng(0))
        results = tmp / "results" / SUITE
        jsonl = results / "runs.jsonl"
        export_jsonl(records, jsonl)
        mib = jsonl.stat().st_size / 2**20

        env = {**os.environ, "TLBENCH_DATA_DIR": str(tmp / "no-mirror"), "MPLBACKEND": "Agg"}
        cli: list[float] = []
        cpu: list[float] = []  # the subprocess's user + system CPU seconds: less sensitive to other load
        for _ in range(args.repeats):
            for p in results.iterdir():  # a fresh output folder each time, the records kept
                if p != jsonl:
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "tlbench", "report", str(suite_path)], cwd=tmp,
                                 capture_output=True, text=True, env=env)
            cli.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            if out.returncode != 0:
                raise SystemExit(f"tlbench report exited {out.returncode}:\n{out.stderr[-3000:]}")
        board = (results / "LEADERBOARD.md").read_text(encoding="utf-8")
        figures = sorted(p.name for p in (results / "plots").glob("*.png"))
        if "No records yet" in board or "critical_difference.png" not in figures:
            raise SystemExit("the leaderboard is missing its tables or plots: the benchmark measured nothing")

        if args.keep:
            shutil.copytree(tmp, args.keep, dirs_exist_ok=True)

        start = time.perf_counter()
        loaded = read_jsonl(jsonl)
        read_seconds = time.perf_counter() - start
        margin = suite.equivalence_margin
        alone: list[float] = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            a = analyse(loaded, baseline=suite.baseline, margin=margin)
            alone.append(time.perf_counter() - start)
        family = a["statistics"]["family"]["size"]

        if args.profile:
            from tlbench.report import write_report

            profiler = cProfile.Profile()
            profiler.enable()
            write_report(loaded, SUITE, tmp / "profiled", baseline=suite.baseline, margin=margin)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)

    summary = {"date": datetime.date.today().isoformat(), "cpu": cpu_name(), "cpus": os.cpu_count(),
               "records": len(records), "strategies": args.strategies, "tasks": args.tasks,
               "seeds": args.seeds, "items": args.items, "runs_jsonl_mib": round(mib, 1),
               "family": family, "plots": len(figures), "report_seconds": spread(cli),
               "report_cpu_seconds": spread(cpu), "load_average": os.getloadavg()[0],
               "read_jsonl_seconds": round(read_seconds, 2), "analyse_seconds": spread(alone),
               "target_seconds": TARGET_SECONDS}
    print(f"{summary['date']} on {summary['cpu']} ({summary['cpus']} CPUs visible), "
          f"python {platform.python_version()}")
    print(f"{len(records)} records ({args.strategies} strategies x {args.tasks} tasks x {args.seeds} seeds, "
          f"{args.items:,} report items each; runs.jsonl {mib:.1f} MiB; {family} comparisons in the Holm "
          f"family; {len(figures)} plots)")
    for name, values in (("tlbench report, end to end", cli), ("  its CPU time (user + system)", cpu),
                         ("analyse alone", alone)):
        s = spread(values)
        print(f"{name}: min {s['min']:.2f} s, median {s['median']:.2f} s, max {s['max']:.2f} s "
              f"over {len(values)} runs")
    print(f"read_jsonl alone: {read_seconds:.2f} s; 1-minute load average at the end "
          f"{summary['load_average']:.2f} on {summary['cpus']} CPUs (above that, other work shares them)")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
