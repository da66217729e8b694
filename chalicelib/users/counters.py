"""Per-user counters (followers, following, media) in Redis, rebuilt from PostgreSQL.

Every counter is a count of rows on the user's own shard (followers on the target's,
follows on the source's, media on the owner's), so one statement rebuilds them all.
Writers add to a user's hash after their commit, and only if it exists. A rebuild
marks itself first and stores its counts only if no writer touched the user meanwhile
(a writer that finds no hash deletes the marker) and nobody stored counts before it:
an increment is never lost between a rebuild's read and its write.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, fields

import redis
from psycopg2 import sql

from chalicelib import redis_keys
from chalicelib.shards.routing import Router

# Counters can drift only when a process dies between its commit and its increment;
# expiring them bounds that drift. A rebuild is one indexed count per counter.
COUNTS_TTL_SECONDS = 3600
# Longer than any rebuild's read (statements time out after a few seconds).
REBUILD_MARK_MS = 10_000
_log = logging.getLogger(__name__)

_ADD = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
else
  redis.call('DEL', KEYS[2])
end
"""
_STORE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 1 then
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
        except redis.RedisError:
            _log.warning("counters unavailable; counting in PostgreSQL", exc_info=True)
            return self._count(user_id)
        values = {key.decode(): int(value) for key, value in cached.items()}
        if set(FIELDS) <= set(values):
            return Counts(**{name: values[name] for name in FIELDS})
        return self._rebuild(user_id)

    def add(self, changes: Iterable[tuple[int, str, int]]) -> None:
        """Apply (user, counter, delta) changes that were just committed."""
        try:
            with self._cache.pipeline(transaction=False) as pipe:
                for user_id, name, delta in changes:
                    if name not in FIELDS:
                        raise ValueError(f"no counter {name!r}")
                    keys = [redis_keys.counts(user_id), redis_keys.counts_rebuild(user_id)]
                    self._add(keys=keys, args=[name, delta], client=pipe)
                pipe.execute()
        except redis.RedisError:
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
        keys = [redis_keys.counts(user_id), redis_keys.counts_rebuild(user_id)]
        try:
            self._cache.set(keys[1], token, px=REBUILD_MARK_MS)
        except redis.RedisError:
            return self._count(user_id)
        counts = self._count(user_id)
        pairs = [item for name in FIELDS for item in (name, getattr(counts, name))]
        try:
            self._store(keys=keys, args=[token, COUNTS_TTL_SECONDS, *pairs])
        except redis.RedisError:
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
