"""Migrations: sql/ loads in order, a shard is brought up to date in one transaction,
re-runs change nothing, crashes leave no half-applied version, racing migrators agree,
and the shard map is created once and checked against the settings."""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import pytest
from psycopg2 import sql

from chalicelib.shards.connections import Databases
from chalicelib.shards.ids import decode
from chalicelib.shards.migrations import (
    SQL_DIR,
    Migration,
    MigrationError,
    MigrationReport,
    applied_version,
    ensure_shard_map,
    load_migrations,
    migrate,
    migrate_shard,
)
from chalicelib.shards.schema import MIGRATIONS_TABLE, schema, schema_name, table
from chalicelib.shards.shard_map import Move, ShardMap, ShardMapStore
from tests.shards.conftest import add_user

# High logical shards of this module's own (the stack's are 0..63; tests/shards/conftest.py
# hands out 7000 upwards in blocks of 10), each created and dropped by one test.
_next_shard = itertools.count(7500)
SHARD_TABLES = {
    "users",
    "credentials",
    "media",
    "follows",
    "followers",
    "follow_requests",
    "blocks",
    "likes",
    "comments",
    MIGRATIONS_TABLE,
}
FIRST = Migration(version=1, name="first", text="CREATE TABLE {schema}.first (id int);")
BROKEN = Migration(
    version=2, name="broken", text="CREATE TABLE {schema}.half (id int); SELECT 1/0;"
)
FIXED = Migration(version=2, name="fixed", text="CREATE TABLE {schema}.whole (id int);")
# How long the first of two racing migrators holds its transaction open mid-way.
RACE_PAUSE_SECONDS = 0.5


# --- fixtures and helpers ---------------------------------------------------------------


@pytest.fixture
def shard(clients) -> Iterator[int]:
    """A logical shard that has no schema on either database; dropped afterwards."""
    number = next(_next_shard)
    assert not any(_has_schema(clients.databases, name, number) for name in ("db0", "db1"))
    yield number
    for name in clients.databases.names:
        with clients.databases.connection(name) as conn, conn, conn.cursor() as cursor:
            cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema(number)))


@pytest.fixture
def map_store(settings, map_table_name) -> ShardMapStore:
    """A shard-map store on a private, empty DynamoDB table."""
    return ShardMapStore(map_table_name, settings.region, settings.endpoint_url)


@pytest.fixture
def scratch_databases() -> Iterator[Databases]:
    """Two empty physical databases of their own (straight to PostgreSQL), so migrate()
    can run over a whole small map without touching the stack's logical shards."""
    server = os.environ["PHOTOFEED_POSTGRES_DIRECT"].rsplit("/", 1)[0]
    prefix = f"photofeed_scratch_{uuid.uuid4().hex[:8]}"
    names = {"db0": f"{prefix}_0", "db1": f"{prefix}_1"}
    for database in names.values():
        _admin(f"{server}/postgres", sql.SQL("CREATE DATABASE {}"), database)
    made = Databases({name: f"{server}/{database}" for name, database in names.items()})
    yield made
    made.close()
    for database in names.values():
        _admin(f"{server}/postgres", sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)"), database)


def _admin(dsn: str, statement: sql.SQL, database: str) -> None:
    conn = psycopg2.connect(dsn)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(statement.format(sql.Identifier(database)))
    finally:
        conn.close()


def _has_schema(databases: Databases, name: str, shard: int) -> bool:
    with databases.connection(name) as conn, conn, conn.cursor() as cursor:
        cursor.execute("SELECT to_regnamespace(%s)", [schema_name(shard)])
        return cursor.fetchone()[0] is not None


def _version(databases: Databases, name: str, shard: int) -> int:
    with databases.connection(name) as conn, conn:
        return applied_version(conn, shard)


def _tables(databases: Databases, name: str, shard: int) -> set[str]:
    with databases.connection(name) as conn, conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind = 'r'",
            [schema_name(shard)],
        )
        return {relname for (relname,) in cursor.fetchall()}


def _snapshot(databases: Databases, name: str, shard: int) -> tuple[list, list]:
    """Every object of the shard's schema, and its migration records (with their times)."""
    with databases.connection(name) as conn, conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relkind, c.oid::bigint FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s ORDER BY 1",
            [schema_name(shard)],
        )
        objects = cursor.fetchall()
        cursor.execute(
            sql.SQL("SELECT version, name, applied_at FROM {} ORDER BY version").format(
                table(shard, MIGRATIONS_TABLE)
            )
        )
        return objects, cursor.fetchall()


