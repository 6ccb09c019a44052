"""How long the CLI's cheap commands take in a fresh interpreter (start-up, imports, suite checks).

    python benchmarks/cli_speed.py [--runs 7]

Times ``tlbench --help`` (target: under 1 s) and ``tlbench validate suites/glue_small.toml`` (target:
under 2 s), each ``--runs`` times as a user runs them (``python -m tlbench ...`` in a subprocess, the
first run included: it pays for cold file caches), and prints min / median / max per command. The
last line is one JSON object. Exit status 1 when a median misses its target. This is a benchmark, not
a test: the times depend on the machine and its load (docs/DESIGN.md: timings live in benchmarks/).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: (name, arguments after ``python -m tlbench``, target median in seconds)
COMMANDS = [
    ("help", ["--help"], 1.0),
    ("validate glue_small", ["validate", str(ROOT / "suites" / "glue_small.toml")], 2.0),
]


def time_once(args: list[str]) -> float:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "tlbench", *args], capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"tlbench {' '.join(args)} exited {out.returncode}:\n{out.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command")
    args = parser.parse_args()
    result, missed = {}, []
    for name, command, target in COMMANDS:
        times = [time_once(command) for _ in range(args.runs)]
        row = {"min": min(times), "median": statistics.median(times), "max": max(times), "target": target}
        result[name] = {k: round(v, 3) for k, v in row.items()}
        ok = row["median"] < target
        missed += [] if ok else [name]
        print(f"tlbench {' '.join(command).replace(str(ROOT) + '/', '')}: min {row['min']:.2f} s, "
              f"median {row['median']:.2f} s, max {row['max']:.2f} s over {args.runs} runs "
              f"(target < {target:g} s: {'ok' if ok else 'MISSED'})")
    print(json.dumps({"python": sys.version.split()[0], "runs": args.runs, "commands": result}))
    if missed:
        sys.exit(1)


if __name__ == "__main__":
    main()
