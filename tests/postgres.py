"""``postgres_url``: a fresh, empty database on a real PostgreSQL server for one test.

The server is the one ``TLBENCH_TEST_POSTGRES`` names (default: what ``bash .ci/postgres.sh`` starts);
its role needs the CREATEDB right. Without a reachable server the test is skipped, except when ``CI`` is
set: CI must really test PostgreSQL, so there it fails. Messages never show the password.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

DEFAULT_URL = "postgresql://tlbench:tlbench@127.0.0.1:5432/tlbench"
CONNECT_TIMEOUT_S = 2
DROP_ATTEMPTS = 3  # a plain DROP waits up to 5 s for other sessions to leave, each attempt


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(message: str) -> NoReturn:
    if _in_ci():
        pytest.fail(f"{message} (CI is set: the PostgreSQL tests must run there)", pytrace=False)
    pytest.skip(message)


def _connect(url: URL, psycopg: ModuleType) -> Any:
    """An autocommit connection (CREATE/DROP DATABASE refuse to run in a transaction)."""
    return psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                           dbname=url.database, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True,
                           **dict(url.query))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a database ``tlbench_test_<8 hex>`` created for this test, dropped after.

    The URL has the password; a bare ``postgresql://`` is what users write, and SQLAlchemy 2.1 reads
    it as psycopg (3), the driver of the ``postgres`` extra.
    """
    from sqlalchemy.engine import make_url

    url = make_url(os.environ.get("TLBENCH_TEST_POSTGRES") or DEFAULT_URL)
    shown = url.render_as_string(hide_password=True)
    hint = "run `bash .ci/postgres.sh` to start one"
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        _unavailable(f"psycopg is not installed (pip install -e '.[test]'); no PostgreSQL tests at {shown}")
    try:
        conn = _connect(url, psycopg)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _unavailable(f"no PostgreSQL server at {shown} ({reason}); {hint}")

    name = f"tlbench_test_{uuid.uuid4().hex[:8]}"
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()
    test_url = url.set(database=name)
    try:
        yield test_url.render_as_string(hide_password=False)
    finally:
        conn = _connect(url, psycopg)
        try:
            _drop_database(conn, name, psycopg, sql)
        finally:
            conn.close()


def _drop_database(conn: Any, name: str, psycopg: ModuleType, sql: Any) -> None:
    """Drop the test database, ending the test's leftover connections first.

    ``WITH (FORCE)`` (PostgreSQL 13+) also terminates backends of other roles that happen to be there
    (CI saw one: "must be a member of the role whose process is being terminated"), which a CREATEDB
    role may not do; then only our own role's connections are ended and a plain DROP is retried
    (PostgreSQL cancels autovacuum workers on a plain DROP by itself).
    """
    drop = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
    if conn.info.server_version >= 130000:
        try:
            with conn.cursor() as cur:
                cur.execute(drop + sql.SQL(" WITH (FORCE)"))
            return
        except psycopg.errors.InsufficientPrivilege:
            pass
    for attempt in range(DROP_ATTEMPTS):
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid() AND usename = current_user",
                (name,),
            )
            try:
                cur.execute(drop)
                return
            except psycopg.errors.ObjectInUse:
                if attempt == DROP_ATTEMPTS - 1:
                    raise
