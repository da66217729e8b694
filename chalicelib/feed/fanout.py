"""Fan-out on write: a ready media's ID pushed onto its audience's feeds.

    media ready -> own feed, recent list, tags' lists, its place -> celebrity? stop (readers pull)
                -> audience <= one chunk? push now : split into chunk messages
    chunk       -> followers in (after, through], a page at a time
                -> the recently active among them -> push

Only recently active followers are pushed to (a returning user's feed is rebuilt),
so work follows readers. Every push is idempotent (a feed holds an ID once, in time
order), so a duplicated, redelivered or half-done-then-retried event leaves each feed
as one clean run would; a media deleted meanwhile counts as done.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from psycopg2 import sql

from chalicelib import redis_keys
from chalicelib.config import FeedSettings
from chalicelib.feed.events import FanoutChunk, MediaReady
from chalicelib.feed.timelines import MAX_ID, Timelines, timelines_of
from chalicelib.media import records
from chalicelib.media.records import Media
from chalicelib.places.index import GeoIndex, geo_index_of
from chalicelib.shards.ids import shard_of
from chalicelib.shards.routing import Router
from chalicelib.tags.index import TagIndex, tag_index_of
from chalicelib.users.activity import Activity
from chalicelib.users.counters import Counters

# Followers read (and checked for activity, and pushed to) per round trip.
PAGE = 1_000


@dataclass(frozen=True)
class Fanned:
    """What one message did."""

    audience: int = 0  # followers considered
    pushed: int = 0  # feeds that took the media
    chunks: int = 0  # chunk messages sent on
    celebrity: bool = False
    gone: bool = False  # the media is no longer ready (deleted): nothing to do


class FanOut:
    """Pushes media onto feeds."""

    def __init__(
        self,
        *,
        router: Router,
        timelines: Timelines,
        activity: Activity,
        counters: Counters,
        cache: redis.Redis,
        send: Callable[[FanoutChunk], None],
        settings: FeedSettings,
        tags: TagIndex,
        places: GeoIndex,
    ) -> None:
        self._router = router
        self._timelines = timelines
        self._activity = activity
        self._counters = counters
        self._cache = cache
        self._send = send
        self._settings = settings
        self._tags = tags
        self._places = places

    def media_ready(self, event: MediaReady) -> Fanned:
        """Start a ready media's fan-out."""
        media = self._ready(event.media_id)
        if media is None:
            return Fanned(gone=True)
        self._timelines.push([event.owner_id], event.media_id)
        self._timelines.push_recent(event.owner_id, event.media_id)
        self._tags.media_ready(event.media_id)
        self._index_place(media)
        followers = self._counters.get(event.owner_id).followers
        if self._is_celebrity(followers):
            self._cache.sadd(redis_keys.celebrities(), event.owner_id)
            return Fanned(audience=followers, celebrity=True)
        chunks = self._chunks(event)
        if len(chunks) == 1:
            return self.chunk(chunks[0])
        for chunk in chunks:
            self._send(chunk)
        return Fanned(audience=followers, chunks=len(chunks))

    def chunk(self, chunk: FanoutChunk) -> Fanned:
        """Push a media to the active followers of one slice of its audience."""
        if self._ready(chunk.media_id) is None:
            return Fanned(gone=True)
        audience = pushed = 0
        after = chunk.after
        while True:
            followers = self._router.run_for_id(
                chunk.owner_id, _followers(chunk.owner_id, after, chunk.through, PAGE)
            )
            if not followers:
                return Fanned(audience=audience, pushed=pushed)
            active = self._activity.active_among(followers)
            pushed += self._timelines.push(active, chunk.media_id)
            audience += len(followers)
            after = followers[-1]

    def media_ready_many(self, media: list[tuple[int, int]]) -> Fanned:
        """Fan out many ready (media ID, owner ID) at once, by media_ready's and chunk's
        rules (the owner's feed; no pushes for a celebrity, who joins the set readers
        pull from; otherwise the active followers' feeds), each owner's followers read
        once and every push pipelined (`photofeed seed`). Recent-media, tag and place
        lists are left to be rebuilt when read."""
        by_owner: dict[int, list[int]] = defaultdict(list)
        for media_id, owner_id in media:
            by_owner[owner_id].append(media_id)
        owners_on: dict[int, list[int]] = defaultdict(list)
        for owner_id in by_owner:
            owners_on[shard_of(owner_id)].append(owner_id)
        followers = self._router.query_shards(
            owners_on, lambda shard, s: _followers_of(s, owners_on[shard])
        )
        audiences: dict[int, list[int]] = defaultdict(list)
        for owner_id, follower in followers:
            audiences[owner_id].append(follower)
        active = self._activity.active_among({f for _, f in followers})
        pushes: list[tuple[int, int]] = []
        celebrities = {o for o in by_owner if self._is_celebrity(len(audiences[o]))}
        for owner_id, ids in by_owner.items():
            readers = [owner_id]
            if owner_id not in celebrities:
                readers += [f for f in audiences[owner_id] if f in active]
            pushes += [(reader, media_id) for reader in readers for media_id in ids]
        if celebrities:
            self._cache.sadd(redis_keys.celebrities(), *celebrities)
        return Fanned(
            audience=len(followers),
            pushed=self._timelines.push_each(pushes),
            celebrity=bool(celebrities),
        )

    def _is_celebrity(self, followers: int) -> bool:
        """Whether an owner with this many followers is pulled by readers, not pushed."""
        return followers >= self._settings.celebrity_followers

    def _chunks(self, event: MediaReady) -> list[FanoutChunk]:
        """The audience cut into slices of chunk_size followers by follower ID (reading
        one boundary per slice, not every ID)."""
        bounds: list[tuple[int, int]] = []
        after = 0
        while True:
            boundary = self._router.run_for_id(
                event.owner_id, _boundary(event.owner_id, after, self._settings.chunk_size)
            )
            if boundary is None:
                bounds.append((after, MAX_ID))
                break
            bounds.append((after, boundary))
            after = boundary
        return [
            FanoutChunk(
                media_id=event.media_id,
                owner_id=event.owner_id,
                uploaded_at=event.uploaded_at,
                after=first,
                through=last,
            )
            for first, last in bounds
        ]

    def _ready(self, media_id: int) -> Media | None:
        found = self._router.run_for_id(media_id, lambda c, s: records.load(c, s, media_id))
        return found[0] if found is not None and found[0].status == records.READY else None

    def _index_place(self, media: Media) -> None:
        if media.location is not None:
            self._places.media_ready(media.id, media.location.latitude, media.location.longitude)


