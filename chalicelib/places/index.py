"""The geo index of recent media in Redis, one key per UTC day, rebuilt from PostgreSQL
when missing.

- `geo:{day}`: the day's geotagged ready media (the day their ID was made), a GEO set
  searched with GEOSEARCH ... BYRADIUS. An empty but built day holds a placeholder.
- `geo:{day}:ids`: the same media scored by creation time. A GEO set's score is the
  geohash, so it cannot say which media are oldest; this companion can, and keeps each
  day at DAY_CAP by dropping the oldest from both (memory is bounded; the newest media,
  those a search shows first, stay). Both keys expire once the day leaves the window.

Pushes (fan-out, on media.ready) go only to days that exist; a missing day is rebuilt
when searched, guarded by a marker as feed lists are (chalicelib.feed.lists): a push to
a missing day clears the marker, so a rebuild that read before it is not stored.
Nothing is ever taken out but by the cap: what a search must not show (deleted, moved,
private, blocked) is filtered when it is read (chalicelib.places.service).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis

from chalicelib import redis_keys
from chalicelib.feed.lists import REBUILD_MARK_SECONDS, IdLists
from chalicelib.places import queries
from chalicelib.places.limits import MAX_WINDOW_DAYS
from chalicelib.redis_client import run_scripts
from chalicelib.shards.ids import EPOCH_MS, decode, encode
from chalicelib.shards.routing import Router

# Media a day keeps (the newest): at this cap a day's two keys take ~40 MB, a window's
# ~300 MB (bench/geo.py: ~390 MB for 2,000,000 GEO members and 1,000,000 by time).
DAY_CAP = 200_000
# Members written per round trip while a day is rebuilt.
BATCH = 5_000
# Redis stores positions in Web Mercator, which ends at these latitudes; the poles are
# indexed at the edge and a search near them looks from the edge (the service measures
# true distances before answering).
MAX_INDEX_LATITUDE = 85.05112878
EARTH_RADIUS_M = 6_372_797.560856  # the radius Redis measures with
# What an empty but built day holds, so that it exists; no media has ID 0.
_PLACEHOLDER = "0"

# KEYS: geo, ids, marker. ARGV: longitude, latitude, id, created ms, cap, expire at.
_ADD = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[3])
  return -1
end
redis.call('GEOADD', KEYS[1], ARGV[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if over > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #oldest, 2 do redis.call('ZREM', KEYS[1], oldest[i]) end
end
redis.call('EXPIREAT', KEYS[1], ARGV[6])
redis.call('EXPIREAT', KEYS[2], ARGV[6])
return 1
"""
# KEYS: geo, ids, marker, building geo, building ids. ARGV: token, expire at. The
# gathered day becomes the index unless a push or another rebuild came between.
_STORE = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
  return 0
end
redis.call('DEL', KEYS[3])
redis.call('GEOADD', KEYS[4], 0, 0, '0')
redis.call('RENAME', KEYS[4], KEYS[1])
if redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('RENAME', KEYS[5], KEYS[2])
else
  redis.call('DEL', KEYS[2])
