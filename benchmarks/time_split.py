"""How a suite's wall time splits by strategy, from its exported records (runs.jsonl).

    python benchmarks/time_split.py results/glue_small/runs.jsonl

Per strategy: the wall time of its runs that trained (start to end of each record: data, training,
evaluation and saving), the tuning trials' seconds (from the tuning summary the tuned runs carry, once
per cell), and how many runs reused a training with the same options and seed (a default run that a
trial repeated, tuned options that a trial or a default run had trained): those cost nothing.
A multitask group's training is counted once, on the task whose run trained it.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tlbench.record import RunRecord
from tlbench.records import read_jsonl


def seconds(record: RunRecord) -> float:
    start, end = (datetime.fromisoformat(t) for t in (record.started_at, record.finished_at))
    return (end - start).total_seconds()


def main(path: str) -> None:
    records = read_jsonl(Path(path))
    rows: dict[str, dict[str, float]] = {}
    tuned_cells: set[tuple[str, str]] = set()
    for r in records:
        row = rows.setdefault(r.strategy, {"runs": 0, "trained": 0, "reused": 0, "run_s": 0.0,
                                           "train_s": 0.0, "tuning_s": 0.0})
        row["runs"] += 1
        if r.reused or (r.group and r.group.reused):
            row["reused"] += 1
        else:
            row["trained"] += 1
            row["run_s"] += seconds(r)
            row["train_s"] += r.cost.train_seconds if r.cost else 0.0
        key = (r.strategy, r.group.id if r.group else r.cell_id)
        if r.tuning and key not in tuned_cells:
            tuned_cells.add(key)
            row["tuning_s"] += r.tuning.seconds
    total = sum(v["run_s"] + v["tuning_s"] for v in rows.values())
    print("| strategy | runs (trained / reused) | runs' wall time | of which training | tuning trials "
          "| share |")
    print("|---|---|---|---|---|---|")
    for name, v in sorted(rows.items(), key=lambda kv: -(kv[1]["run_s"] + kv[1]["tuning_s"])):
        share = (v["run_s"] + v["tuning_s"]) / total if total else 0.0
        print(f"| {name} | {v['runs']:.0f} ({v['trained']:.0f} / {v['reused']:.0f}) | "
              f"{v['run_s'] / 60:.1f} min | {v['train_s'] / 60:.1f} min | {v['tuning_s'] / 60:.1f} min | "
              f"{share:.0%} |")
    print(f"\nruns and trials: {total / 60:.1f} min in all")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/glue_small/runs.jsonl")
