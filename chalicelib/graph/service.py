"""The follow graph: follows, follow requests, blocks, and the lists they make.

A follow touches two shards: `follows` on the source's (the truth of "A follows B")
and `followers` on the target's (the index lists and fan-out read). Every operation
writes the truth first and the index second, one transaction each, and every step is
idempotent: a crash between the halves is finished (or undone) by the next attempt of
the same operation, or by `photofeed graph repair`, which makes the index agree with
the truth (chalicelib.graph.repair).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

from chalicelib.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from chalicelib.graph import store
from chalicelib.graph.store import Edge, Position
from chalicelib.shards.ids import shard_of
from chalicelib.shards.routing import Router
from chalicelib.users.counters import Counters
from chalicelib.users.store import Summary, User, summaries_query

if TYPE_CHECKING:
    from chalicelib.activity.service import ActivityRecorder
    from chalicelib.notifications.outbox import Outbox

T = TypeVar("T")
# How many pending requests one page of approvals handles (going public approves all).
_APPROVE_BATCH = 500


@dataclass(frozen=True)
class Relationship:
    """How the viewer and another user stand."""

    following: bool = False  # the viewer follows them
    followed_by: bool = False  # they follow the viewer
    requested: bool = False  # the viewer asked to follow them (pending)
    requested_by: bool = False  # they asked to follow the viewer (pending)
    blocking: bool = False  # the viewer blocks them
    blocked_by: bool = False  # they block the viewer


@dataclass(frozen=True)
class Look:
    """A user as a viewer finds them: their row and how the two stand."""

    viewer: int
    user: User
    relationship: Relationship

    @property
    def hidden(self) -> bool:
        """A block, either way, hides each from the other."""
        return self.relationship.blocking or self.relationship.blocked_by

    @property
    def content_visible(self) -> bool:
        """Whether the viewer may see the user's lists and media."""
        if self.viewer == self.user.id:
            return True
        return not self.hidden and (not self.user.is_private or self.relationship.following)


@dataclass(frozen=True)
class Page:
    """One page of users, and where the next one starts (None: the last page)."""

    items: list[Summary]
    next: Position | None


