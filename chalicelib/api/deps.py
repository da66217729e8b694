"""What the API's views share, built once per process (a Lambda container).

Each is built at its first use, and its modules (with redis-py, PynamoDB, psycopg2 and
argon2 behind them) are imported then too: a cold start pays only for the routes, and
the first request for what it uses.
"""

# Imports at first use, on purpose (see above).
# ruff: noqa: PLC0415

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING

from chalicelib.config import get_settings

if TYPE_CHECKING:
    from chalicelib.accounts.service import Accounts
    from chalicelib.activity.service import ActivityFeed, ActivityRecorder
    from chalicelib.clients import Clients
    from chalicelib.explore.index import ExploreIndex
    from chalicelib.explore.service import Explore
    from chalicelib.feed.reader import FeedReader
    from chalicelib.feed.timelines import Timelines
    from chalicelib.graph.service import Graph
    from chalicelib.media.cache import MediaCache
    from chalicelib.media.records import Media
    from chalicelib.media.service import MediaService
    from chalicelib.notifications.devices import Devices
    from chalicelib.notifications.outbox import Outbox
    from chalicelib.places.index import GeoIndex
    from chalicelib.places.service import Places
    from chalicelib.tags.index import TagIndex
    from chalicelib.tags.service import Tags
    from chalicelib.users.counters import Counters
    from chalicelib.users.profiles import Profiles
    from chalicelib.users.search import UserSearch


@lru_cache(maxsize=1)
def get_clients() -> Clients:
    """The process's clients, built lazily from its settings."""
    from chalicelib.clients import Clients

    return Clients(get_settings())


@lru_cache(maxsize=1)
def get_counters() -> Counters:
    from chalicelib.users.counters import Counters

    clients = get_clients()
    return Counters(clients.redis, clients.router)


@lru_cache(maxsize=1)
def get_graph() -> Graph:
    from chalicelib.graph.service import Graph

    return Graph(
        get_clients().router,
        get_counters(),
        followed=_merge_into_feed,
        activity=get_activity_recorder(),
        notify=get_outbox(),
    )


def _merge_into_feed(source: int, target: int) -> None:
    """A new follow: the follower's feed takes in the followed user's recent media (a
    feed that Redis cannot reach now is rebuilt, with them, when next read)."""
    from chalicelib.redis_client import REDIS_ERRORS

    try:
        get_timelines().merge_owner(source, target)
    except REDIS_ERRORS:
        logging.getLogger(__name__).warning("feed merge skipped", exc_info=True)


@lru_cache(maxsize=1)
def get_accounts() -> Accounts:
    """Sign-up, log-in and authentication, with their tables and caches."""
    from chalicelib.accounts.claims import NameClaims
    from chalicelib.accounts.service import Accounts, name_holder
    from chalicelib.accounts.sessions import Sessions
    from chalicelib.accounts.throttle import LoginThrottle
    from chalicelib.users.activity import Activity

    clients = get_clients()
    settings = clients.settings
    auth = settings.auth
    claims = NameClaims(
        settings.name_claims_table,
        settings.region,
        settings.endpoint_url,
        name_holder(clients.router),
    )
    return Accounts(
        clients.router,
        claims,
        Sessions(
            settings.sessions_table,
            settings.region,
            settings.endpoint_url,
            clients.redis,
            ttl_seconds=auth.session_ttl_days * 86400,
            cache_seconds=auth.session_cache_seconds,
        ),
        LoginThrottle(
            clients.redis,
            per_account=auth.login_failures_per_account,
            per_address=auth.login_failures_per_address,
            window_seconds=auth.login_failure_window_seconds,
        ),
        Activity(clients.redis, auth.active_window_days * 86400),
    )


@lru_cache(maxsize=1)
def get_profiles() -> Profiles:
    from chalicelib.users.profiles import Profiles

    clients = get_clients()
    return Profiles(clients.router, get_graph(), get_counters(), get_accounts().claims)


@lru_cache(maxsize=1)
def get_user_search() -> UserSearch:
    from chalicelib.users.search import UserSearch

    return UserSearch(get_accounts().claims, get_graph())


@lru_cache(maxsize=1)
def get_media() -> MediaService:
    from chalicelib.media.service import MediaService

    clients = get_clients()
    settings = clients.settings
    return MediaService(
        clients.router,
        get_graph(),
        get_counters(),
        s3=clients.s3,
        bucket=settings.bucket,
        limits=settings.limits,
        media_cache=get_media_cache(),
        tagged=_index_tags,
        located=_index_place,
        activity=get_activity_recorder(),
        notify=get_outbox(),
        liked=_rank_for_explore,
    )


