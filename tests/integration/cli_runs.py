"""Run a suite through the real CLI (`tlbench run`) in a scratch folder and read its records back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tlbench.cli import app
from tlbench.store import read_jsonl


def run_suite(tmp_path: Path, name: str, text: str) -> dict[str, dict[str, Any]]:
    """Write ``text`` as ``<name>.toml``, run it from ``tmp_path``, return its records by strategy."""
    suite = tmp_path / f"{name}.toml"
    suite.write_text(text)
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        out = CliRunner().invoke(app, ["run", str(suite)], catch_exceptions=False)
    finally:
        os.chdir(old)
    assert out.exit_code == 0, out.output
    return {r["strategy"]: r for r in read_jsonl(tmp_path / "results" / name / "runs.jsonl")}