end
redis.call('EXPIREAT', KEYS[1], ARGV[2])
redis.call('EXPIREAT', KEYS[2], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class Located:
    """A media where the index has it."""

    media_id: int
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Found:
    """A search's candidate IDs, newest first, and how many days were rebuilt."""

    ids: list[int]
    rebuilt: int = 0


class GeoIndex:
    """Day keys of geotagged media: pushes, searches and rebuilds."""

    def __init__(self, cache: redis.Redis, router: Router, *, day_cap: int = DAY_CAP) -> None:
        self._cache = cache
        self._router = router
        self._day_cap = day_cap
        self._lists = IdLists(cache)
        self._add = cache.register_script(_ADD)
        self._store = cache.register_script(_STORE)

    def media_ready(self, media_id: int, latitude: float | None, longitude: float | None) -> bool:
        """Index a media that became ready, if it has a location and its day exists."""
        if latitude is None or longitude is None:
            return False
        self.add_many([Located(media_id, latitude, longitude)])
        return True

    def add_many(self, located: Iterable[Located]) -> list[int]:
        """Index media on their days, pipelined: per media, 1 added, -1 day missing."""
        calls = []
        for item in located:
            day = day_of(item.media_id)
            keys = [redis_keys.geo_day(day), redis_keys.geo_day_ids(day)]
            args = [
                item.longitude,
                _indexable(item.latitude),
                str(item.media_id),
                decode(item.media_id).unix_ms,
                self._day_cap,
                _expire_at(day),
            ]
            calls.append((self._add, [*keys, redis_keys.geo_day_rebuild(day)], args))
        return [int(result) for result in run_scripts(self._cache, calls)]

    def search(
        self, latitude: float, longitude: float, meters: float, since_id: int, below_id: int
    ) -> Found:
        """The IDs in [since_id, below_id) within `meters` of the point, newest first (one
        round trip for the days that exist; missing days are rebuilt)."""
        days = _days_between(since_id, below_id)
        with self._cache.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.exists(redis_keys.geo_day(day))
                pipe.geosearch(
                    redis_keys.geo_day(day),
                    longitude=longitude,
                    latitude=_indexable(latitude),
                    radius=meters,
                    unit="m",
                )
            results = pipe.execute()
        ids: set[int] = set()
        rebuilt = 0
        for day, exists, members in zip(days, results[::2], results[1::2], strict=True):
            if exists:
                ids.update(int(m) for m in members if m != _PLACEHOLDER.encode())
                continue
            rebuilt += 1
            ids.update(
                item.media_id
                for item in self.rebuild(day)
                if distance_m(latitude, longitude, item.latitude, item.longitude) <= meters
            )
        return Found(sorted((i for i in ids if since_id <= i < below_id), reverse=True), rebuilt)

    def rebuild(self, day: str) -> list[Located]:
        """A day's keys from PostgreSQL (stored unless a push raced it); its media."""
        marker = redis_keys.geo_day_rebuild(day)
        token = self._lists.begin_rebuild(marker)
        start = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)
        low, high = first_id_at(start), first_id_at(start + timedelta(days=1))
        rows = self._router.query_shards(
            self._router.all_shards(),
            lambda _, s: queries.located_between(s, low, high, self._day_cap),
        )
        located = [Located(*row) for row in sorted(rows, reverse=True)[: self._day_cap]]
        building = redis_keys.geo_day_building(day, token)
        for start_at in range(0, len(located), BATCH):
            self._fill(building, located[start_at : start_at + BATCH])
        keys = [redis_keys.geo_day(day), redis_keys.geo_day_ids(day), marker, *building]
        run_scripts(self._cache, [(self._store, keys, [token, _expire_at(day)])])
        return located

    def _fill(self, building: tuple[str, str], batch: list[Located]) -> None:
        geo, ids = building
        with self._cache.pipeline(transaction=False) as pipe:
            pipe.geoadd(
                geo,
                [v for i in batch for v in (i.longitude, _indexable(i.latitude), i.media_id)],
            )
            pipe.zadd(ids, {str(i.media_id): decode(i.media_id).unix_ms for i in batch})
            pipe.expire(geo, REBUILD_MARK_SECONDS)
            pipe.expire(ids, REBUILD_MARK_SECONDS)
            pipe.execute()


def day_of(media_id: int) -> str:
    """The UTC day a media's ID was made on (its day key's name)."""
    return decode(media_id).created_at.date().isoformat()


def first_id_at(moment: datetime) -> int:
    """The lowest ID made at or after `moment` (1 before IDs began)."""
    unix_ms = int(moment.timestamp() * 1000)
    return encode(unix_ms, 0, 0) if unix_ms > EPOCH_MS else 1


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """The great-circle distance between two points, in meters (haversine, as Redis)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _days_between(since_id: int, below_id: int) -> list[str]:
    """The days from below_id's (newest) back to since_id's, newest first."""
    first = decode(since_id).created_at.date()
    last = decode(max(since_id, below_id - 1)).created_at.date()
    return [(last - timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _expire_at(day: str) -> int:
    """When a day key expires: a day after it leaves the longest window."""
    end = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)
    return int((end + timedelta(days=MAX_WINDOW_DAYS + 1)).timestamp())


def _indexable(latitude: float) -> float:
    return max(-MAX_INDEX_LATITUDE, min(MAX_INDEX_LATITUDE, latitude))


def geo_index_of(clients: Any) -> GeoIndex:
    """The geo index of a deployment's clients (the API's and fan-out's alike)."""
    return GeoIndex(clients.redis, clients.router)
