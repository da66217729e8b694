"""Places as a caller sees them: recent public media near a point.

A search shows media made within the window (the last `days` days), ready (not
pending, failed or deleted), still located within the distance (a location edited
since is measured where it is now), whose owner's account is public, with no block
either way between the caller and the owner; newest first, paged by `max_id`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.errors import DependencyUnavailable
from chalicelib.feed import queries as feed_queries
from chalicelib.feed.reader import FeedItem
from chalicelib.media import records
from chalicelib.media.cache import MediaCache, hydrated
from chalicelib.media.records import Media
from chalicelib.places.index import GeoIndex, distance_m, first_id_at
from chalicelib.redis_client import REDIS_ERRORS
from chalicelib.shards.ids import shard_of
from chalicelib.shards.routing import Router
from chalicelib.users.store import Summary

MAX_ID = 2**63 - 1
# IDs hydrated beyond a page, so that a few filtered items need no second round.
SLACK = 5
# Rounds of hydration a page may take when many candidates are filtered out, before
# answering short (its next_max_id then carries on where it stopped).
MAX_ROUNDS = 3


@dataclass(frozen=True)
class Near:
    """Where to look: a point, a radius in meters and a window in days."""

    latitude: float
    longitude: float
    meters: float
    days: int


@dataclass(frozen=True)
class PlacePage:
    """A page of media near a point, and the max_id of the next one (None: the end)."""

    items: list[FeedItem]
    next_max_id: int | None
    rebuilt: int = 0


class Places:
    """Searches recent media by place."""

    def __init__(
        self,
        *,
        router: Router,
        index: GeoIndex,
        media_cache: MediaCache,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._router = router
        self._index = index
        self._media_cache = media_cache
        self._now = now

    def search(self, viewer: int, near: Near, max_id: int | None, count: int) -> PlacePage:
        """Up to `count` media near the point older than `max_id`, newest first, that the
        viewer may see; DependencyUnavailable while Redis is down."""
        now = self._now()
        since = first_id_at(now - timedelta(days=near.days))
        below = min(max_id or MAX_ID, first_id_at(now + timedelta(minutes=1)))
        try:
            found = self._index.search(near.latitude, near.longitude, near.meters, since, below)
        except REDIS_ERRORS as exc:
            raise DependencyUnavailable("the place index is unavailable; retry") from exc
        items: list[FeedItem] = []
        start = 0
        for _ in range(MAX_ROUNDS):
            batch = found.ids[start : start + count - len(items) + SLACK]
            start += len(batch)
            visible = self._visible(viewer, near, batch) if batch else {}
            for media_id in batch:
                if media_id in visible:
                    items.append(visible[media_id])
                    if len(items) == count:
                        more = media_id != found.ids[-1]
                        return PlacePage(items, media_id if more else None, found.rebuilt)
            if start >= len(found.ids):
                return PlacePage(items, None, found.rebuilt)
        return PlacePage(items, found.ids[start - 1], found.rebuilt)

    def _visible(self, viewer: int, near: Near, ids: list[int]) -> dict[int, FeedItem]:
        media = hydrated(self._media_cache, self._router, ids)
        here = {i: m for i, m in media.items() if _ready_near(m, near)}
        if not here:
            return {}
        others = sorted({m.owner_id for m in here.values()} - {viewer})
        _, blocking = (
            self._router.run_for_id(
                viewer, lambda c, s: feed_queries.relations(c, s, viewer, others)
            )
            if others
            else (set(), set())
        )
        by_shard = _by_shard(list(here))
        rows = self._router.query_shards(
            by_shard,
            lambda shard, s: feed_queries.owners_and_likes(
                s, sorted({here[i].owner_id for i in by_shard[shard]}), by_shard[shard], viewer
            ),
        )
        owners = {row[1]: Summary(*row[1:]) for row in rows if row[0] == feed_queries.OWNER}
        liked = {row[1] for row in rows if row[0] == feed_queries.LIKE}

        def shown(m: Media) -> bool:
            owner = owners.get(m.owner_id)
            if owner is None or owner.is_private:
                return False
            return m.owner_id == viewer or not (owner.blocks_viewer or m.owner_id in blocking)

        return {i: FeedItem(m, owners[m.owner_id], i in liked) for i, m in here.items() if shown(m)}


def _ready_near(media: Media, near: Near) -> bool:
    location = media.location
    return (
        media.status == records.READY
        and location is not None
        and distance_m(near.latitude, near.longitude, location.latitude, location.longitude)
        <= near.meters
    )


def _by_shard(ids: list[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for item in ids:
        groups[shard_of(item)].append(item)
    return groups
