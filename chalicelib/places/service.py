"""Places as a caller sees them: recent public media near a point.

A search shows media made within the window (the last `days` days), ready (not
pending, failed or deleted), still located within the distance (a location edited
since is measured where it is now), whose owner's account is public, with no block
either way between the caller and the owner; newest first, paged by `max_id`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.errors import DependencyUnavailable
from chalicelib.media.cache import MediaCache
from chalicelib.media.records import Media
from chalicelib.media.visible import Audience, FeedItem, Visible, filtered_page, visible_items
from chalicelib.places.index import GeoIndex, distance_m, first_id_at
from chalicelib.redis_client import REDIS_ERRORS
from chalicelib.shards.routing import Router

MAX_ID = 2**63 - 1


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
    partial: bool = False


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
        page = filtered_page(
            lambda cursor, wanted: (_window(found.ids, cursor, wanted), False),
            lambda ids: self._visible(viewer, near, ids),
            below,
            count,
        )
        # The search found every candidate at once: a page ending on the last has no next.
        last = found.ids[-1] if found.ids else None
        next_max_id = None if page.next == last else page.next
        return PlacePage(page.items, next_max_id, found.rebuilt, page.partial)

    def _visible(self, viewer: int, near: Near, ids: list[int]) -> Visible:
        return visible_items(
            self._media_cache,
            self._router,
            viewer,
            ids,
            Audience.PUBLIC,
            keep=lambda m: _near(m, near),
        )


def _window(ids: list[int], cursor: int, wanted: int) -> list[int]:
    """Up to `wanted` of the IDs (newest first) older than the cursor."""
    start = bisect.bisect_right(ids, -cursor, key=lambda i: -i)
    return ids[start : start + wanted]


def _near(media: Media, near: Near) -> bool:
    location = media.location
    return (
        location is not None
        and distance_m(near.latitude, near.longitude, location.latitude, location.longitude)
        <= near.meters
    )
