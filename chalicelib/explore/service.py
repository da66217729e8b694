"""Explore as a caller sees it: recently liked media of public accounts, best first.

A page shows only media the caller may see here: ready, posted within the window, the
owner public now (private accounts' media never appear, not even to their followers),
no block either way, and not the caller's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.errors import DependencyUnavailable
from chalicelib.explore.index import ExploreIndex, Ranked, oldest_id
from chalicelib.media.cache import MediaCache
from chalicelib.media.visible import Audience, FeedItem, Visible, filtered_page, visible_items
from chalicelib.redis_client import REDIS_ERRORS
from chalicelib.shards.routing import Router


@dataclass(frozen=True)
class ExplorePage:
    """A page, best first, and the position of its last item when more may follow."""

    items: list[FeedItem]
    next: Ranked | None
    rebuilt: bool = False
    partial: bool = False


class Explore:
    """Reads explore pages."""

    def __init__(
        self,
        *,
        router: Router,
        index: ExploreIndex,
        media_cache: MediaCache,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._router = router
        self._index = index
        self._media_cache = media_cache
        self._clock = clock

    def page(self, viewer: int, after: Ranked | None, count: int) -> ExplorePage:
        """Up to `count` media ranked below `after` that the viewer may see;
        DependencyUnavailable while Redis is down."""
        try:
            return self._page(viewer, after, count)
        except REDIS_ERRORS as exc:
            raise DependencyUnavailable("the explore index is unavailable; retry") from exc

    def _page(self, viewer: int, after: Ranked | None, count: int) -> ExplorePage:
        page = filtered_page(
            self._index.page,
            lambda ids: self._visible(viewer, ids),
            after,
            count,
            media_id=lambda position: int(position[1]),
        )
        return ExplorePage(page.items, page.next, page.rebuilt, page.partial)

    def _visible(self, viewer: int, ids: list[int]) -> Visible:
        oldest = oldest_id(self._clock())
        self._index.forget([i for i in ids if i < oldest])
        return visible_items(
            self._media_cache,
            self._router,
            viewer,
            [i for i in ids if i >= oldest],
            Audience.PUBLIC_OTHERS,
        )
