"""How long `tlbench report` takes on a large synthetic results set (no training, no database).

    python benchmarks/report_speed.py [--strategies 10] [--tasks 10] [--seeds 5] [--items 1000]

Writes the records to a temporary ``runs.jsonl`` and times ``tlbench report`` on it end to end
(reading the export, statistics with 1,000 paired-bootstrap resamples per task, LEADERBOARD.md,
JSON and CSV), in a subprocess. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from tests.records import record
    from tlbench.records import export_jsonl

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strategies", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--items", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    strategies = ["full_finetune", *[f"s{i}" for i in range(1, args.strategies)]]
    tasks = [f"t{i}" for i in range(args.tasks)]
    records = []
    for t in tasks:
        for i, s in enumerate(strategies):
            for seed in range(args.seeds):
                items = (rng.random(args.items) < 0.6 + 0.02 * i).astype(float).tolist()
                records.append(record(s, t, seed, items=items))
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "big.toml"
        suite.write_text('models = ["m"]\nseeds = [0]\n[tasks.sst2]\n[strategies.full_finetune]\n')
        export_jsonl(records, Path(tmp) / "results" / "big" / "runs.jsonl")
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "tlbench", "report", str(suite)], cwd=tmp,
                             capture_output=True, text=True, env={"TLBENCH_DATA_DIR": tmp, "PATH": ""})
        seconds = time.perf_counter() - t0
        assert out.returncode == 0, out.stderr
        size = (Path(tmp) / "results" / "big" / "LEADERBOARD.md").stat().st_size
    print(f"{len(records)} records ({args.strategies} strategies x {args.tasks} tasks x {args.seeds} seeds, "
          f"{args.items} items each): tlbench report took {seconds:.1f} s (LEADERBOARD.md {size:,} bytes)")
    print(json.dumps({"records": len(records), "items": args.items, "seconds": round(seconds, 2)}))


if __name__ == "__main__":
    main()
