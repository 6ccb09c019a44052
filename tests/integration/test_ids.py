"""The engine's options added after records existed keep the stored records' ids: the committed
glue_small records still match the cells of suites/glue_small.toml (their default runs)."""

from __future__ import annotations

from pathlib import Path

from tlbench.config import load_suite
from tlbench.engine.options import EngineOptions
from tlbench.grid import build_grid
from tlbench.records import read_jsonl

ROOT = Path(__file__).resolve().parents[2]


def test_engine_options_added_later_stay_out_of_ids_at_their_defaults():
    engine = EngineOptions().identity()
    assert not {"max_steps", "min_evals", "checkpoint"} & set(engine) and "epochs" in engine
    assert EngineOptions(max_steps=10).identity()["max_steps"] == 10


def test_the_committed_default_runs_still_belong_to_the_suites_cells(installed_plugins):
    suite = load_suite(ROOT / "suites" / "glue_small.toml", installed_plugins, check_data=False)
    cells = {c.id for c in build_grid(suite, installed_plugins)}
    stored = {r.cell_id for r in read_jsonl(ROOT / "results" / "glue_small" / "runs.jsonl")
              if r.variant == "default"}
    assert stored and stored <= cells