class Graph:
    """Follows, requests and blocks between users, on their shards."""

    def __init__(
        self,
        router: Router,
        counters: Counters,
        followed: Callable[[int, int], None] = lambda source, target: None,
        activity: ActivityRecorder | None = None,
        notify: Outbox | None = None,
    ) -> None:
        self._router = router
        self._counters = counters
        # Told (source, target) once a follow is made: the source's feed takes in the
        # target's recent media.
        self._followed = followed
        # Told of follows, requests and approvals once they commit (activity feeds).
        self._activity = activity
        # Told of follows and requests once they commit (push notifications).
        self._notify = notify

    def look(self, viewer: int, target: int) -> Look:
        """The target as the viewer finds them; NotFound if there is no such user."""
        if not self._router.holds(target):
            raise NotFound("no such user")
        row = self._on(target, lambda conn, s: store.target_side(conn, s, viewer, target))
        if row is None:
            raise NotFound("no such user")
        user = User(*row[:7])
        if viewer == target:
            return Look(viewer, user, Relationship())
        blocked_by, followed_by, requested = row[7:]
        following, blocking, requested_by = self._on(
            viewer, lambda conn, s: store.viewer_side(conn, s, viewer, target)
        )
        relationship = Relationship(
            following, followed_by, requested, requested_by, blocking, blocked_by
        )
        return Look(viewer, user, relationship)

    def visible(self, viewer: int, target: int) -> Look:
        """The target as the viewer finds them; NotFound also when a block stands between."""
        look = self.look(viewer, target)
        if look.hidden:
            raise NotFound("no such user")
        return look

    def follow(self, viewer: int, target: int) -> Relationship:
        """Follow the target, or ask to when their account is private."""
        look = self._other(viewer, target, "follow")
        if look.relationship.blocked_by:
            raise NotFound("no such user")
        if look.relationship.blocking:
            raise Conflict("you block this user: unblock them first")
        if look.relationship.following or not look.user.is_private:
            self._link(viewer, target)  # when already following: finishes a half-done follow
            return replace(look.relationship, following=True, requested=False)
        self._on(target, lambda c, s: store.add(c, s, "follow_requests", target, viewer))
        if self._activity is not None:
            self._activity.requested(viewer, target)
        if self._notify is not None:
            self._notify.requested(viewer, target)
        return replace(look.relationship, requested=True)

    def follow_many(self, pairs: list[tuple[int, int]]) -> int:
        """Make many follows of public accounts at once, (source, target) each: the
        truth on the sources' shards, then the index on the targets' (one statement per
        shard each, the order and idempotence of `follow`); how many were new.

        For `photofeed seed`: no looks, feed merges or activity entries (those are
        built from these rows when read), and the counters of the users touched are
        dropped, to be recounted at their next read.
        """
        truth: dict[int, list[tuple[int, int]]] = defaultdict(list)
        index: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for source, target in pairs:
            if source != target:
                truth[shard_of(source)].append((source, target))
                index[shard_of(target)].append((target, source))
        added = 0
        for edge, by_shard in (("follows", truth), ("followers", index)):
            for shard, rows in sorted(by_shard.items()):
                made = self._router.run(
                    shard, lambda c, s, e=edge, r=rows: store.add_many(c, s, e, r)
                )
                added += made if edge == "follows" else 0
        self._counters.forget({user for pair in pairs for user in pair})
        return added

    def unfollow(self, viewer: int, target: int) -> Relationship:
        """Stop following the target, or withdraw a pending request."""
        look = self._other(viewer, target, "unfollow")
        if look.relationship.blocked_by:
            raise NotFound("no such user")
        self._unlink(viewer, target)
        return replace(look.relationship, following=False, requested=False)

    def approve(self, owner: int, requester: int) -> None:
        """Approve a pending follow request (again: finishes a half-done approval)."""
        if not self._router.holds(requester) or owner == requester:
            raise NotFound("no follow request from this user")
        if self.look(owner, requester).hidden:  # a request left behind by a half-done block
            raise NotFound("no follow request from this user")
        pending = self._on(
            owner, lambda c, s: store.exists(c, s, "follow_requests", owner, requester)
        )
        approved = pending or self._on(
            requester, lambda c, s: store.exists(c, s, "follows", requester, owner)
        )
        if not approved:
            raise NotFound("no follow request from this user")
        self._link(requester, owner, approved=True)

    def deny(self, owner: int, requester: int) -> None:
        """Refuse a follow request (nothing to refuse is fine: the same end state)."""
        if self._router.holds(requester):
            self._on(owner, lambda c, s: store.remove(c, s, "follow_requests", owner, requester))

    def approve_all(self, owner: int) -> int:
        """Approve every pending request (an account going public); how many."""
        approved = 0
        while True:
            rows = self._on(
                owner,
                lambda c, s: store.page(
                    c, s, "follow_requests", owner, after=None, limit=_APPROVE_BATCH
                ),
            )
            for requester, _ in rows:
                self._link(requester, owner, approved=True)
            approved += len(rows)
            if len(rows) < _APPROVE_BATCH:
                return approved

    def block(self, viewer: int, target: int) -> Relationship:
        """Block the target: every follow and request between the two goes, both ways."""
        look = self._other(viewer, target, "block")

        def blocker_side(conn, s) -> tuple[bool, bool]:
            store.add(conn, s, "blocks", viewer, target)
            store.remove(conn, s, "follow_requests", viewer, target)
            return (
                store.remove(conn, s, "follows", viewer, target),
                store.remove(conn, s, "followers", viewer, target),
            )

        def blocked_side(conn, s) -> tuple[bool, bool]:
            store.remove(conn, s, "follow_requests", target, viewer)
            return (
                store.remove(conn, s, "follows", target, viewer),
                store.remove(conn, s, "followers", target, viewer),
            )

        for user, side in ((viewer, blocker_side), (target, blocked_side)):
            self._counted(
                user,
                side,
                lambda result, u=user: [(u, "following", -result[0]), (u, "followers", -result[1])],
            )
        return Relationship(blocking=True, blocked_by=look.relationship.blocked_by)

    def unblock(self, viewer: int, target: int) -> Relationship:
        """Lift a block (follows it removed stay removed)."""
        look = self._other(viewer, target, "unblock")
        self._on(viewer, lambda c, s: store.remove(c, s, "blocks", viewer, target))
        return replace(look.relationship, blocking=False)

    def followers(self, viewer: int, owner: int, after: Position | None, limit: int) -> Page:
        """Who follows `owner`, newest first, as the viewer may see them."""
        return self._list(viewer, owner, "followers", after, limit)

    def following(self, viewer: int, owner: int, after: Position | None, limit: int) -> Page:
        """Whom `owner` follows, newest first, as the viewer may see them."""
        return self._list(viewer, owner, "follows", after, limit)

    def requests(self, owner: int, after: Position | None, limit: int) -> Page:
        """Who asked to follow `owner`, newest first."""
        return self._page(owner, owner, "follow_requests", after, limit)

    def summaries(self, viewer: int, ids: list[int]) -> dict[int, Summary]:
        """Users by ID as lists show them, leaving out any with a block between them
        and the viewer (one query per physical database, one on the viewer's shard)."""
        by_shard: dict[int, list[int]] = defaultdict(list)
        for user_id in ids:
            if self._router.holds(user_id):
                by_shard[shard_of(user_id)].append(user_id)
        if not by_shard:
            return {}
        rows = self._router.query_shards(
            by_shard, lambda shard, s: summaries_query(s, by_shard[shard], viewer)
        )
        blocked = self._on(viewer, lambda c, s: store.blocked_among(c, s, viewer, ids))
        return {row[0]: Summary(*row) for row in rows if not row[4] and row[0] not in blocked}

    def _list(
        self, viewer: int, owner: int, edge: Edge, after: Position | None, limit: int
    ) -> Page:
        if not self.visible(viewer, owner).content_visible:
            raise PermissionDenied("this account is private")
        return self._page(viewer, owner, edge, after, limit)

    def _page(
        self, viewer: int, owner: int, edge: Edge, after: Position | None, limit: int
    ) -> Page:
        rows = self._on(
            owner, lambda c, s: store.page(c, s, edge, owner, after=after, limit=limit + 1)
        )
        shown = rows[:limit]
        found = self.summaries(viewer, [user_id for user_id, _ in shown])
        items = [found[user_id] for user_id, _ in shown if user_id in found]
        last = shown[-1] if len(rows) > limit else None
        return Page(items, (last[1], last[0]) if last else None)

    def _link(self, source: int, target: int, approved: bool = False) -> None:
        """The two halves of a follow: the truth (when `approved`, marked as an approved
        request), then the index (and the request goes)."""

        def truth(conn, s) -> bool:
            added = store.add(conn, s, "follows", source, target)
            if approved:
                store.mark_approved(conn, s, source, target)
            return added

        def index(conn, s) -> bool:
            store.remove(conn, s, "follow_requests", target, source)
            return store.add(conn, s, "followers", target, source)

        self._counted(source, truth, lambda added: [(source, "following", +added)])
        self._counted(target, index, lambda added: [(target, "followers", +added)])
        self._followed(source, target)
        if self._activity is not None:
            self._activity.followed(source, target)
            if approved:
                self._activity.approved(target, source)
        if self._notify is not None and not approved:  # the approver knows already
            self._notify.followed(source, target)

    def _unlink(self, source: int, target: int) -> None:
        """The two halves of an unfollow, truth first (a pending request goes too)."""

        def index(conn, s) -> bool:
            store.remove(conn, s, "follow_requests", target, source)
            return store.remove(conn, s, "followers", target, source)

        self._counted(
            source,
            lambda c, s: store.remove(c, s, "follows", source, target),
            lambda removed: [(source, "following", -removed)],
        )
        self._counted(target, index, lambda removed: [(target, "followers", -removed)])

    def _other(self, viewer: int, target: int, verb: str) -> Look:
        if viewer == target:
            raise InvalidInput(f"you cannot {verb} yourself")
        return self.look(viewer, target)

    def _counted(
        self,
        user_id: int,
        work: Callable[..., T],
        changes: Callable[[T], list[tuple[int, str, int]]],
    ) -> T:
        """Run `work` on the user's shard, then apply the counter changes its result
        makes (announced first: see chalicelib.users.counters)."""
        with self._counters.changing([user_id]) as changed:
            result = self._on(user_id, work)
            changed.extend(change for change in changes(result) if change[2])
        return result

    def _on(self, user_id: int, work: Callable[..., T]) -> T:
        return self._router.run_for_id(user_id, work)