def _followers(owner_id: int, after: int, through: int, limit: int):
    def read(conn, schema: sql.Identifier) -> list[int]:
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL(
                    "SELECT source_id FROM {s}.followers WHERE target_id = %s "
                    "AND source_id > %s AND source_id <= %s ORDER BY source_id LIMIT %s"
                ).format(s=schema),
                [owner_id, after, through, limit],
            )
            return [row[0] for row in cursor.fetchall()]

    return read


def _followers_of(schema: sql.Identifier, owners: list[int]) -> tuple[sql.Composable, list]:
    """The part, for one shard, of a query for the (owner, follower) rows of many owners."""
    return (
        sql.SQL("SELECT target_id, source_id FROM {s}.followers WHERE target_id = ANY(%s)").format(
            s=schema
        ),
        [owners],
    )


def _boundary(owner_id: int, after: int, size: int):
    def read(conn, schema: sql.Identifier) -> int | None:
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL(
                    "SELECT source_id FROM {s}.followers WHERE target_id = %s AND source_id > %s "
                    "ORDER BY source_id OFFSET %s LIMIT 1"
                ).format(s=schema),
                [owner_id, after, size - 1],
            )
            row = cursor.fetchone()
        return row[0] if row else None

    return read


def fanout_of(clients: Any, send: Callable[[FanoutChunk], None]) -> FanOut:
    """The fan-out of a deployment's clients (the fan-out Lambda's, and the seed's)."""
    settings = clients.settings
    return FanOut(
        router=clients.router,
        timelines=timelines_of(clients),
        activity=Activity(clients.redis, settings.auth.active_window_days * 86400),
        counters=Counters(clients.redis, clients.router),
        cache=clients.redis,
        send=send,
        settings=settings.feed,
        tags=tag_index_of(clients),
        places=geo_index_of(clients),
    )