def _rank_for_explore(media_id: int) -> None:
    """A new like of a ready media of a public owner: explore counts it (a like Redis
    cannot take now is counted when the set is next rebuilt)."""
    from chalicelib.redis_client import REDIS_ERRORS

    try:
        get_explore_index().liked(media_id)
    except REDIS_ERRORS:
        logging.getLogger(__name__).warning("explore ranking skipped", exc_info=True)


def _index_tags(media_id: int, tags: list[str]) -> None:
    """A ready media took tags (a comment, an edited caption): its tag lists and the
    search index take it (a list Redis cannot reach now is rebuilt when next read)."""
    from chalicelib.redis_client import REDIS_ERRORS

    try:
        get_tag_index().tagged(media_id, tags)
    except REDIS_ERRORS:
        logging.getLogger(__name__).warning("tag indexing skipped", exc_info=True)


def _index_place(media: Media) -> None:
    """A ready media's location was edited: its day's geo index takes the new place (a
    day Redis cannot reach now is rebuilt when next searched)."""
    from chalicelib.redis_client import REDIS_ERRORS

    try:
        location = media.location
        if location is not None:
            get_geo_index().media_ready(media.id, location.latitude, location.longitude)
    except REDIS_ERRORS:
        logging.getLogger(__name__).warning("place indexing skipped", exc_info=True)


@lru_cache(maxsize=1)
def get_tag_index() -> TagIndex:
    from chalicelib.tags.index import tag_index_of

    return tag_index_of(get_clients())


@lru_cache(maxsize=1)
def get_tags() -> Tags:
    from chalicelib.tags.service import Tags

    return Tags(router=get_clients().router, index=get_tag_index(), media_cache=get_media_cache())


@lru_cache(maxsize=1)
def get_geo_index() -> GeoIndex:
    from chalicelib.places.index import geo_index_of

    return geo_index_of(get_clients())


@lru_cache(maxsize=1)
def get_places() -> Places:
    from chalicelib.places.service import Places

    return Places(router=get_clients().router, index=get_geo_index(), media_cache=get_media_cache())


@lru_cache(maxsize=1)
def get_media_cache() -> MediaCache:
    from chalicelib.media.cache import MediaCache

    clients = get_clients()
    return MediaCache(clients.redis, clients.settings.feed.media_cache_seconds)


@lru_cache(maxsize=1)
def get_timelines() -> Timelines:
    from chalicelib.feed.timelines import timelines_of

    clients = get_clients()
    return timelines_of(clients)


@lru_cache(maxsize=1)
def get_feed() -> FeedReader:
    from chalicelib.feed.reader import FeedReader
    from chalicelib.feed.shedding import LoadShedding

    clients = get_clients()
    return FeedReader(
        router=clients.router,
        timelines=get_timelines(),
        media_cache=get_media_cache(),
        cache=clients.redis,
        shedding=LoadShedding(clients.redis).on,
    )


@lru_cache(maxsize=1)
def get_activity_recorder() -> ActivityRecorder:
    """What puts likes, comments, follows, requests and approvals on activity lists."""
    from chalicelib.activity.lists import ActivityLists
    from chalicelib.activity.service import ActivityRecorder

    clients = get_clients()
    return ActivityRecorder(ActivityLists(clients.redis), clients.router)


@lru_cache(maxsize=1)
def get_activity() -> ActivityFeed:
    from chalicelib.activity.lists import ActivityLists
    from chalicelib.activity.service import ActivityFeed

    clients = get_clients()
    return ActivityFeed(ActivityLists(clients.redis), clients.router, get_graph())


@lru_cache(maxsize=1)
def get_explore_index() -> ExploreIndex:
    from chalicelib.explore.index import ExploreIndex

    clients = get_clients()
    return ExploreIndex(clients.redis, clients.router)


@lru_cache(maxsize=1)
def get_explore() -> Explore:
    from chalicelib.explore.service import Explore

    return Explore(
        router=get_clients().router, index=get_explore_index(), media_cache=get_media_cache()
    )


@lru_cache(maxsize=1)
def get_outbox() -> Outbox:
    """What queues push notifications after likes, comments, follows and requests."""
    from chalicelib.notifications.outbox import Outbox

    clients = get_clients()
    return Outbox(clients.router, clients.sqs, clients.settings.notifications_queue_url)


@lru_cache(maxsize=1)
def get_devices() -> Devices:
    from chalicelib.notifications.devices import Devices

    clients = get_clients()
    return Devices(clients.router, clients.sns, clients.settings.platform_applications)
