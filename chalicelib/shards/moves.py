"""Moving one logical shard to another physical database, without losing a write.

    record -> read-only -> copy + verify -> flip -> drop the old copy

Each step is recorded in the shard map (`moves`), so a move stopped anywhere is
finished by running it again, or undone with `rollback` until the flip. Only the moving
shard is ever read-only (triggers refuse writes with SQLSTATE 25006; the router waits
and retries), from the moment the triggers are in until the map is flipped: that
window is what `MoveReport.read_only_seconds` measures. Every other shard stays
writable throughout, and no ID changes: rows are copied as they are.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from chalicelib.errors import Conflict, InvalidInput
from chalicelib.shards.connections import Databases
from chalicelib.shards.migrations import Migration, migrate_shard
from chalicelib.shards.schema import MIGRATIONS_TABLE, schema, schema_name, table
from chalicelib.shards.shard_map import Move, ShardMap, ShardMapStore

READ_ONLY_TRIGGER = "photofeed_read_only"
# The steps, in order; a move's recorded phase is the last step it finished.
STEPS = ("recorded", "read_only", "copied", "flipped", "dropped")
# Rows are spooled through memory up to this size, then through a temporary file.
_SPOOL_BYTES = 64 * 1024 * 1024


class MoveInterrupted(RuntimeError):
    """Raised by `halt_after`: a move stopped on purpose after a step (tests, drills)."""


class CopyMismatch(RuntimeError):
    """Raised when the copy's counts or checksums differ from the original's."""


@dataclass(frozen=True)
class TableCheck:
    """A table's row count and order-independent checksum."""

    name: str
    rows: int
    checksum: int


@dataclass(frozen=True)
class MoveReport:
    """What a move did."""

    shard: int
    source: str
    target: str
    tables: list[TableCheck]
    read_only_seconds: float | None


