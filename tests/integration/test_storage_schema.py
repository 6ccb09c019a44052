"""Workers started together on a fresh PostgreSQL database must not both create Optuna's schema:
the loser failed with ``DuplicateTable: relation "alembic_version" already exists`` (seen in the
two-worker test). Opening a storage takes an advisory lock first, so the creations queue."""

from __future__ import annotations

import threading
import time

from sqlalchemy import create_engine, text

from tests.postgres import postgres_url  # noqa: F401  (a fixture: a fresh database per test)
from tlbench.storage import SCHEMA_LOCK, _with_driver, open_storage

WAITING = "select count(*) from pg_locks where locktype = 'advisory' and not granted"


def test_opening_a_storage_waits_for_the_schema_lock(postgres_url):  # noqa: F811
    engine = create_engine(_with_driver(postgres_url))
    opened: list = []
    with engine.connect() as con:
        con.execute(text("select pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK})  # another worker's
        worker = threading.Thread(target=lambda: opened.append(open_storage(postgres_url)), daemon=True)
        worker.start()
        deadline = time.monotonic() + 120
        while con.execute(text(WAITING)).scalar() == 0:  # the worker asks for the lock and waits
            assert time.monotonic() < deadline and worker.is_alive(), "open_storage took no schema lock"
            time.sleep(0.05)
        assert not opened
        con.execute(text("select pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK})
        con.commit()
    worker.join(timeout=120)
    assert len(opened) == 1 and opened[0].get_all_studies() == []
    opened[0].engine.dispose()
    engine.dispose()
