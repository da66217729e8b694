"""Which media a caller may see, and pages of them read through a filter.

Every reading surface (the feed, tag pages, places, explore) shows only ready media
whose owner has no block either way with the caller; which owners count besides differs
by surface (an `Audience`). One pass hydrates the media (media/cache.py), reads the
caller's follows and blocks on the caller's shard, then the owners and the caller's likes
once per physical database.

A physical database that is down does not fail a page: the media it holds are left out
and the page is marked `partial` (the caller's own shard must answer, though: without
its follows and blocks nothing can be shown, and that is a 503).
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from psycopg2 import sql

from chalicelib.feed import queries
from chalicelib.media import records
from chalicelib.media.cache import MediaCache, hydrated
from chalicelib.media.records import Media
from chalicelib.shards.ids import shard_of
from chalicelib.shards.routing import Reached, Router
from chalicelib.users.store import Summary

# IDs read beyond a page, so that a few filtered items need no second round.
SLACK = 5
# Rounds a page may take when many items are filtered out, before answering short
# (its cursor then carries on where it stopped).
MAX_ROUNDS = 3

Position = TypeVar("Position")
Part = tuple[sql.Composable, list[Any]]
# One shard's part of the owners-and-likes query: (schema, owners, media IDs, viewer).
OwnersQuery = Callable[[sql.Identifier, list[int], list[int], int], Part]


@dataclass(frozen=True)
class FeedItem:
    """One media of a page, with what the reader sees of its owner."""

    media: Media
    owner: Summary
    liked: bool


class Audience(enum.Enum):
    """Whose media a surface shows, besides the rule that no block stands either way."""

    FOLLOWED = "followed"  # the feed: the caller's own and followed accounts'
    PUBLIC_OR_FOLLOWED = "public_or_followed"  # tag pages: also any public account's
    PUBLIC = "public"  # places: public accounts' only, the caller's own included
    PUBLIC_OTHERS = "public_others"  # explore: public accounts' but never the caller's

    def shows(self, *, own: bool, follows: bool, blocked: bool, private: bool) -> bool:
        """Whether a media is shown, given the caller's relation to its owner."""
        if self is Audience.FOLLOWED:
            return own or (follows and not blocked)
        if self is Audience.PUBLIC_OR_FOLLOWED:
            return own or (not blocked and (follows or not private))
        if self is Audience.PUBLIC:
            return not private and (own or not blocked)
        return not own and not private and not blocked


@dataclass(frozen=True)
class Visible:
    """The items a caller may see, by media ID; partial when a database holding some of
    the media or their owners did not answer (those are left out)."""

    items: dict[int, FeedItem]
    partial: bool = False


def visible_items(
    media_cache: MediaCache,
    router: Router,
    viewer: int,
    ids: list[int],
    audience: Audience,
    *,
    keep: Callable[[Media], bool] = lambda _: True,
    query: OwnersQuery = queries.owners_and_likes,
    require: str | None = None,
) -> Visible:
    """Of `ids`, the ready media that `keep` accepts and the audience lets the viewer
    see, as items by ID. `query` may add rows of kind `require`: then only media named by
    such a row are shown (a tag page's "still carries the tag")."""
    media, partial = hydrated(media_cache, router, ids)
    ready = {i: m for i, m in media.items() if m.status == records.READY and keep(m)}
    following, blocking = _relations(router, viewer, {m.owner_id for m in ready.values()})

    def shows(m: Media, private: bool = False, blocks_viewer: bool = False) -> bool:
        return audience.shows(
            own=m.owner_id == viewer,
            follows=m.owner_id in following,
            blocked=blocks_viewer or m.owner_id in blocking,
            private=private,
        )

    # Drop first what no owner's row could let through (a public owner, not blocking).
    candidates = {i: m for i, m in ready.items() if shows(m)}
    if not candidates:
        return Visible({}, partial)
    reached = _owner_rows(router, viewer, candidates, query)
    rows = reached.rows
    owners = {row[1]: Summary(*row[1:]) for row in rows if row[0] == queries.OWNER}
    liked = {row[1] for row in rows if row[0] == queries.LIKE}
    required = {row[1] for row in rows if row[0] == require}
    items = {
        i: FeedItem(m, owner, i in liked)
        for i, m in candidates.items()
        if (owner := owners.get(m.owner_id)) is not None
        and (require is None or i in required)
        and shows(m, owner.is_private, owner.blocks_viewer)
    }
    return Visible(items, partial or bool(reached.unreached))


@dataclass(frozen=True)
class Page(Generic[Position]):
    """Items of a page, and the position to read the next one from (None: the end);
    partial when a database that is down left some out."""

    items: list[FeedItem]
    next: Position | None
    rebuilt: bool
    partial: bool = False


def filtered_page(
    read: Callable[[Position, int], tuple[list[Position], bool]],
    visible: Callable[[list[int]], Visible],
    cursor: Position,
    count: int,
    media_id: Callable[[Position], int] = int,
) -> Page[Position]:
    """Up to `count` items: windows of positions after `cursor` from `read` (positions,
    rebuilt), each filtered by `visible`, for at most MAX_ROUNDS rounds."""
    items: list[FeedItem] = []
    rebuilt = partial = False
    for _ in range(MAX_ROUNDS):
        wanted = count - len(items) + SLACK
        positions, was_rebuilt = read(cursor, wanted)
        rebuilt |= was_rebuilt
        shown = visible([media_id(p) for p in positions]) if positions else Visible({})
        partial |= shown.partial
        for position in positions:
            item = shown.items.get(media_id(position))
            if item is not None:
                items.append(item)
                if len(items) == count:
                    return Page(items, position, rebuilt, partial)
        if len(positions) < wanted:
            return Page(items, None, rebuilt, partial)
        cursor = positions[-1]
    return Page(items, cursor, rebuilt, partial)


def _relations(router: Router, viewer: int, owners: set[int]) -> tuple[set[int], set[int]]:
    """Of the owners, whom the viewer follows and whom the viewer blocks."""
    others = sorted(owners - {viewer})
    if not others:
        return set(), set()
    return router.run_for_id(viewer, lambda c, s: queries.relations(c, s, viewer, others))


def _owner_rows(
    router: Router, viewer: int, media: dict[int, Media], query: OwnersQuery
) -> Reached:
    """The owners-and-likes rows of the media, one query per physical database (those
    that answer)."""
    by_shard: dict[int, list[int]] = defaultdict(list)
    for media_id in media:
        by_shard[shard_of(media_id)].append(media_id)
    return router.query_reachable_shards(
        by_shard,
        lambda shard, s: query(
            s, sorted({media[i].owner_id for i in by_shard[shard]}), by_shard[shard], viewer
        ),
    )