@dataclass
class ShardMove:
    """One shard's move from its home to `target`."""

    databases: Databases
    store: ShardMapStore
    migrations: list[Migration]
    shard: int
    target: str
    halt_after: str | None = None
    # How long to wait before dropping the old copy: processes' cached maps expire.
    settle_seconds: float = 0.0
    progress: Callable[[str], None] = lambda step: None

    def run(self) -> MoveReport:
        """Move the shard, or finish its interrupted move."""
        shard_map = self.store.load()
        move = shard_map.moves.get(self.shard)
        self._check(shard_map, move)
        source = self._source(shard_map, move)
        checks: list[TableCheck] = []
        window_started: float | None = None
        phase = move.phase if move else None
        if phase is None:
            shard_map = self._record(shard_map, "recorded")
            phase = self._done("recorded")
        if phase == "recorded":
            window_started = time.monotonic()
            self._set_read_only(source, read_only=True)
            shard_map = self._record(shard_map, "read_only")
            phase = self._done("read_only")
        if phase == "read_only":
            window_started = window_started or time.monotonic()
            checks = self._copy(source)
            shard_map = self._record(shard_map, "copied")
            phase = self._done("copied")
        if phase == "copied":
            flipped = shard_map.with_home(self.shard, self.target)
            shard_map = self._record(flipped, "flipped", current=shard_map)
            phase = self._done("flipped")
        window = time.monotonic() - window_started if window_started else None
        time.sleep(self.settle_seconds)
        if source != self.target:
            self._drop_schema(source)
        self.store.replace(shard_map, shard_map.with_move(self.shard, None))
        self._done("dropped")
        return MoveReport(self.shard, source, self.target, checks, window)

    def rollback(self) -> str:
        """Undo an unfinished move: the shard stays (or is again) writable at home."""
        shard_map = self.store.load()
        move = shard_map.moves.get(self.shard)
        if move is None:
            return "no move under way"
        if move.phase == "flipped":
            raise Conflict("the map already points at the new home: run the move to finish it")
        home = shard_map.database_of(self.shard)
        self._drop_schema(move.target)
        self._set_read_only(home, read_only=False)
        self.store.replace(shard_map, shard_map.with_move(self.shard, None))
        return f"rolled back: shard {self.shard} stays on {home}"

    def _check(self, shard_map: ShardMap, move: Move | None) -> None:
        if self.target not in self.databases.names:
            raise InvalidInput(f"no physical database {self.target!r}")
        if move is not None and move.target != self.target:
            raise Conflict(f"shard {self.shard} is being moved to {move.target}; finish that")
        if move is None and shard_map.database_of(self.shard) == self.target:
            raise InvalidInput(f"shard {self.shard} is on {self.target} already")

    def _source(self, shard_map: ShardMap, move: Move | None) -> str:
        """Where the shard is copied from: its home, or after the flip, wherever the old
        copy still is (the target itself once the old copy is gone)."""
        if move is None or move.phase != "flipped":
            return shard_map.database_of(self.shard)
        others = [name for name in self.databases.names if name != self.target]
        return next((name for name in others if self._has_schema(name)), self.target)

    def _done(self, step: str) -> str:
        self.progress(step)
        if self.halt_after == step:
            raise MoveInterrupted(f"halted after {step}")
        return step

    def _record(self, shard_map: ShardMap, phase: str, current: ShardMap | None = None) -> ShardMap:
        new = shard_map.with_move(self.shard, Move(target=self.target, phase=phase))
        return self.store.replace(current or shard_map, new)

    def _tables(self, conn: Connection) -> list[str]:
        """The shard's tables, oldest first (so referenced tables are filled first)."""
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname <> %s ORDER BY c.oid",
                [schema_name(self.shard), MIGRATIONS_TABLE],
            )
            return [name for (name,) in cursor.fetchall()]

    def _set_read_only(self, database: str, *, read_only: bool) -> None:
        """Refuse (or allow again) every write to the shard's tables on `database`."""
        with self.databases.connection(database) as conn, conn, conn.cursor() as cursor:
            for name in self._tables(conn):
                target = table(self.shard, name)
                cursor.execute(
                    sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(
                        sql.Identifier(READ_ONLY_TRIGGER), target
                    )
                )
                if read_only:
                    cursor.execute(
                        sql.SQL(
                            "CREATE TRIGGER {} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE"
                            " ON {} FOR EACH STATEMENT EXECUTE FUNCTION {}.refuse_writes()"
                        ).format(sql.Identifier(READ_ONLY_TRIGGER), target, schema(self.shard))
                    )

    def _copy(self, source: str) -> list[TableCheck]:
        """A fresh, verified copy of the (read-only) shard on the target."""
        self._drop_schema(self.target)  # whatever an interrupted copy left
        with self.databases.connection(self.target) as conn:
            migrate_shard(conn, self.shard, self.migrations)
        with (
            self.databases.connection(source) as src,
            src,
            self.databases.connection(self.target) as dst,
            dst,
        ):
            names = self._tables(src)
            for name in names:
                _copy_table(src, dst, table(self.shard, name))
            with src.cursor() as cursor:
                cursor.execute(sql.SQL("SELECT * FROM {}.id_state()").format(schema(self.shard)))
                last_seq, last_ms = cursor.fetchone()
            with dst.cursor() as cursor:
                cursor.execute(
                    sql.SQL("SELECT {}.continue_ids(%s, %s)").format(schema(self.shard)),
                    [last_seq, last_ms],
                )
            expected = [_check(src, self.shard, name) for name in names]
            copied = [_check(dst, self.shard, name) for name in names]
            if expected != copied:
                raise CopyMismatch(f"copy differs from the original: {expected} != {copied}")
        return expected

    def _has_schema(self, database: str) -> bool:
        with self.databases.connection(database) as conn, conn, conn.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema_name(self.shard)]
            )
            return cursor.fetchone() is not None

    def _drop_schema(self, database: str) -> None:
        with self.databases.connection(database) as conn, conn, conn.cursor() as cursor:
            cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema(self.shard)))


def _copy_table(src: Connection, dst: Connection, name: sql.Identifier) -> None:
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        with src.cursor() as cursor:
            query = sql.SQL("COPY (SELECT * FROM {}) TO STDOUT").format(name)
            cursor.copy_expert(query.as_string(src), spool)
        spool.seek(0)
        with dst.cursor() as cursor:
            cursor.copy_expert(sql.SQL("COPY {} FROM STDIN").format(name).as_string(dst), spool)


def _check(conn: Connection, shard: int, name: str) -> TableCheck:
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0) FROM {} AS t"
            ).format(table(shard, name))
        )
        rows, checksum = cursor.fetchone()
    return TableCheck(name=name, rows=int(rows), checksum=int(checksum))
