"""Opening the Optuna storage a suite's runs live in: SQLite (the default) or PostgreSQL.

SQLite (one file under ``results/<suite>/``) gets ``BEGIN IMMEDIATE`` transactions: its default
deferred transactions let two processes both read a trial as waiting and both take it. PostgreSQL
(``--storage postgresql://...``) locks the row (``SELECT ... FOR UPDATE``). Storage URLs are shown
with :func:`safe_url` (no password). Heartbeats (``RetryHeartbeatStaleTrialCallback``) hand a dead
worker's trial to another.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def worker_id() -> str:
    """Who runs a trial (kept on the trial, shown by ``tlbench status``)."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def default_storage(results_dir: Path) -> str:
    return f"sqlite:///{(results_dir / 'tlbench.db').as_posix()}"


def safe_url(url: str) -> str:
    """The URL without its password, for anything a person or a file sees."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1] if "@" in url else url


def open_storage(url: str, heartbeat_seconds: int | None = None, max_retries: int = 2) -> Any:
    """An Optuna ``RDBStorage`` with heartbeats (a dead worker's trial is retried after 2 beats)."""
    import warnings

    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # tlbench prints each outcome itself
    # heartbeats are "experimental" in Optuna since 2.9; they are what makes a dead worker's trial
    # come back, and tests cover that here
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    sqlite = url.startswith("sqlite:///")
    if sqlite:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    if heartbeat_seconds:
        kwargs = {"heartbeat_interval": heartbeat_seconds, "grace_period": 2 * heartbeat_seconds,
                  "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry=max_retries)}
    engine_kwargs = {"connect_args": {"timeout": 120}} if sqlite else {"pool_pre_ping": True}
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(10):
        try:
            with _schema_lock(url):
                storage = RDBStorage(_with_driver(url), engine_kwargs=engine_kwargs, **kwargs)
            break
        except (IntegrityError, OperationalError):
            # two workers started together both create the schema: the loser finds it made
            if attempt == 9:
                raise
            time.sleep(0.2 * (attempt + 1))
    if sqlite:
        _immediate_transactions(storage.engine)
    return storage


#: the PostgreSQL advisory lock key under which Optuna's schema is created ("tlbench" in ASCII)
SCHEMA_LOCK = 0x746C62656E6368


@contextmanager
def _schema_lock(url: str) -> Iterator[None]:
    """On PostgreSQL, hold a session advisory lock while Optuna creates or checks its schema.
    Two workers started on a fresh database otherwise both create the tables, and the loser fails
    with ``DuplicateTable: relation "alembic_version" already exists`` (seen in the two-worker
    test): Optuna creates them outside a transaction that would serialise it. SQLite serialises
    writers itself, and the retry above covers it."""
    if not url.startswith(("postgresql://", "postgres://", "postgresql+")):
        yield
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(_with_driver(url))
    try:
        with engine.connect() as con:
            con.execute(text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK})
            try:
                yield
            finally:
                con.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK})
    finally:
        engine.dispose()


def _with_driver(url: str) -> str:
    """``postgresql://`` with the driver that is installed: SQLAlchemy 2.0 assumes psycopg2 and 2.1
    psycopg (3); either works, so a user's URL should not depend on which SQLAlchemy they have."""
    if not url.startswith(("postgresql://", "postgres://")):
        return url
    import importlib.util

    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module):
            return f"postgresql+{driver}://" + url.split("://", 1)[1]
    return url


def _immediate_transactions(engine: Any) -> None:
    """SQLAlchemy's recipe for serializable SQLite transactions (pysqlite otherwise starts them lazily)."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the listeners would keep the old behaviour
