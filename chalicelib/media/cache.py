"""Media records cached in Redis, for hydrating feed pages in one round trip.

Each media is one JSON string under `media:{id}`, kept for FeedSettings'
media_cache_seconds. Changes to a media (an edit, a like, a comment, its deletion)
delete its entry; a reader that raced a change may cache the older record, which then
lives until the entry expires (counts a few seconds behind, never another's data).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from typing import Any

import redis

from chalicelib import redis_keys
from chalicelib.media import records
from chalicelib.media.records import Location, Media
from chalicelib.redis_client import REDIS_ERRORS
from chalicelib.shards.ids import shard_of
from chalicelib.shards.routing import Router

_log = logging.getLogger(__name__)


def _encode(media: Media) -> str:
    record = asdict(media)
    for name in ("created_at", "ready_at"):
        if record[name] is not None:
            record[name] = record[name].isoformat()
    return json.dumps(record, separators=(",", ":"))


def _decode(text: bytes) -> Media:
    record: dict[str, Any] = json.loads(text)
    for name in ("created_at", "ready_at"):
        if record[name] is not None:
            record[name] = datetime.fromisoformat(record[name])
    if record["location"] is not None:
        record["location"] = Location(**record["location"])
    return Media(**record)


class MediaCache:
    """Reads and fills the media cache; forgets a media when it changes."""

    def __init__(self, cache: redis.Redis, ttl_seconds: int) -> None:
        self._cache = cache
        self._ttl = ttl_seconds

    def get_many(self, ids: list[int]) -> dict[int, Media]:
        """The cached records of these media (one pipelined round trip)."""
        with self._cache.pipeline(transaction=False) as pipe:
            for media_id in ids:
                pipe.get(redis_keys.media(media_id))
            found = pipe.execute()
        return {i: _decode(text) for i, text in zip(ids, found, strict=True) if text is not None}

    def put_many(self, media: Iterable[Media]) -> None:
        """Cache these records."""
        with self._cache.pipeline(transaction=False) as pipe:
            for item in media:
                pipe.set(redis_keys.media(item.id), _encode(item), ex=self._ttl)
            pipe.execute()

    def forget(self, media_id: int) -> None:
        """Drop a media's record (it changed); Redis being down only delays it to expiry."""
        try:
            self._cache.delete(redis_keys.media(media_id))
        except REDIS_ERRORS:
            _log.warning("media cache unavailable; entry expires on its own", exc_info=True)


def hydrated(
    media_cache: MediaCache, router: Router, ids: list[int]
) -> tuple[dict[int, Media], bool]:
    """Media records: from the cache, misses from PostgreSQL (one statement per physical
    database, then cached). IDs the deployment does not hold are left out, and so are
    misses on a database that is down: then the second value, partial, is true."""
    found = media_cache.get_many(ids)
    misses = [i for i in ids if i not in found and router.holds(i)]
    if not misses:
        return found, False
    by_shard: dict[int, list[int]] = {}
    for media_id in misses:
        by_shard.setdefault(shard_of(media_id), []).append(media_id)
    reached = router.query_reachable_shards(
        by_shard, lambda shard, s: records.many_query(s, by_shard[shard])
    )
    loaded = [records.media_from_row(row) for row in reached.rows]
    media_cache.put_many(loaded)
    found.update((m.id, m) for m in loaded)
    return found, bool(reached.unreached)
