"""Shared fixtures: the benchmark mirror, a private cache, and fakes registered for one test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.postgres import postgres_url  # noqa: F401  (a fixture: a fresh PostgreSQL database per test)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# Tests use the offline mirror beside the checkout (never copied into the project).
if "TLBENCH_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["TLBENCH_DATA_DIR"] = str(SHARED_DATA)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Feature and token caches of a test session never touch the user's ~/.cache/tlbench."""
    if "TLBENCH_CACHE_DIR" not in os.environ:
        os.environ["TLBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("tlbench-cache"))


@pytest.fixture
def data_dir() -> Path:
    path = Path(os.environ["TLBENCH_DATA_DIR"])
    if not path.is_dir():
        pytest.skip(f"benchmark mirror not found at {path}")
    return path


@pytest.fixture
def plugins():  # noqa: ANN201
    """A fresh plugin manager (entry points loaded) for one test."""
    from tlbench.plugins import Plugins

    return Plugins()


@pytest.fixture
def with_fakes(plugins):  # noqa: ANN001, ANN201
    """``plugins`` with the fake strategy and task of tests/fakes.py, always unregistered after."""
    from tests import fakes

    with plugins.temporarily(fakes, name="tlbench-fakes"):
        yield plugins
