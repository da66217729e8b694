"""Home feeds and recent-media lists: pushed to by fan-out, rebuilt from PostgreSQL.

`feed:{user}` holds the media of the user and the people they follow, newest first,
capped at FeedSettings.cap. A missing feed (a new user, a returning one whose feed
expired, a flushed or failed-over Redis) is rebuilt on read from the follow graph and
the followees' recent media: one query on the reader's shard, one per physical
database. `recent:{user}` holds a user's own recent media, for readers who pull a
celebrity's media at read time instead of receiving pushes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from psycopg2 import sql

from chalicelib import redis_keys
from chalicelib.config import FeedSettings
from chalicelib.feed.lists import IdLists
from chalicelib.shards.ids import shard_of
from chalicelib.shards.routing import Router
from chalicelib.users.activity import REFRESH_SECONDS, Activity

# A user's own recent media kept for pulling readers (a page or two of a celebrity).
RECENT_CAP = 100
MAX_ID = 2**63 - 1


class Timelines:
    """Feeds and recent-media lists over Redis, with PostgreSQL as their source."""

    def __init__(
        self,
        lists: IdLists,
        router: Router,
        settings: FeedSettings,
        feed_ttl_seconds: int,
        activity: Activity,
    ) -> None:
        self._lists = lists
        self._router = router
        self._settings = settings
        self._activity = activity
        # A feed lives as long as its reader counts as active (fan-out skips inactive
        # readers, so an older feed would be missing their followees' recent media).
        self._feed_ttl = feed_ttl_seconds

    def push(self, user_ids: Iterable[int], media_id: int) -> int:
        """Push a media onto the feeds of these users that exist; how many took it."""
        targets = [(redis_keys.feed(u), redis_keys.feed_rebuild(u)) for u in user_ids]
        if not targets:
            return 0
        return sum(1 for r in self._lists.push_many(targets, media_id, self._settings.cap) if r > 0)

    def push_each(self, pushes: Iterable[tuple[int, int]]) -> int:
        """Push each (user, media ID) onto the user's feed if it exists, pipelined; how
        many feeds took theirs."""
        targets = [(redis_keys.feed(u), redis_keys.feed_rebuild(u), m) for u, m in pushes]
        return sum(1 for r in self._lists.push_each(targets, self._settings.cap) if r > 0)

    def start_feeds(self, user_ids: Iterable[int]) -> int:
        """Build empty feeds for readers with nothing to read yet (what a rebuild finds
        for them), so that fan-out reaches them: `photofeed seed`, before any media."""
        users = list(user_ids)
        self._activity.mark_many(users)
        targets = [(redis_keys.feed(u), redis_keys.feed_rebuild(u)) for u in users]
        return self._lists.store_empty_many(targets, self._feed_ttl)

    def push_recent(self, owner_id: int, media_id: int) -> None:
        """Record a media among its owner's recent ones (if the list is built)."""
        target = (redis_keys.recent(owner_id), redis_keys.recent_rebuild(owner_id))
        self._lists.push_many([target], media_id, RECENT_CAP)

    def feed_page(self, user_id: int, max_id: int, count: int) -> tuple[list[int], bool]:
        """Up to `count` IDs of the user's feed below `max_id`, and whether the feed had
        to be rebuilt."""
        key = redis_keys.feed(user_id)
        found = self._lists.page(key, max_id, count, ttl_seconds=self._feed_ttl)
        if found is not None:
            return found, False
        rebuilt = self.rebuild_feed(user_id)
        return [i for i in rebuilt if i < max_id][:count], True

    def recent_pages(
        self, owner_ids: Iterable[int], max_id: int, count: int
    ) -> dict[int, list[int]]:
        """Each owner's recent media below `max_id` (rebuilt where missing)."""
        pages: dict[int, list[int]] = {}
        for owner in owner_ids:
            found = self._lists.page(redis_keys.recent(owner), max_id, count)
            if found is None:
                found = [i for i in self.rebuild_recent(owner) if i < max_id][:count]
            pages[owner] = found
        return pages

    def rebuild_feed(self, user_id: int) -> list[int]:
        """The user's feed from PostgreSQL (stored unless a push raced it); its IDs."""
        # Its reader is active, and Redis must know it (it may have lost the mark with
        # the feed) before the read: fan-out pushes from then on reach the new feed.
        self._activity.mark(user_id, surely=True)
        marker = redis_keys.feed_rebuild(user_id)
        token = self._lists.begin_rebuild(marker)
        followees = self._router.run_for_id(user_id, self._followees(user_id))
        ids = self.recent_media([user_id, *followees], self._settings.cap)
        self._lists.store(redis_keys.feed(user_id), marker, token, ids, self._feed_ttl)
        return ids

    def rebuild_recent(self, owner_id: int) -> list[int]:
        """The owner's recent media from PostgreSQL (stored unless a push raced it)."""
        marker = redis_keys.recent_rebuild(owner_id)
        token = self._lists.begin_rebuild(marker)
        ids = self.recent_media([owner_id], RECENT_CAP)
        self._lists.store(redis_keys.recent(owner_id), marker, token, ids, self._feed_ttl)
        return ids

    def merge_owner(self, user_id: int, owner_id: int, count: int = 40) -> int:
        """Bring an owner's recent media into a user's feed, if it exists (the user just
        began following them); how many went in."""
        recent = self.recent_pages([owner_id], MAX_ID, count)[owner_id]
        return self._lists.push_items(
            redis_keys.feed(user_id), redis_keys.feed_rebuild(user_id), recent, self._settings.cap
        )

    def recent_media(self, owners: list[int], limit: int) -> list[int]:
        """The newest ready media of these owners, newest first: one query per physical
        database (each shard's part limited on its own, the whole merged here)."""
        by_shard: dict[int, list[int]] = defaultdict(list)
        for owner in owners:
            by_shard[shard_of(owner)].append(owner)
        rows = self._router.query_shards(
            by_shard,
            lambda shard, s: (
                sql.SQL(
                    "SELECT id FROM {s}.media WHERE owner_id = ANY(%s) AND status = 'ready' "
                    "ORDER BY id DESC LIMIT %s"
                ).format(s=s),
                [by_shard[shard], limit],
            ),
        )
        return sorted((row[0] for row in rows), reverse=True)[:limit]

    def _followees(self, user_id: int):
        limit = self._settings.rebuild_followees

        def read(conn, schema: sql.Identifier) -> list[int]:
            with conn.cursor() as cursor:
                cursor.execute(
                    sql.SQL(
                        "SELECT target_id FROM {s}.follows WHERE source_id = %s "
                        "ORDER BY created_at DESC LIMIT %s"
                    ).format(s=schema),
                    [user_id, limit],
                )
                return [row[0] for row in cursor.fetchall()]

        return read


def timelines_of(clients: Any) -> Timelines:
    """The timelines of a deployment's clients (the API's and fan-out's alike)."""
    settings = clients.settings
    window = int(settings.auth.active_window_days * 86400)
    # Shorter than a reader's activity mark can last (it is refreshed at most every
    # REFRESH_SECONDS): a feed never outlives the pushes it relies on.
    ttl = max(window - 2 * int(REFRESH_SECONDS), 60)
    activity = Activity(clients.redis, settings.auth.active_window_days * 86400)
    return Timelines(IdLists(clients.redis), clients.router, settings.feed, ttl, activity)
