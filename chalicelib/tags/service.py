"""Tag pages and tag search as a caller sees them.

A tag page shows the tag's media the caller may see: ready (not pending, failed or
deleted), still carrying the tag, with no block either way between the caller and the
owner, and the owner public, followed by the caller, or the caller. Paging is by
`max_id`, as the feed's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from chalicelib.errors import DependencyUnavailable
from chalicelib.media.cache import MediaCache
from chalicelib.media.visible import Audience, FeedItem, Visible, filtered_page, visible_items
from chalicelib.redis_client import REDIS_ERRORS
from chalicelib.shards.routing import Router
from chalicelib.tags import queries
from chalicelib.tags.index import TagIndex

MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class TagPage:
    """A page of a tag, and the max_id of the next one (None: the end)."""

    items: list[FeedItem]
    next_max_id: int | None
    rebuilt: bool = False
    partial: bool = False


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
        page = filtered_page(
            lambda cursor, wanted: self._index.page(tag, cursor, wanted),
            lambda ids: self._visible(viewer, tag, ids),
            cursor,
            count,
        )
        return TagPage(page.items, page.next, page.rebuilt, page.partial)

    def _visible(self, viewer: int, tag: str, ids: list[int]) -> Visible:
        return visible_items(
            self._media_cache,
            self._router,
            viewer,
            ids,
            Audience.PUBLIC_OR_FOLLOWED,
            query=functools.partial(queries.owners_likes_and_tags, tag=tag),
            require=queries.TAGGED,
        )
