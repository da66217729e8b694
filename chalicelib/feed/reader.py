"""Reading a home feed: IDs from the feed list merged with pulled celebrities' media,
hydrated from the media cache (misses: one query per physical database), filtered.

Filters, for every page: the media must be ready (not deleted); its owner must be the
reader or someone the reader follows now (so unfollowing, and blocking, which ends
follows both ways, take effect at once), with no block between them. Paging is by
`max_id`: IDs sort by time, so new posts never shift a page being read.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import redis
from psycopg2 import sql

from chalicelib import redis_keys
from chalicelib.errors import DependencyUnavailable
from chalicelib.feed import queries
from chalicelib.feed.timelines import MAX_ID, Timelines
from chalicelib.media import records
from chalicelib.media.cache import MediaCache, hydrated
from chalicelib.media.records import Media
from chalicelib.redis_client import REDIS_ERRORS
from chalicelib.shards.ids import shard_of
from chalicelib.shards.routing import Router
from chalicelib.users.store import Summary

# Items a shedding page holds at most.
SHED_PAGE = 10
# IDs read beyond a page, so that a few filtered items need no second round.
SLACK = 5
# Rounds a page may take when many items are filtered out, before answering short.
MAX_ROUNDS = 3
# How long a process trusts its copy of the celebrity set.
CELEBRITIES_SECONDS = 30.0


@dataclass(frozen=True)
class FeedItem:
    """One media of a page, with what the reader sees of its owner."""

    media: Media
    owner: Summary
    liked: bool


@dataclass(frozen=True)
class FeedPage:
    """A page, and the max_id of the next one (None: the end)."""

    items: list[FeedItem]
    next_max_id: int | None
    shed: bool = False
    rebuilt: bool = False


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
        cursor = max_id or MAX_ID
        items: list[FeedItem] = []
        rebuilt = False
        for _ in range(MAX_ROUNDS):
            wanted = count - len(items) + SLACK
            ids, was_rebuilt = self._timelines.feed_page(viewer, cursor, wanted)
            rebuilt |= was_rebuilt
            if not shed:
                ids = self._with_pulled(viewer, ids, cursor, wanted)
            visible = self._visible(viewer, ids) if ids else {}
            for media_id in ids:
                if media_id in visible:
                    items.append(visible[media_id])
                    if len(items) == count:
                        return FeedPage(items, media_id, shed, rebuilt)
            if len(ids) < wanted:
                return FeedPage(items, None, shed, rebuilt)
            cursor = ids[-1]
        return FeedPage(items, cursor, shed, rebuilt)

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

    def _visible(self, viewer: int, ids: list[int]) -> dict[int, FeedItem]:
        media = self._hydrated(ids)
        ready = {i: m for i, m in media.items() if m.status == records.READY}
        others = sorted({m.owner_id for m in ready.values()} - {viewer})
        following, blocking = (
            self._router.run_for_id(viewer, lambda c, s: queries.relations(c, s, viewer, others))
            if others
            else (set(), set())
        )
        shown = {
            i: m
            for i, m in ready.items()
            if m.owner_id == viewer or (m.owner_id in following and m.owner_id not in blocking)
        }
        if not shown:
            return {}
        by_shard = _by_shard(list(shown))
        rows = self._router.query_shards(
            by_shard,
            lambda shard, s: queries.owners_and_likes(
                s,
                sorted({shown[i].owner_id for i in by_shard[shard]}),
                by_shard[shard],
                viewer,
            ),
        )
        owners = {
            row[1]: Summary(*row[1:])
            for row in rows
            if row[0] == queries.OWNER and not row[5]  # never across a block
        }
        liked = {row[1] for row in rows if row[0] == queries.LIKE}
        return {
            i: FeedItem(m, owners[m.owner_id], i in liked)
            for i, m in shown.items()
            if m.owner_id in owners
        }

    def _hydrated(self, ids: list[int]) -> dict[int, Media]:
        """Media records: from the cache, misses from PostgreSQL (then cached)."""
        return hydrated(self._media_cache, self._router, ids)

    def _celebrity_ids(self) -> set[int]:
        read_at, members = self._celebrities
        if time.monotonic() - read_at > CELEBRITIES_SECONDS:
            members = {int(m) for m in self._cache.smembers(redis_keys.celebrities())}
            self._celebrities = (time.monotonic(), members)
        return members


def _by_shard(ids: list[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for item in ids:
        groups[shard_of(item)].append(item)
    return groups


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
