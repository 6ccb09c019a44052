"""``python -m tests.fake_cli run suite.toml ...``: the tlbench CLI with the fakes of tests/fakes.py
registered, so tests can start real worker processes on suites of fake strategies."""

from __future__ import annotations

from tests import fakes
from tlbench.cli import app
from tlbench.plugins import get_plugins

if __name__ == "__main__":
    plugins = get_plugins()
    plugins.add(fakes, name="tlbench-fakes", distribution="tests")
    plugins.refresh()
    app()
