"""Where a run's wall time goes, from a runs.jsonl whose records have the compute fields (``Cost``):
per strategy the runs' wall time, own training, the share outside it (preparing data, one-off
feature extraction, evaluation, the rest), then per strategy and task the steps, epochs and examples.
README's "outside training" tables come from it:

    python benchmarks/compute_split.py /tmp/slice/results2/runs.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.time_split import seconds  # noqa: E402 - after the path insert
from tlbench.records import read_jsonl  # noqa: E402

rs = read_jsonl(Path(sys.argv[1]))
rows, work = {}, {}
for r in rs:
    c = r.cost
    work.setdefault(r.strategy, {})[r.task] = (c.optimizer_steps, c.epochs, c.examples_seen, c.tokens,
                                               c.padded_tokens)
    if r.group and r.group.reused:
        continue
    d = rows.setdefault(r.strategy, dict(n=0, wall=0, train=0, own=0, here=0, prep=0, ev=0))
    d["n"] += 1
    d["wall"] += seconds(r)
    d["train"] += c.train_seconds
    d["own"] += c.own_train_seconds
    d["here"] += c.train_seconds - c.own_train_seconds
    d["prep"] += c.prepare_seconds
    d["ev"] += (sum(x.cost.eval_seconds for x in rs if x.group and x.group.id == r.group.id) if r.group
                else c.eval_seconds)
KEYS = ("n", "wall", "train", "own", "here", "prep", "ev")
rows["all"] = {k: sum(d[k] for d in rows.values()) for k in KEYS}
print("| strategy | runs | wall | own training | outside training | prepare | one-off (in fit) | eval "
      "| rest |")
print("|---|---|---|---|---|---|---|---|---|")
for s, d in rows.items():
    out = d["wall"] - d["own"]
    rest = d["wall"] - d["train"] - d["prep"] - d["ev"]
    print(f"| {s} | {d['n']} | {d['wall']:.0f} s | {d['own']:.0f} s | {out:.0f} s ({out / d['wall']:.0%}) | "
          f"{d['prep']:.0f} s | {d['here']:.0f} s | {d['ev']:.0f} s | {rest:.0f} s |")
tasks = list(dict.fromkeys(r.task for r in rs))
print()
print("| strategy | " + " | ".join(tasks) + " |")
print("|---|" + "---|" * len(tasks))
for s, w in work.items():
    print(f"| {s} | " + " | ".join(f"{w[t][0]} st / {w[t][1]:.0f} ep / {w[t][2]:,} ex" for t in tasks) + " |")
