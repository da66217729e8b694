"""From a shard (or any ID) to its physical database's connection and its schema.

`Router.run` gives a unit of work one transaction on the right database. When the
shard moved under it (its schema gone, or read-only while a move finishes), the map is
read again and the work retried, for a few seconds at most; other shards never wait.
A physical database that is down fails the work with DatabaseUnavailable (503), except
for readers that can do with part of the answer (`query_reachable_shards`).
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg2
from psycopg2 import errors, sql
from psycopg2.extensions import connection as Connection

from chalicelib.errors import DependencyUnavailable
from chalicelib.shards.connections import Databases
from chalicelib.shards.ids import shard_of
from chalicelib.shards.schema import schema
from chalicelib.shards.shard_map import CachedShardMap, ShardMap

T = TypeVar("T")
Work = Callable[[Connection, sql.Identifier], T]
# A part of a per-database query: the statement for one shard's schema, and its values.
ShardQuery = Callable[[int, sql.Identifier], tuple[sql.Composable, Sequence[Any]]]

# What a statement meets on a shard that moved away or is finishing a move.
SHARD_MOVED = (
    errors.InvalidSchemaName,
    errors.UndefinedTable,
    errors.UndefinedFunction,
    errors.ReadOnlySqlTransaction,
)
# How long work waits for a moving shard before giving up (a move's read-only window
# is well under this; see chalicelib.shards.moves).
RETRY_SECONDS = 5.0
_RETRY_PAUSE_SECONDS = 0.05
# Physical databases one query_shards asks at once.
_PARALLEL_DATABASES = 8
# However many requests wait on a moving shard, the map is read at most this often.
_MAP_READS_EVERY_SECONDS = 0.25


class ShardUnavailable(DependencyUnavailable):
    """Raised when a shard stayed unreachable (moving) for longer than RETRY_SECONDS."""


class DatabaseUnavailable(DependencyUnavailable):
    """Raised when a physical database refuses a connection or drops one mid-work (down,
    failing over, or its proxy cannot reach it): the work did not happen, or whether its
    commit did is unknown; writes are idempotent, so the caller retries."""

    def __init__(self, database: str) -> None:
        super().__init__(f"database {database} is unavailable; retry", {"database": database})
        self.database = database


@dataclass(frozen=True)
class Reached:
    """Rows from the shards whose databases answered, and the shards left out."""

    rows: list[tuple[Any, ...]]
    unreached: frozenset[int] = frozenset()


class Router:
    """Routes work to logical shards over the physical databases."""

    def __init__(
        self,
        databases: Databases,
        shard_map: CachedShardMap,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self._databases = databases
        self._map = shard_map
        self._retry_seconds = retry_seconds
        # One pool for the process: the databases are asked at once, without starting
        # threads per query.
        self._pool = ThreadPoolExecutor(max_workers=_PARALLEL_DATABASES)

    def run(self, shard: int, work: Work[T]) -> T:
        """Run `work(conn, schema)` in one committed transaction on the shard's database."""
        return self._with_retries(
            [shard], lambda m: self._run_on(m.database_of(shard), shard, work)
        )

    def run_for_id(self, object_id: int, work: Work[T]) -> T:
        """Run `work` on the shard that holds the row `object_id` names."""
        return self.run(shard_of(object_id), work)

    def holds(self, object_id: int) -> bool:
        """Whether `object_id` names one of the deployment's logical shards (IDs from
        outside, e.g. in a URL, may name any of the 8192)."""
        return object_id > 0 and shard_of(object_id) < self._map.get().logical_shards

    def all_shards(self) -> range:
        """Every logical shard of the deployment (for a query over all of them)."""
        return range(self._map.get().logical_shards)

    def writable_shard(self, rng: random.Random) -> int:
        """A random logical shard that is not being moved: where a new user goes."""
        shard_map = self._map.get()
        settled = [s for s in range(shard_map.logical_shards) if s not in shard_map.moves]
        return rng.choice(settled or range(shard_map.logical_shards))

    def query_shards(self, shards: Iterable[int], query: ShardQuery) -> list[tuple[Any, ...]]:
        """Rows of `query` over many shards: one statement per physical database (the
        shards' parts joined by UNION ALL), the databases asked at once."""
        wanted = sorted(set(shards))
        if not wanted:
            return []
        reached = self._with_retries(
            wanted, lambda m: self._query_databases(m, wanted, query, partial=False)
        )
        return reached.rows

    def query_reachable_shards(self, shards: Iterable[int], query: ShardQuery) -> Reached:
        """query_shards, but a physical database that is down leaves its shards out (named
        in `unreached`) instead of failing the whole query: for reads that can be partial."""
        wanted = sorted(set(shards))
        if not wanted:
            return Reached([])
        return self._with_retries(
            wanted, lambda m: self._query_databases(m, wanted, query, partial=True)
        )

    def _run_on(self, database: str, shard: int, work: Work[T]) -> T:
        with self._connection(database) as conn, conn:
            return work(conn, schema(shard))

    @contextmanager
    def _connection(self, database: str) -> Iterator[Connection]:
        """The database's connection for one unit of work; DatabaseUnavailable when the
        database refuses it or it breaks (a statement that merely fails raises as it is)."""
        conn: Connection | None = None
        try:
            with self._databases.connection(database) as conn:
                yield conn
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            if conn is None or conn.closed:
                raise DatabaseUnavailable(database) from exc
            raise

    def _query_databases(
        self, shard_map: ShardMap, shards: list[int], query: ShardQuery, *, partial: bool
    ) -> Reached:
        by_database: dict[str, list[int]] = defaultdict(list)
        for shard in shards:
            by_database[shard_map.database_of(shard)].append(shard)

        def ask(database: str) -> Reached:
            try:
                return Reached(self._query_database(database, by_database[database], query))
            except DatabaseUnavailable:
                if not partial:
                    raise
                return Reached([], frozenset(by_database[database]))

        if len(by_database) == 1:
            return ask(next(iter(by_database)))
        answers = list(self._pool.map(ask, by_database))
        return Reached(
            [row for answer in answers for row in answer.rows],
            frozenset().union(*(answer.unreached for answer in answers)),
        )

    def _query_database(
        self, database: str, shards: list[int], query: ShardQuery
    ) -> list[tuple[Any, ...]]:
        parts = [query(shard, schema(shard)) for shard in shards]
        statement = sql.SQL(" UNION ALL ").join(sql.SQL("({})").format(p) for p, _ in parts)
        values = [value for _, part_values in parts for value in part_values]
        with self._connection(database) as conn, conn, conn.cursor() as cursor:
            cursor.execute(statement, values)
            return cursor.fetchall()

    def _with_retries(self, shards: list[int], attempt: Callable[[ShardMap], T]) -> T:
        deadline = time.monotonic() + self._retry_seconds
        shard_map = self._map.get()
        while True:
            try:
                return attempt(shard_map)
            except SHARD_MOVED as exc:
                previous = shard_map
                shard_map = self._map.refresh(at_most_every=_MAP_READS_EVERY_SECONDS)
                moved = shard_map.homes != previous.homes
                if not moved and not _any_moving(shard_map, shards):
                    shard_map = self._map.refresh()  # the freshest word, before giving up
                    moved = shard_map.homes != previous.homes
                    if not moved and not _any_moving(shard_map, shards):
                        raise  # no move explains it: a real error, not a shard in transit
                if time.monotonic() > deadline:
                    raise ShardUnavailable(f"logical shards {shards} are moving; retry") from exc
                if not moved:
                    time.sleep(_RETRY_PAUSE_SECONDS)  # still read-only: the move is finishing


def _any_moving(shard_map: ShardMap, shards: list[int]) -> bool:
    return any(shard in shard_map.moves for shard in shards)
