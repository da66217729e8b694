"""Per-user counters (followers, following, media) in Redis, rebuilt from PostgreSQL.

Every counter is a count of rows on the user's own shard (followers on the target's,
follows on the source's, media on the owner's), so one statement rebuilds them all.

A writer announces itself before its transaction (a per-user count of writes in
flight) and, after its commit, adds to the user's hash only if it exists, then
withdraws. A rebuild marks itself first and stores its counts only if, at that moment,
no write is in flight, no writer touched the user since its mark (a writer that finds
no hash deletes the marker), and nobody stored counts before it. So no write is
counted twice (committed before the rebuild's read, added after its store) or lost
(committed after the read): see `changing`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

import redis
from psycopg2 import sql

from chalicelib import redis_keys
from chalicelib.redis_client import REDIS_ERRORS, run_scripts
from chalicelib.shards.routing import Router

# Counters can drift only when a process dies between its commit and its increment;
# expiring them bounds that drift. A rebuild is one indexed count per counter.
COUNTS_TTL_SECONDS = 3600
# Longer than any rebuild's read or any writer's transaction (statements time out
# after a few seconds); a writer that dies in between blocks rebuilds this long at most.
REBUILD_MARK_MS = 10_000
WRITES_IN_FLIGHT_MS = 30_000
_log = logging.getLogger(__name__)

# KEYS: counts, rebuild marker. ARGV: counter, delta.
_ADD = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
else
  redis.call('DEL', KEYS[2])
end
"""
# KEYS: counts, rebuild marker, writes in flight. ARGV: token, ttl, counter, value, ...
_STORE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 1
   or tonumber(redis.call('GET', KEYS[3]) or '0') > 0 then
  redis.call('DEL', KEYS[2])
  return 0
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class Counts:
    """A user's counters."""

    media: int
    followers: int
    following: int


FIELDS = tuple(f.name for f in fields(Counts))


class Counters:
    """Reads, adjusts and rebuilds users' counters."""

    def __init__(self, cache: redis.Redis, router: Router) -> None:
        self._cache = cache
        self._router = router
        self._add = cache.register_script(_ADD)
        self._store = cache.register_script(_STORE)

    def get(self, user_id: int) -> Counts:
        """The user's counters, rebuilt from PostgreSQL if Redis has none."""
        try:
            cached = self._cache.hgetall(redis_keys.counts(user_id))
        except REDIS_ERRORS:
            _log.warning("counters unavailable; counting in PostgreSQL", exc_info=True)
            return self._count(user_id)
        values = {key.decode(): int(value) for key, value in cached.items()}
        if set(FIELDS) <= set(values):
            return Counts(**{name: values[name] for name in FIELDS})
        return self._rebuild(user_id)

    @contextmanager
    def changing(self, user_ids: Iterable[int]) -> Iterator[list[tuple[int, str, int]]]:
        """Around a transaction that changes the users' counted rows: collect its
        (user, counter, delta) changes in the list yielded; they are applied after."""
        users = list(user_ids)
        changes: list[tuple[int, str, int]] = []
        self.announce(users)
        try:
            yield changes
        finally:
            self.settle(users, changes)

    def announce(self, user_ids: Iterable[int]) -> None:
        """Writes to the users' counted rows are starting: no rebuild may store now."""
        self._pipelined(
            lambda pipe: [
                (
                    pipe.incr(redis_keys.counts_writes(user_id)),
                    pipe.pexpire(redis_keys.counts_writes(user_id), WRITES_IN_FLIGHT_MS),
                )
                for user_id in user_ids
            ]
        )

    def settle(self, user_ids: Iterable[int], changes: Iterable[tuple[int, str, int]]) -> None:
        """Apply the committed changes, then withdraw the announcement: two round trips,
        so that the announcement outlives the changes whatever happens to the first."""
        calls = []
        for user_id, name, delta in changes:
            if name not in FIELDS:
                raise ValueError(f"no counter {name!r}")
            keys = [redis_keys.counts(user_id), redis_keys.counts_rebuild(user_id)]
            calls.append((self._add, keys, [name, delta]))
        try:
            run_scripts(self._cache, calls)
            with self._cache.pipeline(transaction=False) as pipe:
                for user_id in user_ids:
                    pipe.decr(redis_keys.counts_writes(user_id))
                pipe.execute()
        except REDIS_ERRORS:
            _log.warning("counters unavailable; they expire and are recounted", exc_info=True)

    def add(self, changes: Iterable[tuple[int, str, int]]) -> None:
        """Apply changes committed without an announcement (operators' repairs)."""
        self.settle([], list(changes))

    def _pipelined(self, commands: Callable[[Any], object]) -> None:
        try:
            with self._cache.pipeline(transaction=False) as pipe:
                commands(pipe)
                pipe.execute()
        except REDIS_ERRORS:
            _log.warning("counters unavailable; they expire and are recounted", exc_info=True)

    def forget(self, user_ids: Iterable[int]) -> None:
        """Drop users' counters, to be recounted at the next read (after a repair)."""
        keys = [redis_keys.counts(user_id) for user_id in user_ids]
        with self._cache.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.delete(key)
            pipe.execute()

    def _rebuild(self, user_id: int) -> Counts:
        token = uuid.uuid4().hex
        keys = [
            redis_keys.counts(user_id),
            redis_keys.counts_rebuild(user_id),
            redis_keys.counts_writes(user_id),
        ]
        try:
            self._cache.set(keys[1], token, px=REBUILD_MARK_MS)
        except REDIS_ERRORS:
            return self._count(user_id)
        counts = self._count(user_id)
        pairs = [item for name in FIELDS for item in (name, getattr(counts, name))]
        try:
            self._store(keys=keys, args=[token, COUNTS_TTL_SECONDS, *pairs])
        except REDIS_ERRORS:
            _log.warning("counters unavailable; not caching", exc_info=True)
        return counts

    def _count(self, user_id: int) -> Counts:
        def count(conn, schema: sql.Identifier) -> Counts:
            with conn.cursor() as cursor:
                cursor.execute(
                    sql.SQL(
                        "SELECT "
                        "(SELECT count(*) FROM {s}.media WHERE owner_id = %(u)s "
                        "AND status = 'ready'), "
                        "(SELECT count(*) FROM {s}.followers WHERE target_id = %(u)s), "
                        "(SELECT count(*) FROM {s}.follows WHERE source_id = %(u)s)"
                    ).format(s=schema),
                    {"u": user_id},
                )
                return Counts(*cursor.fetchone())

        return self._router.run_for_id(user_id, count)
