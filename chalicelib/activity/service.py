"""The activity feed: what happened to a user, newest first.

Recording: after a like, comment, follow, follow request or approval commits, its entry
(timed by the row it wrote) goes onto the recipient's list, if the list exists.

Reading: the whole list (at most CAP entries) is read in one round trip, rebuilt from
the user's shard when missing, and filtered: an entry shows only while its event still
stands (one query on the user's shard: so unlike, uncomment, unfollow, deny, a deleted
media or a block, which ends follows and requests, need no surgery on the lists), and
never across a block either way (Graph.summaries).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chalicelib.activity import queries
from chalicelib.activity.entries import (
    COMMENT,
    FOLLOW,
    FOLLOW_APPROVED,
    FOLLOW_REQUEST,
    LIKE,
    Entry,
    micros_of,
    newest_first,
)
from chalicelib.activity.lists import CAP, ActivityLists
from chalicelib.errors import DependencyUnavailable
from chalicelib.graph.service import Graph
from chalicelib.redis_client import REDIS_ERRORS
from chalicelib.shards.routing import Router
from chalicelib.users.store import Summary

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActivityItem:
    """An entry with its actor as the reader sees them."""

    entry: Entry
    actor: Summary


@dataclass(frozen=True)
class ActivityPage:
    """A page, newest first, and the position of its last item when more follow."""

    items: list[ActivityItem]
    next: tuple[int, int] | None
    rebuilt: bool = False


class ActivityRecorder:
    """Pushes entries after their domain writes commit. Redis being away loses nothing
    for good: the list is rebuilt from PostgreSQL once it has gone."""

    def __init__(self, lists: ActivityLists, router: Router) -> None:
        self._lists = lists
        self._router = router

    def liked(self, owner_id: int, actor_id: int, media_id: int) -> None:
        self._record(LIKE, owner_id, actor_id, media_id)

    def commented(self, owner_id: int, actor_id: int, media_id: int, comment_id: int, at) -> None:
        if owner_id != actor_id:
            entry = Entry(COMMENT, actor_id, media_id, comment_id, micros_of(at))
            self._push(owner_id, entry)

    def followed(self, source: int, target: int) -> None:
        self._record(FOLLOW, target, source)

    def requested(self, source: int, target: int) -> None:
        self._record(FOLLOW_REQUEST, target, source)

    def approved(self, owner: int, requester: int) -> None:
        self._record(FOLLOW_APPROVED, requester, owner)

    def _record(self, kind: str, user_id: int, actor_id: int, media_id: int = 0) -> None:
        if user_id == actor_id:
            return
        at = self._router.run_for_id(
            user_id,
            lambda c, s: queries.happened_at(
                c, s, kind, user_id=user_id, actor_id=actor_id, media_id=media_id
            ),
        )
        if at is not None:  # undone already: nothing to show
            self._push(user_id, Entry(kind, actor_id, media_id, 0, micros_of(at)))

    def _push(self, user_id: int, entry: Entry) -> None:
        try:
            self._lists.push(user_id, entry)
        except REDIS_ERRORS:
            logger.warning("activity push skipped", exc_info=True)


class ActivityFeed:
    """Reads users' activity pages."""

    def __init__(self, lists: ActivityLists, router: Router, graph: Graph) -> None:
        self._lists = lists
        self._router = router
        self._graph = graph

    def page(self, user_id: int, after: tuple[int, int] | None, count: int) -> ActivityPage:
        """Up to `count` items older than `after` (micros, entry ID), newest first;
        DependencyUnavailable while Redis is down."""
        try:
            entries, rebuilt = self._entries(user_id)
        except REDIS_ERRORS as exc:
            raise DependencyUnavailable("the activity store is unavailable; retry") from exc
        older = [e for e in entries if after is None or e.position < after]
        shown = self._visible(user_id, older)
        last = shown[count - 1].entry.position if len(shown) > count else None
        return ActivityPage(shown[:count], last, rebuilt)

    def _entries(self, user_id: int) -> tuple[list[Entry], bool]:
        found = self._lists.read(user_id)
        if found is not None:
            return newest_first(found), False
        return self.rebuild(user_id), True

    def rebuild(self, user_id: int) -> list[Entry]:
        """The user's list from their shard (stored unless a push raced it); its entries."""
        token = self._lists.begin_rebuild(user_id)
        rows = self._router.run_for_id(user_id, lambda c, s: queries.rebuild(c, s, user_id, CAP))
        entries = newest_first(rows)[:CAP]
        self._lists.store(user_id, token, entries)
        return entries

    def _visible(self, user_id: int, entries: list[Entry]) -> list[ActivityItem]:
        if not entries:
            return []
        standing = self._router.run_for_id(
            user_id, lambda c, s: queries.standing(c, s, user_id, entries)
        )
        kept = [e for e in entries if e.member in standing]
        actors = self._graph.summaries(user_id, sorted({e.actor_id for e in kept}))
        return [ActivityItem(e, actors[e.actor_id]) for e in kept if e.actor_id in actors]
