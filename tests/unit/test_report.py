"""The leaderboard is a pure function of the records."""

from __future__ import annotations

import pytest

from tests.records import record
from tlbench.report import human_bytes, human_count, human_seconds, leaderboard


def test_human_numbers():
    assert human_count(22_713_216) == "22.7M" and human_count(1536) == "1.5k" and human_count(12) == "12"
    assert human_bytes(1.3e9) == "1.3 GB" and human_bytes(2048) == "2.0 kB"
    assert human_seconds(252) == "4 min 12 s" and human_seconds(3.25) == "3.2 s"
    assert human_seconds(7322) == "2 h 2 min"


def test_mean_sd_n_per_cell_and_cost_columns():
    records = [record(seed=s, score=v) for s, v in enumerate([0.80, 0.82, 0.84])]
    records += [record("linear_probe", seed=s, score=0.7, trainable_params=770, trainable_share=770 / 22.7e6,
                       stored_bytes=3_200) for s in range(2)]
    md = leaderboard(records, "glue_small")
    row = next(line for line in md.splitlines() if line.startswith("| full_finetune"))
    assert "0.820 ± 0.020 (n=3)" in row and "22.7M (100.0%)" in row and "90.0 MB" in row
    assert "1 min 15 s" in row and "1.5 GB" in row
    probe = next(line for line in md.splitlines() if line.startswith("| linear_probe"))
    assert "0.700 ± 0.000 (n=2)" in probe and "770 (0.0%)" in probe and "3.2 kB" in probe
    assert "| sst2 | 2,000 | 500 | 872 | validation.jsonl.gz | 0.0% |" in md
    assert "## Provenance" in md and "torch 2.13.0" in md


def test_failures_are_listed_not_averaged():
    records = [record(seed=0, score=0.9), record(seed=1, status="failed")]
    md = leaderboard(records, "s")
    assert "0.900 ± 0.000 (n=1)" in md
    assert "full_finetune × sst2 seed 1: `RuntimeError: out of memory`" in md


def test_a_failure_later_fixed_is_not_listed():
    md = leaderboard([record(seed=1, status="failed"), record(seed=1, score=0.5)], "s")
    assert "Failed runs" not in md and "(n=1)" in md


@pytest.mark.parametrize("records", [[], [record(status="failed")]])
def test_empty_or_all_failed(records):
    md = leaderboard(records, "s")
    assert md.startswith("# s: leaderboard")
