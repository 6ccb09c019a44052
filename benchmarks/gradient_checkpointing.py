"""What ``gradient_checkpointing = true`` saves and costs: full fine-tuning of the offline
all-MiniLM-L6-v2 on IMDb reviews at 256 tokens, with and without it, each in its own ``tlbench run``.

    TLBENCH_DATA_DIR=../shared/data python benchmarks/gradient_checkpointing.py [--steps 8] [--batch 16]

Prints, per variant, the run's recorded peak memory (``cost.peak_memory_bytes``: the process's
resident memory on CPU, the allocator's peak on a GPU) and training seconds, then one JSON line. A
benchmark, not a test: the numbers depend on the machine and its load (docs/DESIGN.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

SUITE = """
models = ["sentence-transformers/all-MiniLM-L6-v2"]
seeds = [0]

[tasks.imdb]
max_train_examples = {rows}
select_examples = 16
max_eval_examples = 16
max_length = 256

[strategies.{label}]
strategy = "full_finetune"
batch_size = {batch}
max_steps = {steps}
evals_per_epoch = 0
min_evals = 0
precision = "fp32"
gradient_checkpointing = {on}
"""


def run(label: str, on: bool, steps: int, batch: int, root: Path) -> dict[str, float]:
    suite = root / f"{label}.toml"
    suite.write_text(SUITE.format(label=label, on=str(on).lower(), steps=steps, batch=batch,
                                  rows=steps * batch))
    out = subprocess.run([sys.executable, "-m", "tlbench", "run", str(suite), "--results", str(root / label)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{label}: exit {out.returncode}\n{out.stdout[-3000:]}{out.stderr[-3000:]}")
    (line,) = next((root / label).rglob("runs.jsonl")).read_text().splitlines()
    cost = json.loads(line)["cost"]
    return {"peak_memory_mb": cost["peak_memory_bytes"] / 2**20, "train_seconds": cost["train_seconds"],
            "memory_kind": cost.get("memory_kind", "")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        result = {label: run(label, on, args.steps, args.batch, root)
                  for label, on in (("plain", False), ("checkpointed", True))}
    for label, r in result.items():
        print(f"{label:>13}: peak {r['peak_memory_mb']:.0f} MB ({r['memory_kind']}), "
              f"training {r['train_seconds']:.1f} s")
    print(json.dumps({"steps": args.steps, "batch": args.batch, **result}))


if __name__ == "__main__":
    main()
