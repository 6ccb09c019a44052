"""What tuning a frozen probe costs once its features are cached, against one feature-extraction pass.

    TLBENCH_DATA_DIR=../shared/data python benchmarks/probe_reuse.py [--task sst2] [--trials 20] [--seeds 3]

One linear_probe job on the real all-MiniLM-L6-v2 (a fresh feature cache): the first fit extracts
the features of every split (timed: that is the one extraction pass), then ``trials x seeds`` more
fits, each with its own learning rate (log-spaced, as a tuner would try) and seed, each training
the head and scoring the selection split, as a tuning trial does. Prints both times and the ratio,
then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from tlbench import get_plugins
from tlbench.engine.features import extraction_seconds
from tlbench.runner import _quiet_libraries, prepare_job, resolve_model

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--train", type=int, default=1000, help="training rows")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    _quiet_libraries()
    plugins = get_plugins()
    entry = plugins.tasks.get(args.task)
    task = entry.factory(args.task, entry.factory.Options(max_train_examples=args.train, select_examples=200,
                                                          max_length=64))
    data = task.load(Path(os.environ["TLBENCH_DATA_DIR"]))
    model = resolve_model(MODEL, plugins)
    probe = plugins.strategies.get("linear_probe").factory
    with tempfile.TemporaryDirectory() as cache:
        job = prepare_job(task, model, data, seed=0, device="cpu", cache_dir=Path(cache))
        first = probe("linear_probe", probe.Options())
        t0 = time.perf_counter()
        fitted = first.fit(job)
        for role in ("select", "report"):
            fitted.predict(role)  # extracts those splits' features too
        first_seconds = time.perf_counter() - t0
        extract = sum(extraction_seconds(job, role, "mean") for role in ("train", "select", "report"))
        scores = []
        t0 = time.perf_counter()
        for trial in range(args.trials):
            lr = 10 ** (-4 + 3 * trial / max(1, args.trials - 1))  # 1e-4 .. 1e-1
            for seed in range(args.seeds):
                job.seed = seed
                fitted = probe("linear_probe", probe.Options(lr=lr)).fit(job)
                scores.append(job.score("select", fitted.predict("select"))["accuracy"])
        tuning = time.perf_counter() - t0
    fits = args.trials * args.seeds
    print(f"{args.task}: {len(data.splits['train'])} train rows; one feature-extraction pass over "
          f"{sum(len(s) for s in data.splits.values())} rows: {extract:.1f} s (first fit with it: "
          f"{first_seconds:.1f} s)")
    print(f"{fits} probe fits on the cached features (train + score select): {tuning:.1f} s "
          f"({tuning / fits * 1000:.0f} ms each); ratio to one extraction pass: {tuning / extract:.2f}; "
          f"selection accuracy {min(scores):.3f}..{max(scores):.3f}")
    print(json.dumps({"task": args.task, "extraction_seconds": round(extract, 2), "fits": fits,
                      "tuning_seconds": round(tuning, 2), "ratio": round(tuning / extract, 3)}))


if __name__ == "__main__":
    main()
