"""Per-task preprocessing time, evaluation throughput and truncation on the real MiniLM.

    TLBENCH_DATA_DIR=../shared/data python benchmarks/tasks.py [--eval 500] [--tasks sst2,imdb,...]

For each task: load the splits from the mirror, tokenize the report split (timed, no cache), run the
encoder and a (random) head over it in inference mode (timed), and count the examples cut at the
task's default max_length (for QA: contexts needing more than one window). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from tlbench import get_plugins
from tlbench.engine import Collator, EncoderModel, load_backbone, predict, rows_of
from tlbench.engine.model import load_tokenizer
from tlbench.runner import _quiet_libraries, resolve_model

DEFAULT_TASKS = "sst2,imdb,conll2003,squad,cola,mrpc,rte,stsb,wnli"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--eval", type=int, default=500, help="report rows (examples) to time")
    parser.add_argument("--tasks", default=DEFAULT_TASKS)
    args = parser.parse_args()
    _quiet_libraries()
    plugins = get_plugins()
    data_dir = Path(os.environ["TLBENCH_DATA_DIR"])
    model = resolve_model(MODEL, plugins)
    tokenizer = load_tokenizer(model.path)
    backbone = load_backbone(model)
    print("| task | max length | report rows | tokenize s | eval ex/s | truncated |")
    print("|---|---|---|---|---|---|")
    for name in args.tasks.split(","):
        entry = plugins.tasks.get(name)
        task = entry.factory(name, entry.factory.Options(max_eval_examples=args.eval))
        split = task.load(data_dir).splits["report"]
        t0 = time.perf_counter()
        encoded = task.encode(tokenizer, split[:])
        tokenize = time.perf_counter() - t0
        module = EncoderModel(backbone, task.head)
        t0 = time.perf_counter()
        predict(module, rows_of(encoded), Collator(tokenizer.pad_token_id), batch_size=128, device="cpu")
        seconds = time.perf_counter() - t0
        share = task.truncated_share(encoded)  # per question for QA, not per window
        print(f"| {name} | {task.options.max_length} | {len(split)} | {tokenize:.2f} | "
              f"{len(split) / seconds:.0f} | {share:.1%} |", flush=True)


if __name__ == "__main__":
    main()
