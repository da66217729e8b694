"""Databases: one lazily opened connection per physical database, healed after failure."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import pytest

from chalicelib.shards.connections import Databases, UnknownDatabase


@pytest.fixture
def dsns(settings) -> dict[str, str]:
    return {name: str(dsn) for name, dsn in settings.databases.items()}


@pytest.fixture
def direct_dsns(settings) -> dict[str, str]:
    """Straight to PostgreSQL, not through PgBouncer: for tests about backend sessions."""
    server = os.environ["PHOTOFEED_POSTGRES_DIRECT"].rsplit("/", 1)[0]
    return {name: f"{server}/photofeed_{name}" for name in settings.databases}


@pytest.fixture
def direct(direct_dsns) -> Iterator[Databases]:
    made = Databases(direct_dsns)
    yield made
    made.close()


@pytest.fixture
def databases(dsns) -> Iterator[Databases]:
    made = Databases(dsns)
    yield made
    made.close()


def _scalar(conn: psycopg2.extensions.connection, sql: str) -> object:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def _execute(conn: psycopg2.extensions.connection, sql: str) -> None:
    with conn.cursor() as cursor:
        cursor.execute(sql)


def _backend_pid(databases: Databases, name: str) -> int:
    with databases.connection(name) as conn:
        pid = _scalar(conn, "SELECT pg_backend_pid()")
        conn.commit()
    return pid


def _admin(dsn: str, sql: str, *args: object) -> object:
    """Run one statement on a connection of its own, outside Databases."""
    conn = psycopg2.connect(dsn)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchone()[0]
    finally:
        conn.close()


def test_names_are_the_physical_databases_sorted(databases):
    assert databases.names == ["db0", "db1"]


def test_each_name_connects_to_its_own_physical_database(databases):
    for name in databases.names:
        with databases.connection(name) as conn:
            assert _scalar(conn, "SELECT current_database()") == f"photofeed_{name}"


def test_the_same_connection_serves_every_unit_of_work(direct):
    databases = direct
    with databases.connection("db0") as first:
        first_pid = _scalar(first, "SELECT pg_backend_pid()")
    with databases.connection("db0") as second:
        second_pid = _scalar(second, "SELECT pg_backend_pid()")

    assert second is first
    assert second_pid == first_pid


def test_each_physical_database_has_a_connection_of_its_own(databases):
    with databases.connection("db0") as db0, databases.connection("db1") as db1:
        assert db0 is not db1


def test_no_connection_is_opened_before_first_use():
    # GIVEN a DSN nothing listens on
    broken = Databases({"db0": "postgresql://nobody@127.0.0.1:1/none"})

    # THEN building Databases and asking their names does not connect
    assert broken.names == ["db0"]
    # AND the first unit of work does
    with pytest.raises(psycopg2.OperationalError), broken.connection("db0"):
        pass
    broken.close()


def test_an_unknown_database_name_raises_unknown_database(databases):
    with pytest.raises(UnknownDatabase), databases.connection("db9"):
        pass


def test_unknown_database_is_a_key_error():
    assert issubclass(UnknownDatabase, KeyError)


def test_a_connection_dropped_while_idle_is_replaced_before_its_next_use(direct, direct_dsns):
    databases, dsns = direct, direct_dsns
    # GIVEN a connection whose server process is terminated while it is idle
    with databases.connection("db0") as before:
        pid = _scalar(before, "SELECT pg_backend_pid()")
    assert _admin(dsns["db0"], "SELECT pg_terminate_backend(%s, 5000)", pid) is True

    # WHEN it is next used THEN the work runs, on a new connection (the server's goodbye
    # was waiting on the idle one: no round trip told it)
    with databases.connection("db0") as after:
        assert _scalar(after, "SELECT 1") == 1
        new_pid = _scalar(after, "SELECT pg_backend_pid()")
    assert after is not before
    assert before.closed
    assert new_pid != pid


def test_a_backend_killed_mid_work_fails_that_work_and_the_next_reconnects(direct, direct_dsns):
    databases, dsns = direct, direct_dsns
    # GIVEN a unit of work whose server process is terminated half-way
    with databases.connection("db0") as broken:
        pid = _scalar(broken, "SELECT pg_backend_pid()")
        assert _admin(dsns["db0"], "SELECT pg_terminate_backend(%s, 5000)", pid) is True
        # THEN its next statement fails with a connection error
        with pytest.raises((psycopg2.OperationalError, psycopg2.InterfaceError)):
            _scalar(broken, "SELECT 1")
    assert broken.closed

    # AND the unit of work after it runs on a new connection
    with databases.connection("db0") as after:
        assert _scalar(after, "SELECT 1") == 1
        new_pid = _scalar(after, "SELECT pg_backend_pid()")
    assert after is not broken
    assert new_pid != pid


def test_every_session_has_the_servers_statement_timeout(databases, settings):
    # Set by the server (RDS Proxy's InitQuery in AWS), never by a SET of ours.
    for name in databases.names:
        with databases.connection(name) as conn:
            assert (
                _scalar(conn, "SHOW statement_timeout")
                == f"{settings.statement_timeout_ms // 1000}s"
            )


def test_a_statement_over_its_timeout_is_cancelled(dsns):
    databases = Databases(dsns)
    try:
        with databases.connection("db0") as conn:
            _execute(conn, "SET LOCAL statement_timeout = 200")  # the test's own shortcut
            with pytest.raises(psycopg2.errors.QueryCanceled):
                _scalar(conn, "SELECT pg_sleep(2)")
        # AND the database is usable for the next unit of work
        with databases.connection("db0") as conn:
            assert _scalar(conn, "SELECT 1") == 1
    finally:
        databases.close()


def test_a_cancelled_statement_keeps_the_healthy_connection(dsns):
    databases = Databases(dsns)
    try:
        with databases.connection("db0") as slow:
            _execute(slow, "SET LOCAL statement_timeout = 200")
            with pytest.raises(psycopg2.errors.QueryCanceled):
                _scalar(slow, "SELECT pg_sleep(2)")
        with databases.connection("db0") as conn:
            assert conn is slow
    finally:
        databases.close()


def test_a_transaction_left_open_is_rolled_back_so_the_connection_is_idle_on_next_use(
    direct, direct_dsns
):
    databases, dsns = direct, direct_dsns
    # GIVEN a unit of work that reads without committing
    with databases.connection("db0") as conn:
        pid = _scalar(conn, "SELECT pg_backend_pid()")
        assert conn.status == psycopg2.extensions.STATUS_BEGIN

    # THEN the server sees the session idle, not idle in transaction
    state = _admin(dsns["db0"], "SELECT state FROM pg_stat_activity WHERE pid = %s", pid)
    assert state == "idle"
    # AND the next unit of work starts on a ready connection
    with databases.connection("db0") as conn:
        assert conn.status == psycopg2.extensions.STATUS_READY


def test_an_uncommitted_write_does_not_leak_into_the_next_unit_of_work(databases):
    with databases.connection("db0") as conn:
        _scalar(conn, "CREATE TEMP TABLE leftover AS SELECT 1 AS x; SELECT count(*) FROM leftover")

    with databases.connection("db0") as conn:
        assert _scalar(conn, "SELECT to_regclass('pg_temp.leftover') IS NULL") is True


def test_a_failed_statement_leaves_the_same_connection_usable(databases):
    # GIVEN a unit of work whose statement fails (an aborted transaction)
    with pytest.raises(psycopg2.errors.DivisionByZero), databases.connection("db0") as failed:
        _scalar(failed, "SELECT 1 / 0")

    # THEN the next unit of work reuses the connection, ready, not aborted
    with databases.connection("db0") as conn:
        assert conn is failed
        assert _scalar(conn, "SELECT 1") == 1


def test_an_error_of_the_caller_rolls_back_and_keeps_the_connection(databases):
    used: list[psycopg2.extensions.connection] = []

    def unit_of_work_that_raises() -> None:
        with databases.connection("db0") as conn:
            used.append(conn)
            _scalar(conn, "SELECT 1")
            raise ValueError("caller")

    with pytest.raises(ValueError, match="caller"):
        unit_of_work_that_raises()

    with databases.connection("db0") as conn:
        assert conn is used[0]
        assert conn.status == psycopg2.extensions.STATUS_READY


def test_close_closes_every_open_connection(dsns):
    databases = Databases(dsns)
    opened = []
    for name in databases.names:
        with databases.connection(name) as conn:
            opened.append(conn)

    databases.close()

    assert all(conn.closed for conn in opened)
