"""Evaluation throughput with length-sorted batches (what ``tlbench.engine.predict`` does) vs
random-order batches.

    TLBENCH_DATA_DIR=/work/shared/data python benchmarks/eval_order.py \
        [--batch 128] [--imdb-rows 300] [--repeats 3] [--threads N] [--tasks sst2,imdb]

Encoder: MiniLM-L6 (resolved offline) with a random classification head, fp32, inference mode.
Splits: SST-2 validation (872 rows, max length 128) and a seeded, stratified subset of IMDb test
(max length 256). Modes, each timed ``--repeats`` times after one untimed warm-up pass:

* ``predict``: ``tlbench.engine.predict`` itself (rows sorted by length, longest first);
* ``sorted``: the same loop as ``predict`` (copied below), in that length order;
* ``random``: the same loop over a seeded random permutation of the rows.

``sorted`` vs ``random`` differ only in order; ``predict`` vs ``sorted`` checks the copy. Prints
examples/s (best and median of the repeats), padded tokens per mode and the sorted/random ratio;
the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tlbench import get_plugins
from tlbench.engine import Collator, EncoderModel, load_backbone, predict, rows_of
from tlbench.engine.batching import row_length
from tlbench.engine.model import load_tokenizer
from tlbench.runner import _quiet_libraries, resolve_model

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@torch.inference_mode()
def predict_in_order(module: torch.nn.Module, rows: list[dict[str, Any]], collate: Any, order: list[int],
                     batch_size: int) -> tuple[np.ndarray, int]:
    """``predict``'s loop (CPU, fp32) over ``order``; returns outputs in row order and padded tokens."""
    module.eval()
    per_row: list[Any] = [None] * len(rows)
    padded = 0
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch = collate([rows[i] for i in idx])
        batch.pop("labels", None)
        padded += int(batch["attention_mask"].numel())
        out = module(**batch).float().cpu().numpy()
        for j, i in enumerate(idx):
            per_row[i] = out[j]
    return np.stack(per_row), padded


def timed(fn: Any, repeats: int) -> tuple[list[float], Any]:
    fn()  # warm-up (allocator, kernels, first-call overheads)
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--sst2-rows", type=int, default=None, help="cap on SST-2 validation rows (all 872)")
    parser.add_argument("--imdb-rows", type=int, default=300)
    parser.add_argument("--imdb-length", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", default="sst2,imdb")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    _quiet_libraries()
    plugins = get_plugins()
    data_dir = Path(os.environ["TLBENCH_DATA_DIR"])
    model = resolve_model(args.model, plugins)
    tokenizer = load_tokenizer(model.path)
    collate = Collator(tokenizer.pad_token_id or 0)
    torch.manual_seed(args.seed)
    backbone = load_backbone(model)
    summary: dict[str, Any] = {"model": model.id, "batch": args.batch, "repeats": args.repeats,
                               "torch_threads": torch.get_num_threads(), "tasks": {}}
    print(f"torch threads {torch.get_num_threads()}; batch {args.batch}; {args.repeats} repeats, "
          f"best (median) examples/s", flush=True)
    settings = {"sst2": (args.sst2_rows, 128), "imdb": (args.imdb_rows, args.imdb_length)}
    for name in args.tasks.split(","):
        rows_cap, length = settings[name]
        entry = plugins.tasks.get(name)
        task = entry.factory(name, entry.factory.Options(max_eval_examples=rows_cap, max_length=length))
        split = task.load(data_dir).splits["report"]
        rows = rows_of(task.encode(tokenizer, split[:]))
        module = EncoderModel(backbone, task.head)
        lengths = [row_length(r) for r in rows]
        sorted_order = sorted(range(len(rows)), key=lambda i: lengths[i], reverse=True)
        random_order = np.random.default_rng(args.seed).permutation(len(rows)).tolist()
        modes = {
            "predict": lambda rows=rows, module=module: (
                predict(module, rows, collate, batch_size=args.batch, device="cpu", precision="fp32"), None),
            "sorted": lambda rows=rows, module=module, o=sorted_order: predict_in_order(
                module, rows, collate, o, args.batch),
            "random": lambda rows=rows, module=module, o=random_order: predict_in_order(
                module, rows, collate, o, args.batch),
        }
        result: dict[str, Any] = {"rows": len(rows), "max_length": length, "real_tokens": sum(lengths)}
        outputs = {}
        for mode, fn in modes.items():
            times, (out, padded) = timed(fn, args.repeats)
            outputs[mode] = out
            result[f"{mode}_examples_per_s"] = len(rows) / min(times)
            result[f"{mode}_examples_per_s_median"] = len(rows) / statistics.median(times)
            if padded is not None:
                result[f"{mode}_padded_tokens"] = padded
        result["sorted_over_random"] = result["sorted_examples_per_s"] / result["random_examples_per_s"]
        result["max_abs_diff_sorted_vs_random"] = float(np.abs(outputs["sorted"] - outputs["random"]).max())
        summary["tasks"][name] = result
        print(f"{name} ({len(rows)} rows, max length {length}, mean {np.mean(lengths):.1f} tokens): "
              + "  ".join(f"{m} {result[f'{m}_examples_per_s']:.1f} "
                          f"({result[f'{m}_examples_per_s_median']:.1f})" for m in modes)
              + f"  padded tokens sorted {result['sorted_padded_tokens']} random "
                f"{result['random_padded_tokens']} (real {result['real_tokens']})  "
                f"sorted/random {result['sorted_over_random']:.2f}x", flush=True)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