def _migration_rows(databases: Databases, name: str, shard: int) -> list[tuple[int, str]]:
    with databases.connection(name) as conn, conn, conn.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT version, name FROM {} ORDER BY version").format(
                table(shard, MIGRATIONS_TABLE)
            )
        )
        return cursor.fetchall()


def _migrate(databases: Databases, shard: int, migrations: list[Migration]) -> list[int]:
    with databases.connection("db0") as conn:
        return migrate_shard(conn, shard, migrations)


def _write_sql(directory, *names: str) -> None:
    for name in names:
        (directory / name).write_text("CREATE TABLE {schema}.t (id int);\n")


# --- load_migrations --------------------------------------------------------------------


def test_the_real_sql_directory_loads_in_version_order():
    migrations = load_migrations()

    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert len(migrations) == len(list(SQL_DIR.glob("*.sql"))) >= 2
    assert [m.name for m in migrations[:2]] == ["ids", "core"]
    assert all("{schema}" in m.text for m in migrations)


def test_migrations_load_in_version_order_whatever_the_directory_listing(tmp_path):
    _write_sql(tmp_path, "0003_c.sql", "0001_a.sql", "0002_b.sql")

    migrations = load_migrations(tmp_path)

    assert [(m.version, m.name) for m in migrations] == [(1, "a"), (2, "b"), (3, "c")]


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(("0001_a.sql", "0003_c.sql"), id="gap"),
        pytest.param(("0002_b.sql",), id="not-starting-at-1"),
        pytest.param(("0001_a.sql", "0001_again.sql"), id="duplicate-version"),
    ],
)
def test_versions_that_do_not_run_1_2_3_are_refused(tmp_path, names):
    _write_sql(tmp_path, *names)

    with pytest.raises(MigrationError, match="must run 1, 2, 3"):
        load_migrations(tmp_path)


@pytest.mark.parametrize("bad", ["1_a.sql", "0001-a.sql", "0001_Upper.sql", "0001_.sql"])
def test_a_badly_named_migration_file_is_refused(tmp_path, bad):
    _write_sql(tmp_path, "0001_a.sql", bad)

    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        load_migrations(tmp_path)


# --- migrate_shard ----------------------------------------------------------------------


def test_a_fresh_shard_gets_every_version_and_every_table(clients, shard):
    migrations = load_migrations()

    applied = _migrate(clients.databases, shard, migrations)

    assert applied == [m.version for m in migrations]
    assert _version(clients.databases, "db0", shard) == migrations[-1].version
    assert _migration_rows(clients.databases, "db0", shard) == [
        (m.version, m.name) for m in migrations
    ]
    assert _tables(clients.databases, "db0", shard) >= SHARD_TABLES
    assert not _has_schema(clients.databases, "db1", shard)


def test_a_migrated_shard_makes_ids_that_name_it(clients, shard):
    _migrate(clients.databases, shard, load_migrations())

    with clients.databases.connection("db0") as conn, conn:
        user_id = add_user(conn, schema(shard), "migrated")

    decoded = decode(user_id)
    assert decoded.shard == shard
    assert abs(decoded.unix_ms - time.time() * 1000) < 60_000


def test_migrating_an_up_to_date_shard_applies_nothing_and_changes_nothing(clients, shard):
    migrations = load_migrations()
    _migrate(clients.databases, shard, migrations)
    before = _snapshot(clients.databases, "db0", shard)

    applied = _migrate(clients.databases, shard, migrations)

    assert applied == []
    assert _snapshot(clients.databases, "db0", shard) == before


def test_a_shard_without_a_schema_is_at_version_0(clients, shard):
    assert _version(clients.databases, "db0", shard) == 0


def test_a_migration_failing_half_way_leaves_the_shard_at_the_version_before(clients, shard):
    # GIVEN a shard at version 1
    assert _migrate(clients.databases, shard, [FIRST]) == [1]

    # WHEN version 2 fails after its first statement
    with pytest.raises(psycopg2.errors.DivisionByZero):
        _migrate(clients.databases, shard, [FIRST, BROKEN])

    # THEN nothing of version 2 is left, and a fixed version 2 applies cleanly
    assert _version(clients.databases, "db0", shard) == 1
    assert _tables(clients.databases, "db0", shard) == {"first", MIGRATIONS_TABLE}
    assert _migrate(clients.databases, shard, [FIRST, FIXED]) == [2]
    assert _migration_rows(clients.databases, "db0", shard) == [(1, "first"), (2, "fixed")]
    assert _tables(clients.databases, "db0", shard) == {"first", "whole", MIGRATIONS_TABLE}


