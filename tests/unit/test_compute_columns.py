"""The leaderboard's compute columns and per-cell tuning cost (issue 17), from synthetic records: the
means over seeds of ``Cost``'s compute fields, and "–" for records made before they were counted."""

from __future__ import annotations

from tests.records import record
from tlbench.analysis import analyse
from tlbench.record import RunRecord
from tlbench.report import leaderboard


def task_row(md: str, strategy: str) -> str:
    return next(line for line in md.split("## sst2", 1)[1].splitlines()
                if line.startswith((f"| {strategy} |", f"| **{strategy}")))


COMPUTE = {"optimizer_steps": 32, "epochs": 1.0, "examples_seen": 500, "tokens": 14_200,
           "padded_tokens": 16_000, "oneoff_seconds": 0.0, "own_train_seconds": 75.0,
           "prepare_seconds": 0.4, "eval_seconds": 1.25}


def test_compute_columns_are_means_over_seeds_and_dashes_for_old_records():
    records = [record(seed=s, **COMPUTE) for s in range(3)]
    # the probe's one-off extraction: inside seed 0's training, read from the cache by seed 1
    records += [record("linear_probe", seed=0, train_seconds=6.0, optimizer_steps=60, epochs=30.0,
                       examples_seen=15_000, tokens=14_200, padded_tokens=18_000, oneoff_seconds=5.0,
                       own_train_seconds=1.0, eval_seconds=0.5),
                record("linear_probe", seed=1, train_seconds=1.2, optimizer_steps=60, epochs=30.0,
                       examples_seen=15_000, tokens=14_200, padded_tokens=18_000, oneoff_seconds=4.0,
                       own_train_seconds=1.2, eval_seconds=0.5)]
    records += [record("lora", seed=s) for s in range(2)]  # made before the fields existed
    a = analyse(records, baseline="full_finetune", n_resamples=200)
    probe = a["tasks"]["sst2"]["strategies"]["linear_probe"]["cost"]
    assert probe["oneoff_seconds"] == 4.5 and probe["own_train_seconds"] == 1.1
    assert a["tasks"]["sst2"]["strategies"]["lora"]["cost"]["optimizer_steps"] is None
    md = leaderboard(records, "s", baseline="full_finetune", analysis=a)
    assert task_row(md, "full_finetune").endswith("| 32 st / 1.0 ep / 500 ex | 14.2k / 16.0k | 1.2 s |")
    probe_row = task_row(md, "linear_probe")
    # own + one-off, the cheaper from raw text in bold
    assert "**1.1 s + 4.5 s one-off**" in probe_row and "60 st / 30.0 ep / 15.0k ex" in probe_row
    lora = task_row(md, "lora")
    assert lora.endswith("| – | – | – |") and "1 min 15 s" in lora


def test_tuning_cost_per_cell():
    summary = {"trials": 2, "complete": 2, "pruned": 0, "failed": 0, "seconds": 42.0, "best_trial": 1,
               "best_select": 0.8, "select_scores": [0.78, 0.8],
               "select_spread": {"min": 0.78, "max": 0.8, "sd": 0.0141}}
    tuned = [RunRecord.model_validate({**record(seed=s).to_json(), "variant": "tuned", "tuning": summary})
             for s in range(2)]
    md = leaderboard([*tuned, *[record("lora", seed=s) for s in range(2)]], "s", baseline="full_finetune")
    assert "| 0.014 (2 trials, 42.0 s) |" in task_row(md, "full_finetune")
    assert "tuning: select sd (trials, time)" in md
