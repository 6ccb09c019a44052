"""What the memory options save and cost, each variant in its own ``tlbench run`` of the offline
all-MiniLM-L6-v2 on IMDb reviews at 256 tokens: full fine-tuning with and without
``gradient_checkpointing``, and LoRA (bf16 autocast) with the backbone held in fp32 and in bf16
(``backbone_dtype``).

    TLBENCH_DATA_DIR=../shared/data python benchmarks/memory_options.py [--steps 8] [--batch 16]

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
strategy = "{strategy}"
batch_size = {batch}
max_steps = {steps}
evals_per_epoch = 0
min_evals = 0
{options}
"""
#: label -> (strategy, its options)
VARIANTS = {
    "plain": ("full_finetune", 'precision = "fp32"'),
    "checkpointed": ("full_finetune", 'precision = "fp32"\ngradient_checkpointing = true'),
    "lora_fp32_backbone": ("lora", 'precision = "bf16"'),
    "lora_bf16_backbone": ("lora", 'precision = "bf16"\nbackbone_dtype = "bf16"'),
}


def run(label: str, steps: int, batch: int, root: Path) -> dict[str, float]:
    strategy, options = VARIANTS[label]
    suite = root / f"{label}.toml"
    suite.write_text(SUITE.format(label=label, strategy=strategy, options=options, steps=steps, batch=batch,
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
        result = {label: run(label, args.steps, args.batch, root) for label in VARIANTS}
    for label, r in result.items():
        print(f"{label:>18}: peak {r['peak_memory_mb']:.0f} MB ({r['memory_kind']}), "
              f"training {r['train_seconds']:.1f} s")
    print(json.dumps({"steps": args.steps, "batch": args.batch, **result}))


if __name__ == "__main__":
    main()
