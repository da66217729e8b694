"""Reading a home feed: IDs from the feed list merged with pulled celebrities' media,
hydrated from the media cache (misses: one query per physical database), filtered.

Filters, for every page: the media must be ready (not deleted); its owner must be the
reader or someone the reader follows now (so unfollowing, and blocking, which ends
follows both ways, take effect at once), with no block between them. Paging is by
`max_id`: IDs sort by time, so new posts never shift a page being read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from psycopg2 import sql

from chalicelib import redis_keys
from chalicelib.errors import DependencyUnavailable
from chalicelib.feed.timelines import MAX_ID, Timelines
from chalicelib.media.cache import MediaCache
from chalicelib.media.visible import Audience, FeedItem, Visible, filtered_page, visible_items
from chalicelib.redis_client import REDIS_ERRORS
from chalicelib.shards.routing import Router

# Items a shedding page holds at most.
SHED_PAGE = 10
# How long a process trusts its copy of the celebrity set.
CELEBRITIES_SECONDS = 30.0


@dataclass(frozen=True)
class FeedPage:
    """A page, and the max_id of the next one (None: the end)."""

    items: list[FeedItem]
    next_max_id: int | None
    shed: bool = False
    rebuilt: bool = False
    partial: bool = False


class FeedReader:
    """Builds feed pages."""

    def __init__(
        self,
        *,
        router: Router,
        timelines: Timelines,
        media_cache: MediaCache,
        cache: redis.Redis,
        shedding: Callable[[], bool],
    ) -> None:
        self._router = router
        self._timelines = timelines
        self._media_cache = media_cache
        self._cache = cache
        self._shedding = shedding
        self._celebrities: tuple[float, set[int]] = (float("-inf"), set())

    def page(self, viewer: int, max_id: int | None, count: int) -> FeedPage:
        """Up to `count` items older than `max_id` (newest first); DependencyUnavailable
        while Redis is down."""
        try:
            return self._page(viewer, max_id, count)
        except REDIS_ERRORS as exc:
            raise DependencyUnavailable("the feed store is unavailable; retry") from exc

    def _page(self, viewer: int, max_id: int | None, count: int) -> FeedPage:
        shed = self._shedding()
        if shed:
            count = min(count, SHED_PAGE)

        def read(cursor: int, wanted: int) -> tuple[list[int], bool]:
            ids, rebuilt = self._timelines.feed_page(viewer, cursor, wanted)
            if not shed:
                ids = self._with_pulled(viewer, ids, cursor, wanted)
            return ids, rebuilt

        page = filtered_page(read, lambda ids: self._visible(viewer, ids), max_id or MAX_ID, count)
        return FeedPage(page.items, page.next, shed, page.rebuilt, page.partial)

    def _with_pulled(self, viewer: int, ids: list[int], cursor: int, wanted: int) -> list[int]:
        """The feed's IDs merged with the recent media of followed celebrities."""
        celebrities = self._celebrity_ids() - {viewer}
        if not celebrities:
            return ids
        followed = self._router.run_for_id(viewer, _following(viewer, celebrities))
        if not followed:
            return ids
        pulled = self._timelines.recent_pages(followed, cursor, wanted)
        merged = set(ids).union(*pulled.values())
        return sorted(merged, reverse=True)[:wanted]

    def _visible(self, viewer: int, ids: list[int]) -> Visible:
        return visible_items(self._media_cache, self._router, viewer, ids, Audience.FOLLOWED)

    def _celebrity_ids(self) -> set[int]:
        read_at, members = self._celebrities
        if time.monotonic() - read_at > CELEBRITIES_SECONDS:
            members = {int(m) for m in self._cache.smembers(redis_keys.celebrities())}
            self._celebrities = (time.monotonic(), members)
        return members


def _following(viewer: int, candidates: set[int]):
    """Which of the candidates the viewer follows (on the viewer's shard)."""

    def read(conn, schema: sql.Identifier) -> list[int]:
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL(
                    "SELECT target_id FROM {s}.follows WHERE source_id = %s AND target_id = ANY(%s)"
                ).format(s=schema),
                [viewer, sorted(candidates)],
            )
            return [row[0] for row in cursor.fetchall()]

    return read