def test_a_first_run_that_fails_leaves_no_schema_behind(clients, shard):
    with pytest.raises(psycopg2.errors.DivisionByZero):
        _migrate(clients.databases, shard, [FIRST, BROKEN])

    assert not _has_schema(clients.databases, "db0", shard)
    assert _version(clients.databases, "db0", shard) == 0


def test_the_connection_is_usable_after_a_failed_migration(clients, shard):
    with pytest.raises(psycopg2.errors.DivisionByZero):
        _migrate(clients.databases, shard, [FIRST, BROKEN])

    with clients.databases.connection("db0") as conn:
        assert conn.status == psycopg2.extensions.STATUS_READY
        assert migrate_shard(conn, shard, [FIRST]) == [1]


# --- two migrators at once --------------------------------------------------------------


def _pausing_connection(dsn: str, locked: threading.Event) -> psycopg2.extensions.connection:
    """A connection that, once its migrator holds the migrations lock, keeps the
    transaction open for a moment: the widest window a racing migrator can arrive in."""

    class PausingCursor(psycopg2.extensions.cursor):
        def execute(self, query, vars=None):
            super().execute(query, vars)
            text = query.as_string(self.connection) if isinstance(query, sql.Composable) else query
            if text.startswith("LOCK TABLE"):
                locked.set()
                time.sleep(RACE_PAUSE_SECONDS)

    return psycopg2.connect(dsn, cursor_factory=PausingCursor)


def _race(dsn: str, shard: int, migrations: list[Migration]) -> list[list[int] | Exception]:
    """Two migrators on `shard`: the second starts while the first is mid-transaction."""
    outcomes: list[list[int] | Exception] = []
    locked = threading.Event()

    def migrator(connect: Callable[[], psycopg2.extensions.connection]) -> None:
        conn = connect()
        try:
            outcomes.append(migrate_shard(conn, shard, migrations))
        except psycopg2.Error as exc:
            outcomes.append(exc)
        finally:
            conn.close()

    first = threading.Thread(target=migrator, args=(lambda: _pausing_connection(dsn, locked),))
    second = threading.Thread(target=migrator, args=(lambda: psycopg2.connect(dsn),))
    first.start()
    assert locked.wait(timeout=10), "the first migrator never took the lock"
    second.start()
    first.join(timeout=30)
    second.join(timeout=30)
    return outcomes


def test_two_migrators_racing_on_a_fresh_shard_both_succeed(clients, settings, shard):
    migrations = load_migrations()

    outcomes = _race(str(settings.databases["db0"]), shard, migrations)

    assert [o for o in outcomes if isinstance(o, Exception)] == []
    assert sorted(outcomes) == [[], [m.version for m in migrations]]
    assert _migration_rows(clients.databases, "db0", shard) == [
        (m.version, m.name) for m in migrations
    ]


def test_two_migrators_racing_on_an_existing_shard_apply_each_version_once(
    clients, settings, shard
):
    # GIVEN a shard whose schema exists at version 1
    migrations = load_migrations()
    _migrate(clients.databases, shard, migrations[:1])

    # WHEN two migrators bring it up to date at once
    outcomes = _race(str(settings.databases["db0"]), shard, migrations)

    # THEN one applies the rest, the other finds nothing pending
    assert [o for o in outcomes if isinstance(o, Exception)] == []
    assert sorted(outcomes) == [[], [m.version for m in migrations[1:]]]
    assert _migration_rows(clients.databases, "db0", shard) == [
        (m.version, m.name) for m in migrations
    ]


# --- migrate ----------------------------------------------------------------------------


def test_migrating_the_stacks_up_to_date_map_applies_nothing(clients, settings):
    migrations = load_migrations()
    progress: list[int] = []

    report = migrate(
        clients.databases, clients.shard_map_store, migrations, progress=progress.append
    )

    assert report == MigrationReport(
        shards=settings.logical_shards, applied=0, version=migrations[-1].version, skipped=[]
    )
    assert progress == [1] * settings.logical_shards


