"""Moving one logical shard to another physical database, without losing a write.

    claim -> read-only -> copy + verify -> flip -> drop the old copy

Each step is recorded in the shard map (`moves`) with a conditional write, so a move
stopped anywhere is finished by running it again, or undone with `rollback` until the
flip. One mover holds a move at a time (its `owner`, renewed at every step): another run
or a rollback is refused while the holder's lease is fresh, and a holder that finds the
move taken over stops before its next step. Only the moving shard is ever read-only
(triggers refuse writes with SQLSTATE 25006; the router waits and retries), from the
triggers to the flip: `MoveReport.read_only_seconds`. Every other shard stays writable,
and no ID changes: rows are copied as they are.

Moves run on the operator's connections (`Clients.admin_databases`): straight to the
databases, without the application's statement timeout, so a large shard's copy is not
cut short.
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace

from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from chalicelib.errors import Conflict, InvalidInput
from chalicelib.shards.connections import Databases
from chalicelib.shards.migrations import (
    Migration,
    applied_version,
    migrate_shard,
    shard_tables,
)
from chalicelib.shards.schema import schema, schema_name, table
from chalicelib.shards.shard_map import Move, ShardMap, ShardMapConflict, ShardMapStore

READ_ONLY_TRIGGER = "photofeed_read_only"
# The steps, in order; a move's recorded phase is the last step it finished.
STEPS = ("recorded", "read_only", "copied", "flipped", "dropped")
ROLLING_BACK = "rolling_back"
# How long a mover's claim holds without a word from it; then anyone may take over.
LEASE_SECONDS = 300.0
# Rows are spooled through memory up to this size, then through a temporary file.
_SPOOL_BYTES = 64 * 1024 * 1024
_WRITE_ATTEMPTS = 5


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
    # Take the move from a holder whose lease has not run out (it is known to be dead).
    take_over: bool = False
    progress: Callable[[str], None] = lambda step: None
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)

    def run(self) -> MoveReport:
        """Move the shard, or finish its interrupted move."""
        shard_map = self._claim(for_rollback=False)
        with self._released_on_failure():
            return self._run(shard_map)

    def _run(self, shard_map: ShardMap) -> MoveReport:
        move = shard_map.moves[self.shard]
        source = self._source(shard_map, move)
        checks: list[TableCheck] = []
        window_started: float | None = None
        phase = move.phase
        if phase == "recorded":
            self._done("recorded")
            window_started = time.monotonic()
            self._set_read_only(source, read_only=True)
            phase = self._step("read_only")
        if phase == "read_only":
            window_started = window_started or time.monotonic()
            with self._lease_renewed():
                checks = self._copy(source)
            phase = self._step("copied")
        if phase == "copied":
            phase = self._step("flipped", home=self.target)
        window = time.monotonic() - window_started if window_started else None
        time.sleep(self.settle_seconds)
        if source != self.target:
            self._require_copy_on_target()
            self._drop_schema(source)
        self._write(lambda m: m.with_move(self.shard, None))
        self._done("dropped")
        return MoveReport(self.shard, source, self.target, checks, window)

    def rollback(self) -> str:
        """Undo an unfinished move: the shard stays (or is again) writable at home."""
        shard_map = self.store.load()
        if self.shard not in shard_map.moves:
            # Nothing recorded; still make sure nothing of a move is left behind.
            home = shard_map.database_of(self.shard)
            self._set_read_only(home, read_only=False)
            if self.target != home and self.target in self.databases.names:
                self._drop_schema(self.target)
            return f"no move under way: shard {self.shard} is on {home}, writable"
        shard_map = self._claim(for_rollback=True)
        with self._released_on_failure():
            return self._rollback(shard_map)

    def _rollback(self, shard_map: ShardMap) -> str:
        home = shard_map.database_of(self.shard)
        if home != self.target:
            self._drop_schema(self.target)
        self._set_read_only(home, read_only=False)
        self._write(lambda m: m.with_move(self.shard, None))
        return f"rolled back: shard {self.shard} stays on {home}"

    @contextmanager
    def _released_on_failure(self) -> Iterator[None]:
        """A mover that fails lets go of its lease at once, so that running the command
        again picks the move up (only a mover killed outright holds it until it expires)."""
        try:
            yield
        except BaseException:
            with suppress(Exception):
                self._write(
                    lambda m: m.with_move(self.shard, replace(m.moves[self.shard], heartbeat=0))
                )
            with suppress(Exception):
                shard_map = self.store.load()
                if self.shard not in shard_map.moves:  # rolled back under us: leave it writable
                    self._set_read_only(shard_map.database_of(self.shard), read_only=False)
            raise

    @contextmanager
    def _lease_renewed(self) -> Iterator[None]:
        """Keep the lease fresh through a long step (a large shard's copy)."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(LEASE_SECONDS / 3):
                with suppress(Exception):  # a lost move shows at the next step
                    self._write(lambda m: self._with_phase(m, m.moves[self.shard].phase))

        renewer = threading.Thread(target=renew, daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()

    def _claim(self, *, for_rollback: bool) -> ShardMap:
        """Hold the shard's move (starting it if there is none); the map after."""
        for _ in range(_WRITE_ATTEMPTS):
            shard_map = self.store.load()
            phase = self._claimable_phase(shard_map, for_rollback=for_rollback)
            try:
                return self.store.replace(shard_map, self._with_phase(shard_map, phase))
            except ShardMapConflict:
                continue  # the map changed meanwhile: look again
        raise Conflict("the shard map keeps changing; try again")

    def _claimable_phase(self, shard_map: ShardMap, *, for_rollback: bool) -> str:
        """The phase this mover takes the move up at; Conflict if it may not."""
        move = shard_map.moves.get(self.shard)
        if self.target not in self.databases.names:
            raise InvalidInput(f"no physical database {self.target!r}")
        if move is None:
            if shard_map.database_of(self.shard) == self.target:
                raise InvalidInput(f"shard {self.shard} is on {self.target} already")
            return "recorded"
        if move.target != self.target:
            raise Conflict(f"shard {self.shard} is being moved to {move.target}; finish that")
        age = time.time() - move.heartbeat
        if move.owner != self.owner and age < LEASE_SECONDS and not self.take_over:
            raise Conflict(
                f"another mover holds shard {self.shard}'s move (heard from {age:.0f} s ago);"
                f" if it died, wait {LEASE_SECONDS:.0f} s or take it over"
            )
        if for_rollback and move.phase == "flipped":
            raise Conflict("the map already points at the new home: run the move to finish it")
        if not for_rollback and move.phase == ROLLING_BACK:
            raise Conflict("a rollback of this move was interrupted: roll it back again")
        return ROLLING_BACK if for_rollback else move.phase

    def _with_phase(self, shard_map: ShardMap, phase: str) -> ShardMap:
        move = Move(self.target, phase, owner=self.owner, heartbeat=time.time())
        return shard_map.with_move(self.shard, move)

    def _write(self, change: Callable[[ShardMap], ShardMap]) -> ShardMap:
        """Apply `change` to the freshest map with a conditional write; other shards'
        changes meanwhile are fine, a takeover of this move is not."""
        for _ in range(_WRITE_ATTEMPTS):
            current = self.store.load()
            move = current.moves.get(self.shard)
            if move is None or move.owner != self.owner:
                raise Conflict(f"shard {self.shard}'s move was taken over or rolled back")
            try:
                return self.store.replace(current, change(current))
            except ShardMapConflict:
                continue
        raise Conflict("the shard map keeps changing; try again")

    def _step(self, phase: str, home: str | None = None) -> str:
        def change(shard_map: ShardMap) -> ShardMap:
            moved = shard_map.with_home(self.shard, home) if home else shard_map
            return self._with_phase(moved, phase)

        self._write(change)
        return self._done(phase)

    def _done(self, step: str) -> str:
        self.progress(step)
        if self.halt_after == step:
            raise MoveInterrupted(f"halted after {step}")
        return step

    def _source(self, shard_map: ShardMap, move: Move) -> str:
        """Where the shard is copied from: its home, or after the flip, wherever the old
        copy still is (the target itself once the old copy is gone)."""
        if move.phase != "flipped":
            return shard_map.database_of(self.shard)
        others = [name for name in self.databases.names if name != self.target]
        return next((name for name in others if self._has_schema(name)), self.target)

    def _require_copy_on_target(self) -> None:
        """Before the old copy goes: the map's home is the target and holds the shard."""
        shard_map = self.store.load()
        if shard_map.database_of(self.shard) != self.target or not self._has_schema(self.target):
            raise Conflict(f"shard {self.shard} is not on {self.target}: the old copy stays")

    def _set_read_only(self, database: str, *, read_only: bool) -> None:
        """Refuse (or allow again) every write to the shard's tables on `database`."""
        with self.databases.connection(database) as conn, conn, conn.cursor() as cursor:
            for name in shard_tables(conn, self.shard):
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
        self._write(lambda m: self._with_phase(m, "read_only"))  # still ours: renew
        self._drop_schema(self.target)  # whatever an interrupted copy left
        with self.databases.connection(source) as conn:
            version = applied_version(conn, self.shard)
        # The copy has the original's tables exactly; newer migrations follow after it.
        with self.databases.connection(self.target) as conn:
            migrate_shard(conn, self.shard, [m for m in self.migrations if m.version <= version])
        with (
            self.databases.connection(source) as src,
            src,
            self.databases.connection(self.target) as dst,
            dst,
        ):
            names = shard_tables(src, self.shard)
            for name in names:
                _copy_table(src, dst, table(self.shard, name))
            with src.cursor() as cursor:
                cursor.execute(sql.SQL("SELECT * FROM {}.id_state()").format(schema(self.shard)))
                state = cursor.fetchone()
            with dst.cursor() as cursor:
                cursor.execute(
                    sql.SQL("SELECT {}.continue_ids(%s, %s, %s)").format(schema(self.shard)),
                    list(state),
                )
            expected = [_check(src, self.shard, name) for name in names]
            copied = [_check(dst, self.shard, name) for name in names]
            if expected != copied:
                raise CopyMismatch(f"copy differs from the original: {expected} != {copied}")
        with self.databases.connection(self.target) as conn:
            migrate_shard(conn, self.shard, self.migrations)
        return expected

    def _has_schema(self, database: str) -> bool:
        with self.databases.connection(database) as conn, conn, conn.cursor() as cursor:
            cursor.execute("SELECT to_regnamespace(%s)", [schema_name(self.shard)])
            return cursor.fetchone()[0] is not None

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
