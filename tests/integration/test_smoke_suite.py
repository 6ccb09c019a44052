"""suites/smoke.toml end to end, as a user runs it: `tlbench run`, `tlbench status`, `tlbench report`,
with the real MiniLM and real data; the leaderboard file is checked for its sections."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tlbench(*args: str, cwd: Path) -> str:
    out = subprocess.run([sys.executable, "-m", "tlbench", *args], cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_smoke_suite_runs_and_reports(tmp_path: Path, data_dir: Path):
    suite = ROOT / "suites" / "smoke.toml"
    results = tmp_path / "results"
    where = ["--results", str(results), "--storage", f"sqlite:///{tmp_path}/smoke.db"]
    plan = tlbench("validate", "--plan", str(suite), cwd=tmp_path)
    plan = " ".join(plan.split())
    assert "3 cells × 2 seeds" in plan and "12 runs (default and tuned) and 6 trials" in plan
    tlbench("run", str(suite), *where, cwd=tmp_path)
    status = tlbench("status", str(suite), *where, cwd=tmp_path)
    assert "18 of 18 pieces of work done" in status
    tlbench("report", str(suite), *where, cwd=tmp_path)

    records = [json.loads(line) for line in (results / "runs.jsonl").read_text().splitlines()]
    assert len(records) == 12 and all(r["status"] == "ok" for r in records)
    assert {r["variant"] for r in records} == {"default", "tuned"}
    assert all({"strategy", "task", "model", "seed", "metrics", "cost", "provenance", "params",
                "schema_version", "trial_number", "tuning_key", "secondary_metrics"} <= set(r)
               for r in records)
    board = (results / "LEADERBOARD.md").read_text()
    for section in ("## Summary", "## sst2", "Δ vs full_finetune", "verdict (family-wide Holm p)",
                    "P(row outperforms column)", "Trivial baseline (no training: majority class",
                    "## Provenance", "![pareto_sst2](plots/pareto_sst2.png)"):
        assert section in board, section
    assert (results / "plots" / "pareto_sst2.png").stat().st_size > 10_000
    data = json.loads((results / "leaderboard.json").read_text())
    comparisons = data["tasks"]["sst2"]["comparisons"]
    assert set(comparisons) == {"linear_probe", "lora"}
    # 2 seeds a side: testable. The family is every pair of the three strategies whose two cells are
    # above sst2's trivial baseline (at 64 training rows some may not be); the other pairs are out of
    # it with no verdict. The comparisons with the baseline are views of those pairs
    assert data["tasks"]["sst2"]["trivial"]["method"].startswith("majority class")
    cells = data["tasks"]["sst2"]["strategies"]
    above = {name for name, x in cells.items() if x["above_trivial"] is not False}
    pairs = [c for row in data["tasks"]["sst2"]["pairwise"].values() for c in row.values()]
    in_family = [c for c in pairs if c["above_trivial"] is not False]
    assert len(pairs) == 3 and len(in_family) == len(above) * (len(above) - 1) // 2
    family = data["statistics"]["family"]
    assert family["size"] == len(in_family) and family["not_above_trivial"] == 3 - len(in_family)
    assert f"one family of **{len(in_family)} comparisons**" in board and "| row − column |" in board
    for name, c in comparisons.items():
        assert c["testable"]
        if {name, "full_finetune"} <= above:
            assert c["verdict"] in ("better", "worse", "tie") and c["p_holm"] >= c["p_value"], c
        else:
            assert c["verdict"] is None and "not above trivial: no verdict" in board
    assert set(data["tasks"]["sst2"]["p_outperform"]) == {"full_finetune", "linear_probe", "lora"}
