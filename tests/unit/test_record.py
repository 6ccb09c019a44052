"""The typed run record: validated on the way in, migrated from older schema versions, frozen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.records import record
from tlbench.errors import TlbenchError
from tlbench.record import SCHEMA_VERSION, RunRecord, load_record
from tlbench.records import current, read_jsonl, reported
from tlbench.report import leaderboard

COMMITTED = Path(__file__).resolve().parents[2] / "results" / "glue_small" / "runs.jsonl"


def test_records_are_frozen_and_changed_only_by_copy():
    r = record()
    with pytest.raises(ValidationError):
        r.seed = 3  # type: ignore[misc]
    assert r.but(seed=3).seed == 3 and r.seed == 0
    with pytest.raises(ValidationError, match="seed"):
        r.but(seed="three")  # a wrong type fails where it is made, not in the report


def test_the_committed_schema_1_evidence_loads_and_renders():
    declared = {"conll2003": ("precision", "recall")}
    records = read_jsonl(COMMITTED, secondary=lambda task: declared.get(task, ()))
    assert len(records) == 144 and all(isinstance(r, RunRecord) for r in records)
    assert all(r.schema_version == SCHEMA_VERSION for r in records)
    tuned = [r for r in records if r.variant == "tuned"]
    # facts version 1 kept only inside ids are fields now
    assert tuned and all(r.tuning_key and r.run_id.endswith(f"-tuned{r.tuning_key}-s{r.seed}") for r in tuned)
    md = leaderboard(records, "glue_small", baseline="full_finetune")
    assert "## Summary" in md and "| linear_probe |" in md
    conll = md.split("## conll2003", 1)[1]
    header = next(line for line in conll.splitlines() if line.startswith("| strategy"))
    assert header.startswith("| strategy | f1 | precision | recall | Δ vs full_finetune")
    assert "| verdict (family-wide Holm p) |" in header
    # every record keeps its item statistics: the family is every pair of the 6 strategies on each of
    # the 4 tasks (15 pairs a task); the tables print 5 strategies against the baseline on 4 tasks and,
    # on the two tasks whose leader is not the baseline (imdb: multitask, conll2003: linear_probe), the
    # 5 others against the leader, each with its family-wide Holm p
    tables = md.split("## Across tasks", 1)[0]
    assert sum("(Holm p " in line for line in tables.splitlines()) == 20 + 2 * 5
    assert ("one family of **60 comparisons**: every pair of strategies on each task (15 on "
            "sst2[validation:300], 15 on imdb[test:150], 15 on conll2003[test:150], 15 on "
            "squad[dev-articles,report:80])") in md
    # and each task's matrix prints all 15 pairs, each way round, with its verdict
    lines = tables.splitlines()
    heads = [i for i, line in enumerate(lines) if line.startswith("| row − column |")]
    matrices = [line for i in heads for line in lines[i + 2:i + 8]]
    assert len(heads) == 4 and all(line.count(" – |") == 1 for line in matrices)
    assert sum(line.count(" tie") + line.count("**better**") + line.count("**worse**")
               for line in matrices) == 2 * 60
    assert "no paired data" not in md and "unpaired" not in md
    assert "P(row outperforms column)" in md and "Friedman test over 4 tasks and 6 strategies" in md


def test_schema_1_trial_numbers_come_out_of_the_id():
    old = {k: v for k, v in record().to_json().items() if k not in ("schema_version", "trial_number")}
    old.update(schema=1, variant="trial", run_id="abc-trial7-s0")
    assert load_record(old).trial_number == 7


def test_a_newer_schema_or_a_bad_line_is_an_error_naming_the_file_and_line(tmp_path):
    with pytest.raises(ValueError, match="newer than this tlbench"):
        load_record({**record().to_json(), "schema_version": SCHEMA_VERSION + 1})
    path = tmp_path / "runs.jsonl"
    path.write_text(json.dumps(record().to_json()) + "\n" + json.dumps({"run_id": "x"}) + "\n")
    with pytest.raises(TlbenchError, match=r"runs.jsonl:2: not a run record"):
        read_jsonl(path)


def test_reported_runs_are_tuned_where_tuned_else_defaults():
    default = [record(seed=s, score=0.5) for s in (1, 0)]
    tuned = [r.but(run_id=f"{r.run_id}-t", variant="tuned", tuning_key="k") for r in default]
    trial = record("lora").but(variant="trial", trial_number=0)
    chosen = reported(default + tuned + [trial])
    assert chosen[("full_finetune", "sst2")] == ("tuned", sorted(tuned, key=lambda r: r.seed))
    assert ("lora", "sst2") not in chosen  # a trial is never reported
    assert reported(default)[("full_finetune", "sst2")][0] == "default"


def test_current_keeps_tuned_runs_of_the_current_tuning_only():
    class Cell:
        id = "full_finetune-sst2"

        def tuning_key(self, tuning):
            return "new"

    old = record(seed=0).but(variant="tuned", tuning_key="old", run_id="a")
    new = record(seed=0).but(variant="tuned", tuning_key="new", run_id="b")
    other = record("lora")
    assert current([old, new, other, record()], [Cell()], tuning=object()) == [new, record()]
