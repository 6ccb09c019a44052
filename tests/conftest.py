"""Shared fixtures: the benchmark mirror, a private cache, and fakes registered for one test."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import postgres_url  # noqa: F401  (a fixture: a fresh PostgreSQL database per test)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# Under pytest-xdist (README's test command runs two workers), each worker's torch takes one thread:
# two workers on two cores, not four threads fighting for them. Set before anything imports torch;
# the subprocesses a test starts inherit it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

# Tests use the offline mirror beside the checkout (never copied into the project).
if "TLBENCH_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["TLBENCH_DATA_DIR"] = str(SHARED_DATA)


def pytest_configure(config: pytest.Config) -> None:
    """Hermetic tests, as llm's: ``get_plugins()`` registers the built-ins and no installed
    third-party plugin. A test that wants those builds ``Plugins()`` itself or runs ``tlbench`` in a
    subprocess (which does not inherit this flag)."""
    sys._called_from_test = True  # type: ignore[attr-defined]


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Feature and token caches of a test session never touch the user's ~/.cache/tlbench."""
    if "TLBENCH_CACHE_DIR" not in os.environ:
        os.environ["TLBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("tlbench-cache"))


@pytest.fixture(scope="session", autouse=True)
def _no_hub_lookups() -> Iterator[None]:
    """Tests never ask the Hugging Face Hub: a model id found nowhere locally (a placeholder such as
    ``m``) passes as one the Hub may have, in module- and class-scoped fixtures too.
    tests/unit/test_model_checks.py restores the lookup where it tests it."""
    import tlbench.model_checks

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tlbench.model_checks, "hub_problem", lambda model_id: None)
        yield


@pytest.fixture
def data_dir() -> Path:
    """The benchmark mirror. Without one the test is skipped, except when ``CI`` is set: CI must run
    the tests that read data, so there it fails (as tests/postgres.py does for PostgreSQL)."""
    from tests.postgres import _in_ci

    where = os.environ.get("TLBENCH_DATA_DIR")
    path = Path(where) if where else None
    if path is None or not path.is_dir():
        found = f"TLBENCH_DATA_DIR={where} is not a directory" if where else (
            f"TLBENCH_DATA_DIR is not set and {SHARED_DATA} does not exist")
        message = f"no benchmark mirror: {found}"
        if _in_ci():
            pytest.fail(f"{message} (CI is set: the tests that read data must run there)", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture
def plugins():
    """A fresh plugin manager for one test: the built-ins, no installed third-party plugin."""
    from tlbench.plugins import Plugins

    return Plugins(entry_points=False)


@pytest.fixture
def with_fakes(plugins):
    """``plugins`` with the fake strategy and task of tests/fakes.py, always unregistered after."""
    from tests import fakes

    with plugins.temporarily(fakes, name="tlbench-fakes"):
        yield plugins


@pytest.fixture
def installed_plugins(monkeypatch: pytest.MonkeyPatch):
    """The process-wide manager with the installed third-party plugins too (e.g. ``bitfit`` for a
    suite that names it), for CLI tests run in this process; restored after the test."""
    import tlbench.plugins
    from tlbench.plugins import Plugins

    installed = Plugins()
    monkeypatch.setattr(tlbench.plugins, "_default", installed)
    return installed
