"""A declared task on a large CSV: how long ``tlbench validate`` takes, and loading + tokenizing
through the task against ``datasets`` itself (issue 18).

    TLBENCH_DATA_DIR=../shared/data python benchmarks/declared_data.py [--mb 200] [--work /tmp/tlbench-bench]

Writes ``big_train.csv`` (IMDb training reviews from the mirror, repeated with a row number until the
file has ``--mb`` MB; columns ``id``, ``body``, ``stars``) and a 2,000-row ``small_test.csv``, and a
suite declaring them (``kind = "classification"``, ``max_length = 128``). Then, each in a fresh
process with its own empty ``datasets`` cache:

1. ``tlbench validate`` on the suite (3 times; wall clock of the whole command);
2. ``datasets`` alone: ``load_dataset("csv")`` of the big file, then ``Dataset.map`` of the model's
   tokenizer (batched, ``truncation=True, max_length=128``);
3. tlbench: ``Task.load`` (the same builder, labels to ids, the selection rows carved), then the
   runner's tokenization of the training split (``encoder_for``: ``Dataset.map`` of ``Task.encode``
   to an Arrow cache file), timed before and after the runner's ``to_dict``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"

DATASETS = '''
import sys, time
t0 = time.perf_counter()
import datasets
from transformers import AutoTokenizer
from tlbench_builtin.models import resolve_model
tok = AutoTokenizer.from_pretrained(resolve_model("{model}"))
t1 = time.perf_counter()
ds = datasets.load_dataset("csv", data_files="{big}", split="train")
t2 = time.perf_counter()
enc = ds.map(lambda b: tok(b["body"], truncation=True, max_length=128), batched=True,
             remove_columns=ds.column_names)
t3 = time.perf_counter()
print(f"RESULT rows={{len(ds)}} import={{t1 - t0:.2f}} load={{t2 - t1:.2f}} tokenize={{t3 - t2:.2f}}")
'''

TLBENCH = '''
import sys, time
t0 = time.perf_counter()
from pathlib import Path
from tlbench import ModelRef, get_plugins, load_suite
from tlbench.runner import encoder_for
from tlbench.engine.model import load_tokenizer
from tlbench_builtin.models import resolve_model
plugins = get_plugins()
suite = load_suite("{suite}", plugins)
comp = suite.tasks[0]
task = plugins.tasks.get(comp.name).factory(comp.name, comp.options)
model = ModelRef("{model}", str(resolve_model("{model}")), "")
tok = load_tokenizer(model.path)
t1 = time.perf_counter()
data = task.load(None)
t2 = time.perf_counter()
for role in ("train", "select"):  # every row of the big file: the training rows and those carved
    split = data.splits[role]
    enc = split.map(lambda b: task.encode(tok, b), batched=True, remove_columns=split.column_names,
                    cache_file_name=f"{work}/tokens-{{role}}.arrow", load_from_cache_file=False)
t3 = time.perf_counter()
encoder = encoder_for(task, data, model, tok, Path("{work}/cache-" + str(time.time_ns())))
encoded = [encoder(role) for role in ("train", "select")]
t4 = time.perf_counter()
rows = len(data.splits["train"]) + len(data.splits["select"])
print(f"RESULT rows={{rows}} import={{t1 - t0:.2f}} load={{t2 - t1:.2f}} tokenize={{t3 - t2:.2f}} "
      f"runner_tokenize_to_dict={{t4 - t3:.2f}}")
'''


def write_files(mirror: Path, work: Path, mb: int) -> tuple[Path, Path]:
    work.mkdir(parents=True, exist_ok=True)
    big, small = work / "big_train.csv", work / "small_test.csv"
    with gzip.open(mirror / "imdb" / "train.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    names = ("neg", "pos")
    if not big.is_file() or big.stat().st_size < mb * 1e6:
        with open(big, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(["id", "body", "stars"])
            n = 0
            while fh.tell() < mb * 1e6:
                r = rows[n % len(rows)]
                out.writerow([n, r["text"], names[r["label"]]])
                n += 1
    with gzip.open(mirror / "imdb" / "test.jsonl.gz", "rt", encoding="utf-8") as fh:
        test = [json.loads(line) for _, line in zip(range(2000), fh, strict=False)]
    with open(small, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "body", "stars"])
        out.writerows([i, r["text"], names[r["label"]]] for i, r in enumerate(test))
    return big, small


def run(code: str, work: Path, name: str) -> str:
    env = {**os.environ, "HF_DATASETS_CACHE": str(work / f"hf-{name}-{time.time_ns()}"),
           "TLBENCH_CACHE_DIR": str(work / "cache")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return next(line for line in out.stdout.splitlines() if line.startswith("RESULT"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--work", type=Path, default=Path("/tmp/tlbench-bench-declared"))
    parser.add_argument("--mirror", type=Path, default=Path(os.environ.get("TLBENCH_DATA_DIR", "")))
    args = parser.parse_args()
    big, small = write_files(args.mirror, args.work, args.mb)
    suite = args.work / "suite.toml"
    suite.write_text(f'models = ["{MODEL}"]\nseeds = [0]\n[strategies.linear_probe]\n\n[tasks.reviews]\n'
                     f'kind = "classification"\nmax_length = 128\n'
                     f'data_files = {{ train = "{big.name}", test = "{small.name}" }}\n'
                     'columns = { text = "body", label = "stars" }\n')
    print(f"{big}: {big.stat().st_size / 1e6:.1f} MB")
    for i in range(3):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "tlbench", "validate", str(suite)], capture_output=True,
                             text=True, cwd=ROOT)
        print(f"tlbench validate #{i + 1}: {time.perf_counter() - start:.2f} s (exit {out.returncode})")
        if out.returncode:
            print(out.stdout[-2000:], out.stderr[-2000:])
    print("datasets alone:", run(DATASETS.format(model=MODEL, big=big), args.work, "datasets"))
    ours = TLBENCH.format(model=MODEL, suite=suite, work=args.work)
    print("tlbench task:  ", run(ours, args.work, "tlbench"))


if __name__ == "__main__":
    main()