@pytest.fixture
def small_map(map_store) -> ShardMap:
    """A stored map of 4 shards over the two scratch databases."""
    shard_map = ShardMap.spread(4, ["db0", "db1"])
    map_store.create(shard_map)
    return shard_map


def test_migrate_brings_every_shard_up_to_date_on_its_home_only(
    scratch_databases, map_store, small_map
):
    # GIVEN a small map over two empty databases
    migrations = load_migrations()
    shard_map = small_map
    progress: list[int] = []

    # WHEN it is migrated
    report = migrate(scratch_databases, map_store, migrations, progress=progress.append)

    # THEN every shard is at the newest version on its home, and nowhere else
    newest = migrations[-1].version
    assert report == MigrationReport(
        shards=4, applied=4 * len(migrations), version=newest, skipped=[]
    )
    assert progress == [1, 1, 1, 1]
    for number, home in enumerate(shard_map.homes):
        other = "db1" if home == "db0" else "db0"
        assert _version(scratch_databases, home, number) == newest
        assert not _has_schema(scratch_databases, other, number)


def test_migrate_run_again_applies_nothing(scratch_databases, map_store, small_map):
    migrations = load_migrations()
    migrate(scratch_databases, map_store, migrations)

    report = migrate(scratch_databases, map_store, migrations)

    assert report == MigrationReport(
        shards=4, applied=0, version=migrations[-1].version, skipped=[]
    )


def test_migrate_skips_a_moving_shard_and_sets_the_statement_timeout(
    scratch_databases, map_store, small_map
):
    # GIVEN shard 1 is being moved
    map_store.replace(small_map, small_map.with_move(1, Move("db1", "read_only")))

    # WHEN the map is migrated
    report = migrate(scratch_databases, map_store, load_migrations(), statement_timeout_ms=4000)

    # THEN shard 1 is left to its move, and each database got the default timeout
    assert report.skipped == [1]
    assert not _has_schema(scratch_databases, "db0", 1)
    for name in ("db0", "db1"):
        with scratch_databases.connection(name) as conn, conn, conn.cursor() as cursor:
            cursor.execute(
                "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d"
                " ON d.oid = s.setdatabase WHERE d.datname = current_database()"
            )
            assert ["statement_timeout=4000"] in [row[0] for row in cursor.fetchall()]


def test_migrate_finishes_a_run_that_stopped_part_way(scratch_databases, map_store, small_map):
    # GIVEN a run that brought only shard 0 up to date
    migrations = load_migrations()
    shard_map = small_map
    with scratch_databases.connection("db0") as conn:
        migrate_shard(conn, 0, migrations)

    # WHEN migrate runs over the whole map
    report = migrate(scratch_databases, map_store, migrations)

    # THEN it applies only what the other shards lacked
    assert report.applied == 3 * len(migrations)
    assert all(
        _version(scratch_databases, home, n) == migrations[-1].version
        for n, home in enumerate(shard_map.homes)
    )


# --- ensure_shard_map -------------------------------------------------------------------


def test_a_first_run_creates_a_map_spreading_the_shards_over_the_databases(map_store):
    created = ensure_shard_map(map_store, 16, ["db1", "db0"])

    assert created == ShardMap.spread(16, ["db0", "db1"])
    assert map_store.load() == created


def test_a_later_run_returns_the_stored_map(map_store):
    first = ensure_shard_map(map_store, 16, ["db0", "db1"])
    moved = map_store.replace(first, first.with_home(3, "db1"))

    again = ensure_shard_map(map_store, 16, ["db0", "db1"])

    assert again == moved
    assert again.version == 2


def test_a_map_with_another_number_of_logical_shards_is_refused(map_store):
    ensure_shard_map(map_store, 16, ["db0", "db1"])

    with pytest.raises(MigrationError, match="16 logical shards"):
        ensure_shard_map(map_store, 32, ["db0", "db1"])


def test_a_map_naming_a_database_the_settings_lack_is_refused(map_store):
    map_store.create(ShardMap(version=1, homes=("db0", "db0", "db9", "db9")))

    with pytest.raises(MigrationError, match="db9"):
        ensure_shard_map(map_store, 4, ["db0", "db1"])


def test_a_folder_without_migrations_is_refused(tmp_path):
    # A package built without sql/ must not migrate nothing and call it done.
    with pytest.raises(MigrationError, match="no migrations"):
        load_migrations(tmp_path)
