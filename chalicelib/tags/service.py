"""Tag pages and tag search as a caller sees them.

A tag page shows the tag's media the caller may see: ready (not pending, failed or
deleted), still carrying the tag, with no block either way between the caller and the
owner, and the owner public, followed by the caller, or the caller. Paging is by
`max_id`, as the feed's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from chalicelib.errors import DependencyUnavailable
from chalicelib.feed import queries as feed_queries
from chalicelib.feed.reader import FeedItem
from chalicelib.media import records
from chalicelib.media.cache import MediaCache, hydrated
from chalicelib.media.records import Media
from chalicelib.redis_client import REDIS_ERRORS
from chalicelib.shards.ids import shard_of
from chalicelib.shards.routing import Router
from chalicelib.tags import queries
from chalicelib.tags.index import TagIndex
from chalicelib.users.store import Summary

MAX_ID = 2**63 - 1
# IDs read beyond a page, so that a few filtered items need no second round.
SLACK = 5
# Rounds a page may take when many items are filtered out, before answering short
# (its next_max_id then carries on where it stopped).
MAX_ROUNDS = 3


@dataclass(frozen=True)
class TagPage:
    """A page of a tag, and the max_id of the next one (None: the end)."""

    items: list[FeedItem]
    next_max_id: int | None
    rebuilt: bool = False


class Tags:
    """Reads tag pages and searches tags."""

    def __init__(self, *, router: Router, index: TagIndex, media_cache: MediaCache) -> None:
        self._router = router
        self._index = index
        self._media_cache = media_cache

    def page(self, viewer: int, tag: str, max_id: int | None, count: int) -> TagPage:
        """Up to `count` of the tag's media older than `max_id`, newest first, that the
        viewer may see; DependencyUnavailable while Redis is down."""
        try:
            return self._page(viewer, tag, max_id or MAX_ID, count)
        except REDIS_ERRORS as exc:
            raise DependencyUnavailable("the tag index is unavailable; retry") from exc

    def search(self, prefix: str, count: int) -> list[tuple[str, int]]:
        """Tags starting with `prefix`, in name order, with their media counts."""
        try:
            return self._index.search(prefix, count)
        except REDIS_ERRORS as exc:
            raise DependencyUnavailable("the tag index is unavailable; retry") from exc

    def _page(self, viewer: int, tag: str, cursor: int, count: int) -> TagPage:
        items: list[FeedItem] = []
        rebuilt = False
        for _ in range(MAX_ROUNDS):
            wanted = count - len(items) + SLACK
            ids, was_rebuilt = self._index.page(tag, cursor, wanted)
            rebuilt |= was_rebuilt
            visible = self._visible(viewer, tag, ids) if ids else {}
            for media_id in ids:
                if media_id in visible:
                    items.append(visible[media_id])
                    if len(items) == count:
                        return TagPage(items, media_id, rebuilt)
            if len(ids) < wanted:
                return TagPage(items, None, rebuilt)
            cursor = ids[-1]
        return TagPage(items, cursor, rebuilt)

    def _visible(self, viewer: int, tag: str, ids: list[int]) -> dict[int, FeedItem]:
        media = hydrated(self._media_cache, self._router, ids)
        ready = {i: m for i, m in media.items() if m.status == records.READY}
        if not ready:
            return {}
        others = sorted({m.owner_id for m in ready.values()} - {viewer})
        following, blocking = (
            self._router.run_for_id(
                viewer, lambda c, s: feed_queries.relations(c, s, viewer, others)
            )
            if others
            else (set(), set())
        )
        by_shard = _by_shard(list(ready))
        rows = self._router.query_shards(
            by_shard,
            lambda shard, s: queries.owners_likes_and_tags(
                s,
                sorted({ready[i].owner_id for i in by_shard[shard]}),
                by_shard[shard],
                viewer,
                tag,
            ),
        )
        owners = {row[1]: Summary(*row[1:]) for row in rows if row[0] == queries.OWNER}
        liked = {row[1] for row in rows if row[0] == queries.LIKE}
        tagged = {row[1] for row in rows if row[0] == queries.TAGGED}

        def shown(m: Media) -> bool:
            owner = owners.get(m.owner_id)
            if owner is None or m.id not in tagged:
                return False
            if m.owner_id == viewer:
                return True
            if owner.blocks_viewer or m.owner_id in blocking:
                return False
            return not owner.is_private or m.owner_id in following

        return {
            i: FeedItem(m, owners[m.owner_id], i in liked) for i, m in ready.items() if shown(m)
        }


def _by_shard(ids: list[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for item in ids:
        groups[shard_of(item)].append(item)
    return groups
