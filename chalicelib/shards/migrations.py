"""Versioned SQL (sql/NNNN_*.sql) applied to every logical shard's schema.

Each schema records the versions it has (`schema_migrations`). A shard's pending
versions are applied in one transaction together with their records, so a crash
leaves a shard either before or after them: running again finishes the job, and
running when nothing is pending changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from psycopg2 import errors, sql
from psycopg2.extensions import connection as Connection

from chalicelib.shards.connections import Databases
from chalicelib.shards.schema import MIGRATIONS_TABLE, schema, schema_name, table
from chalicelib.shards.shard_map import (
    ShardMap,
    ShardMapConflict,
    ShardMapMissing,
    ShardMapStore,
)

SQL_DIR = Path(__file__).resolve().parent.parent.parent / "sql"
_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """Raised when sql/ is inconsistent or the shard map disagrees with the settings."""


@dataclass(frozen=True)
class Migration:
    """One file of sql/."""

    version: int
    name: str
    text: str

    def for_shard(self, shard: int) -> sql.Composed:
        """The migration's statements for one shard's schema."""
        name = schema_name(shard)
        return sql.SQL(self.text).format(
            schema=schema(shard),
            shard=sql.Literal(shard),
            id_seq=sql.Literal(f"{name}.id_seq"),
            gate_seq=sql.Literal(f"{name}.id_gate"),
        )


def load_migrations(directory: Path = SQL_DIR) -> list[Migration]:
    """Every migration in version order; versions run 1, 2, 3... without gaps."""
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migrations are named NNNN_name.sql")
        migrations.append(Migration(int(match["version"]), match["name"], path.read_text()))
    if not migrations:
        # A package built without sql/ would migrate nothing and say it succeeded.
        raise MigrationError(f"no migrations in {directory}")
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"migration versions must run 1, 2, 3...: {versions}")
    return migrations


def applied_version(conn: Connection, shard: int) -> int:
    """The newest version the shard's schema has (0 for none, or no schema)."""
    with conn.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"{schema_name(shard)}.{MIGRATIONS_TABLE}"])
        if cursor.fetchone()[0] is None:
            return 0
        cursor.execute(
            sql.SQL("SELECT coalesce(max(version), 0) FROM {}").format(
                table(shard, MIGRATIONS_TABLE)
            )
        )
        return int(cursor.fetchone()[0])


# What a migrator meets when another one created the same schema a moment before it.
_CREATED_MEANWHILE = (errors.UniqueViolation, errors.DuplicateSchema, errors.DuplicateTable)


def shard_tables(conn: Connection, shard: int) -> list[str]:
    """The shard's tables, oldest first (so referenced tables come before referring ones),
    without its record of migrations."""
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname <> %s ORDER BY c.oid",
            [schema_name(shard), MIGRATIONS_TABLE],
        )
        return [name for (name,) in cursor.fetchall()]


def migrate_shard(conn: Connection, shard: int, migrations: list[Migration]) -> list[int]:
    """Apply the shard's pending migrations in one transaction; the versions applied."""
    try:
        return _migrate_shard(conn, shard, migrations)
    except _CREATED_MEANWHILE:
        # Both saw no schema; the other committed it first. Now the lock takes turns.
        return _migrate_shard(conn, shard, migrations)


def _migrate_shard(conn: Connection, shard: int, migrations: list[Migration]) -> list[int]:
    versions_table = table(shard, MIGRATIONS_TABLE)
    with conn, conn.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema(shard)))
        cursor.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(versions_table)
        )
        # Two migrators on one shard take turns; the second finds nothing pending.
        cursor.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(versions_table))
        cursor.execute(sql.SQL("SELECT coalesce(max(version), 0) FROM {}").format(versions_table))
        current = int(cursor.fetchone()[0])
        pending = [m for m in migrations if m.version > current]
        for migration in pending:
            cursor.execute(migration.for_shard(shard))
            cursor.execute(
                sql.SQL("INSERT INTO {} (version, name) VALUES (%s, %s)").format(versions_table),
                [migration.version, migration.name],
            )
    return [m.version for m in pending]


@dataclass(frozen=True)
class MigrationReport:
    """What a run did: shards brought up to date, the newest version, shards skipped."""

    shards: int
    applied: int
    version: int
    skipped: list[int]


def migrate(
    databases: Databases,
    store: ShardMapStore,
    migrations: list[Migration],
    *,
    statement_timeout_ms: int | None = None,
    progress: Callable[[int], None] = lambda done: None,
) -> MigrationReport:
    """Bring every logical shard on every physical database up to the newest version.

    The map is read again for each database, so that a shard moved meanwhile is not
    recreated on its old home; a shard that is moving is skipped (the move copies it).
    With `statement_timeout_ms`, each database is also given that default timeout
    (what RDS Proxy's InitQuery or a parameter group sets in AWS)."""
    applied, skipped = 0, []
    shard_map = store.load()
    if statement_timeout_ms is not None:
        for database in databases.names:  # those without shards yet too
            with databases.connection(database) as conn:
                set_statement_timeout(conn, statement_timeout_ms)
    for database in sorted(set(shard_map.homes)):
        fresh = store.load()
        for shard in shard_map.shards_on(database):
            progress(1)
            if shard in fresh.moves or fresh.database_of(shard) != database:
                skipped.append(shard)
                continue
            with databases.connection(database) as conn:
                applied += len(migrate_shard(conn, shard, migrations))
    newest = migrations[-1].version if migrations else 0
    return MigrationReport(shard_map.logical_shards, applied, newest, skipped)


def set_statement_timeout(conn: Connection, milliseconds: int) -> None:
    """The database's default statement timeout, for every session that opens after."""
    with conn, conn.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        name = cursor.fetchone()[0]
        cursor.execute(
            sql.SQL("ALTER DATABASE {} SET statement_timeout = {}").format(
                sql.Identifier(name), sql.Literal(milliseconds)
            )
        )


def ensure_shard_map(
    store: ShardMapStore, logical_shards: int, database_names: Iterable[str]
) -> ShardMap:
    """The stored map; on a first run, a new one spreading the shards over the databases."""
    names = sorted(database_names)
    try:
        shard_map = store.load()
    except ShardMapMissing:
        shard_map = ShardMap.spread(logical_shards, names)
        try:
            store.create(shard_map)
        except ShardMapConflict:  # another migrator created it first
            return ensure_shard_map(store, logical_shards, names)
        return shard_map
    if shard_map.logical_shards != logical_shards:
        raise MigrationError(
            f"the shard map has {shard_map.logical_shards} logical shards; the settings say "
            f"{logical_shards} (the number is fixed once chosen)"
        )
    unknown = set(shard_map.homes) - set(names)
    if unknown:
        raise MigrationError(f"the shard map names databases the settings lack: {unknown}")
    return shard_map
