"""Fan-out and feed reads built as the Lambda and the API build them, over the stack's
datastores, but with feed settings of the test's choosing; fan-outs that die half-way;
and audiences of made-up followers, cheap enough for chunks of 100."""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from psycopg2 import sql
from psycopg2.extras import execute_values

from chalicelib import redis_keys
from chalicelib.clients import Clients
from chalicelib.config import FeedSettings, Settings
from chalicelib.feed.events import FanoutChunk
from chalicelib.feed.fanout import Fanned, FanOut
from chalicelib.feed.lists import EMPTY
from chalicelib.feed.reader import FeedReader
from chalicelib.feed.timelines import Timelines, timelines_of
from chalicelib.graph.service import Graph
from chalicelib.media.cache import MediaCache
from chalicelib.media.records import Media
from chalicelib.places.index import geo_index_of
from chalicelib.shards.ids import EPOCH_MS, encode
from chalicelib.tags.index import tag_index_of
from chalicelib.users.activity import Activity
from chalicelib.users.counters import Counters
from tests.feed.feeds import ready_event

# A made-up follower's shard: outside the deployment's, so no real user is ever hit.
MADE_UP_SHARD = 8191


class Fanning:
    """Fan-out as the Lambda builds it, over the stack's datastores, with feed settings of
    the test's own; the chunk messages it sends are collected in `sent` (and passed on to
    `forward`, if given)."""

    def __init__(
        self,
        clients: Clients,
        settings: FeedSettings,
        *,
        forward: Callable[[FanoutChunk], None] | None = None,
        timelines: Timelines | DyingTimelines | None = None,
    ) -> None:
        self.settings = settings
        self.sent: list[FanoutChunk] = []
        self._forward = forward
        self.timelines = timelines or timelines_with(clients, settings)
        window = clients.settings.auth.active_window_days * 86400
        self.fanout = FanOut(
            router=clients.router,
            timelines=self.timelines,
            activity=Activity(clients.redis, window),
            counters=Counters(clients.redis, clients.router),
            cache=clients.redis,
            send=self._send,
            settings=settings,
            tags=tag_index_of(clients),
            places=geo_index_of(clients),
        )

    def _send(self, chunk: FanoutChunk) -> None:
        self.sent.append(chunk)
        if self._forward is not None:
            self._forward(chunk)

    def ready(self, media: Media) -> Fanned:
        """Fan a media out, and its chunks (as the queue would deliver them)."""
        before = len(self.sent)
        started = self.fanout.media_ready(ready_event(media))
        for chunk in self.sent[before:]:
            self.fanout.chunk(chunk)
        return started


class Killed(BaseException):
    """The process died here: nothing catches it (as nothing survives a SIGKILL)."""


class DyingTimelines:
    """Timelines that stop half-way through a push, after `budget` more feeds: the process
    dies (Killed), or `death` is raised. Everything else is the wrapped timelines'."""

    def __init__(self, timelines: Timelines, budget: int, death: type[BaseException] = Killed):
        self._timelines = timelines
        self.budget = budget
        self.death = death

    def __getattr__(self, name: str) -> Any:
        return getattr(self._timelines, name)

    def push(self, user_ids: Iterable[int], media_id: int) -> int:
        users = list(user_ids)
        if len(users) <= self.budget:
            self.budget -= len(users)
            return self._timelines.push(users, media_id)
        self._timelines.push(users[: self.budget], media_id)
        self.budget = 0
        raise self.death("died half-way through a push")


def timelines_with(clients: Clients, feed: FeedSettings) -> Timelines:
    """Timelines as the deployment builds them (its feed TTL), with these feed settings."""
    settings = clients.settings.model_copy(update={"feed": feed})
    return timelines_of(
        SimpleNamespace(settings=settings, redis=clients.redis, router=clients.router)
    )


def reader_with(
    clients: Clients, settings: Settings, shedding: Callable[[], bool] = lambda: False
) -> FeedReader:
    """A feed reader as the API builds it (chalicelib.api.deps.get_feed), but with a fresh
    view of the celebrity set and the test's shedding switch. It is given whichever of the
    API's dependencies its constructor takes, so the helper follows the reader's wiring."""
    counters = Counters(clients.redis, clients.router)
    dependencies = {
        "router": clients.router,
        "graph": Graph(clients.router, counters),
        "timelines": timelines_with(clients, settings.feed),
        "media_cache": MediaCache(clients.redis, settings.feed.media_cache_seconds),
        "cache": clients.redis,
        "shedding": shedding,
    }
    takes = inspect.signature(FeedReader).parameters
    return FeedReader(**{name: dep for name, dep in dependencies.items() if name in takes})


def reader_pages(
    reader: FeedReader, viewer: int, count: int, max_id: int | None = None
) -> list[list[int]]:
    """Every page of a feed (from `max_id` on) as `reader` builds them."""
    pages: list[list[int]] = []
    for _ in range(100):
        page = reader.page(viewer, max_id, count)
        pages.append([item.media.id for item in page.items])
        if page.next_max_id is None:
            return pages
        max_id = page.next_max_id
    raise AssertionError("more than 100 pages")


# --- audiences of made-up followers ------------------------------------------------------


def made_up_user_ids(count: int) -> list[int]:
    """IDs of nobody, unique to the test (random time and sequence), ascending."""
    return sorted(
        encode(
            EPOCH_MS + secrets.randbelow(2**39),
            shard=MADE_UP_SHARD,
            sequence=secrets.randbelow(1024),
        )
        for _ in range(count)
    )


def add_followers(clients: Clients, owner_id: int, follower_ids: list[int]) -> None:
    """Index `follower_ids` as followers of the owner (the rows fan-out reads), and let the
    owner's counters be recounted."""

    def insert(conn, shard_schema: sql.Identifier) -> None:
        with conn.cursor() as cursor:
            execute_values(
                cursor,
                sql.SQL("INSERT INTO {s}.followers (target_id, source_id) VALUES %s")
                .format(s=shard_schema)
                .as_string(conn),
                [(owner_id, follower) for follower in follower_ids],
            )

    clients.router.run_for_id(owner_id, insert)
    Counters(clients.redis, clients.router).forget([owner_id])


def build_empty_feeds(clients: Clients, user_ids: Iterable[int], ttl_seconds: int = 600) -> None:
    """Give users an empty, built feed (as a first read leaves it) and mark them active."""
    with clients.redis.pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.delete(redis_keys.feed(user_id))
            pipe.rpush(redis_keys.feed(user_id), EMPTY)
            pipe.expire(redis_keys.feed(user_id), ttl_seconds)
            pipe.set(redis_keys.active(user_id), 1, ex=ttl_seconds)
        pipe.execute()


def forget_users(clients: Clients, user_ids: Iterable[int]) -> None:
    """Drop made-up users' feeds and activity marks."""
    keys = [k for u in user_ids for k in (redis_keys.feed(u), redis_keys.active(u))]
    if keys:
        with clients.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.delete(key)
            pipe.execute()


@contextmanager
def made_up_audience(clients: Clients, owner_id: int, count: int) -> Iterator[list[int]]:
    """`count` made-up followers of the owner (ascending), active, their feeds built empty;
    their keys go afterwards."""
    followers = made_up_user_ids(count)
    add_followers(clients, owner_id, followers)
    build_empty_feeds(clients, followers)
    try:
        yield followers
    finally:
        forget_users(clients, followers)
