"""Explore as a caller sees it: recently liked media of public accounts, best first.

A page shows only media the caller may see here: ready, posted within the window, the
owner public now (private accounts' media never appear, not even to their followers),
no block either way, and not the caller's own.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.errors import DependencyUnavailable
from chalicelib.explore import queries
from chalicelib.explore.index import ExploreIndex, Ranked, oldest_id
from chalicelib.feed import queries as feed_queries
from chalicelib.feed.reader import FeedItem
from chalicelib.media import records
from chalicelib.media.cache import MediaCache, hydrated
from chalicelib.media.records import Media
from chalicelib.redis_client import REDIS_ERRORS
from chalicelib.shards.ids import shard_of
from chalicelib.shards.routing import Router
from chalicelib.users.store import Summary

# Items read beyond a page, so that a few filtered ones need no second round.
SLACK = 5
# Rounds a page may take when many items are filtered out, before answering short
# (its cursor then carries on where it stopped).
MAX_ROUNDS = 3


@dataclass(frozen=True)
class ExplorePage:
    """A page, best first, and the position of its last item when more may follow."""

    items: list[FeedItem]
    next: Ranked | None
    rebuilt: bool = False


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
        items: list[FeedItem] = []
        rebuilt = False
        for _ in range(MAX_ROUNDS):
            wanted = count - len(items) + SLACK
            ranked, was_rebuilt = self._index.page(after, wanted)
            rebuilt |= was_rebuilt
            visible = self._visible(viewer, [int(member) for _, member in ranked])
            for position in ranked:
                item = visible.get(int(position[1]))
                if item is not None:
                    items.append(item)
                    if len(items) == count:
                        return ExplorePage(items, position, rebuilt)
            if len(ranked) < wanted:
                return ExplorePage(items, None, rebuilt)
            after = ranked[-1]
        return ExplorePage(items, after, rebuilt)

    def _visible(self, viewer: int, ids: list[int]) -> dict[int, FeedItem]:
        oldest = oldest_id(self._clock())
        self._index.forget([i for i in ids if i < oldest])
        media = hydrated(self._media_cache, self._router, [i for i in ids if i >= oldest])
        ready = {
            i: m for i, m in media.items() if m.status == records.READY and m.owner_id != viewer
        }
        if not ready:
            return {}
        others = sorted({m.owner_id for m in ready.values()})
        _, blocking = self._router.run_for_id(
            viewer, lambda c, s: feed_queries.relations(c, s, viewer, others)
        )
        by_shard = _by_shard(list(ready))
        rows = self._router.query_shards(
            by_shard,
            lambda shard, s: queries.owners_and_likes(
                s, sorted({ready[i].owner_id for i in by_shard[shard]}), by_shard[shard], viewer
            ),
        )
        owners = {row[1]: Summary(*row[1:]) for row in rows if row[0] == queries.OWNER}
        liked = {row[1] for row in rows if row[0] == queries.LIKE}

        def shown(m: Media) -> bool:
            owner = owners.get(m.owner_id)
            return (
                owner is not None
                and not owner.is_private
                and not owner.blocks_viewer
                and m.owner_id not in blocking
            )

        return {
            i: FeedItem(m, owners[m.owner_id], i in liked) for i, m in ready.items() if shown(m)
        }


def _by_shard(ids: list[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for item in ids:
        groups[shard_of(item)].append(item)
    return groups
