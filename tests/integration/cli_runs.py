"""Run a suite through the real CLI (`tlbench run`) in a scratch folder and read its records back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tlbench.cli import app
from tlbench.records import read_jsonl


def run_suite(tmp_path: Path, name: str, text: str, *, report: bool = False,
              by: str = "strategy") -> dict[str, dict[str, Any]]:
    """Write ``text`` as ``<name>.toml``, run it (and, asked, ``tlbench report``) from ``tmp_path``,
    return its records keyed by ``by`` (a record field: ``strategy`` or ``task``)."""
    suite = tmp_path / f"{name}.toml"
    suite.write_text(text)
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        for command in (["run"], ["report"])[:1 + report]:
            out = CliRunner().invoke(app, [*command, str(suite)], catch_exceptions=False)
            assert out.exit_code == 0, out.output
    finally:
        os.chdir(old)
    return {getattr(r, by): r for r in read_jsonl(tmp_path / "results" / name / "runs.jsonl")}
