"""Photofeed's Redis code on a Redis Cluster (ElastiCache in cluster mode), with its AUTH
token read from Secrets Manager as in AWS.

Each test that touches several users picks them so that their keys land on different
masters (tests.redis_cluster.one_per_master): the pipelines and scripts of the domain
must then work across hash slots. PostgreSQL, DynamoDB and Secrets Manager are the
session stack's; only Redis is the cluster of this module.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from chalicelib import redis_keys
from chalicelib.accounts.sessions import Session, Sessions, token_digest
from chalicelib.accounts.throttle import LoginThrottle
from chalicelib.clients import Clients
from chalicelib.config import Settings
from chalicelib.errors import RateLimited, Unauthenticated
from chalicelib.explore.index import ExploreIndex
from chalicelib.feed.lists import IdLists
from chalicelib.feed.shedding import LoadShedding
from chalicelib.feed.timelines import MAX_ID
from chalicelib.media.cache import MediaCache
from chalicelib.media.records import Media
from chalicelib.users.activity import Activity
from chalicelib.users.counters import FIELDS, Counters, Counts
from devstack.processes import free_port
from tests.answers import fresh_name
from tests.feed.fanning import (
    Fanning,
    add_followers,
    build_empty_feeds,
    made_up_user_ids,
    reader_pages,
    reader_with,
)
from tests.feed.feeds import follow, post_ready, stored_feed
from tests.redis_cluster import MASTERS, LocalCluster, master_of, one_per_master

CAP = 50


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    made = LocalCluster(tmp_path_factory.mktemp("redis-cluster"), token=uuid.uuid4().hex)
    try:
        made.start()
        yield made
    finally:
        made.stop()


@pytest.fixture(scope="module")
def auth_secret(clients, cluster) -> Iterator[str]:
    """The cluster's AUTH token as ElastiCache's secret holds it; the secret's ARN."""
    created = clients.secrets.create_secret(
        Name=f"photofeed-test-redis-auth-{uuid.uuid4().hex[:8]}",
        SecretString=json.dumps({"token": cluster.token}),
    )
    yield created["ARN"]
    clients.secrets.delete_secret(SecretId=created["ARN"], ForceDeleteWithoutRecovery=True)


def clients_of(settings: Settings, url: str, auth_secret: str = "") -> Clients:
    """The deployment's clients, but with Redis in cluster mode, as configured in AWS."""
    return Clients(
        settings.model_copy(
            update={"redis_url": url, "redis_cluster": True, "redis_auth_secret_arn": auth_secret}
        )
    )


@pytest.fixture(scope="module")
def on_cluster(settings, cluster, auth_secret) -> Iterator[Clients]:
    made = clients_of(settings, cluster.url, auth_secret)
    yield made
    made.redis.close()
    made.databases.close()


@pytest.fixture
def cache(on_cluster) -> RedisCluster:
    return on_cluster.redis


def users_on_every_master(cache: RedisCluster, key_of: Callable[[int], str]) -> list[int]:
    """Made-up users (or media) whose `key_of` keys lie one on each master."""
    return one_per_master(cache, iter(lambda: made_up_user_ids(1)[0], None), key_of)


def test_clients_authenticate_with_the_token_from_secrets_manager(on_cluster, cluster, cache):
    assert on_cluster.redis_auth_token() == cluster.token
    assert cache.ping()
    assert isinstance(cache.get_primaries.__self__, RedisCluster)
    assert {node.name for node in cache.get_primaries()} == {
        f"127.0.0.1:{port}" for port in cluster.ports
    }


def test_the_cluster_refuses_a_client_without_the_token(cluster):
    with pytest.raises(RedisClusterException, match="authenticated"):
        RedisCluster.from_url(cluster.url, socket_timeout=2)


def test_a_users_keys_share_one_slot_and_users_spread_over_every_master(cluster, cache):
    # GIVEN users whose keys the client routes to three different masters
    users = users_on_every_master(cache, redis_keys.feed)
    per_user = (
        redis_keys.feed,
        redis_keys.feed_rebuild,
        redis_keys.recent,
        redis_keys.recent_rebuild,
        redis_keys.counts,
        redis_keys.counts_rebuild,
        redis_keys.counts_writes,
        redis_keys.active,
    )

    # WHEN each user's keys are written in one pipeline
    with cache.pipeline(transaction=False) as pipe:
        for user in users:
            for key_of in per_user:
                pipe.set(key_of(user), 1, ex=60)
        pipe.execute()

    # THEN the server puts each user's keys in one slot, held by the master the client named
    for user in users:
        keys = {key_of(user) for key_of in per_user}
        (slot,) = {cache.cluster_keyslot(key) for key in keys}
        home = master_of(cache, redis_keys.feed(user))
        for port in cluster.ports:
            with cluster.node(port) as node:
                held = node.cluster("GETKEYSINSLOT", slot, 100)
            assert set(held) == (keys if home.endswith(f":{port}") else set())
    assert len({master_of(cache, redis_keys.feed(user)) for user in users}) == MASTERS


# --- feed lists and timelines ----------------------------------------------------------


def _build(lists: IdLists, user: int, ids: list[int]) -> None:
    marker = redis_keys.feed_rebuild(user)
    token = lists.begin_rebuild(marker)
    assert lists.store(redis_keys.feed(user), marker, token, ids, ttl_seconds=60)


def test_a_list_is_rebuilt_and_paged_on_its_master(cache):
    lists = IdLists(cache)
    user = made_up_user_ids(1)[0]

    _build(lists, user, [30, 20, 10])

    assert lists.page(redis_keys.feed(user), max_id=30, count=5) == [20, 10]
    assert lists.page(redis_keys.feed(made_up_user_ids(1)[0]), max_id=MAX_ID, count=5) is None


def test_an_item_is_pushed_onto_lists_on_every_master_in_one_pipeline(on_cluster, cache):
    # GIVEN built feeds of users on three masters, and a user whose feed is not built
    lists = IdLists(cache)
    users = users_on_every_master(cache, redis_keys.feed)
    for user in users:
        _build(lists, user, [])
    missing = made_up_user_ids(1)[0]
    targets = [(redis_keys.feed(u), redis_keys.feed_rebuild(u)) for u in [*users, missing]]

    # WHEN a media is pushed to all of them (one pipeline of scripts across slots)
    pushed = lists.push_many(targets, 42, CAP)

    # THEN the built feeds took it once, the missing one stays missing
    assert pushed == [1, 1, 1, -1]
    assert lists.push_many(targets, 42, CAP) == [0, 0, 0, -1]
    assert [stored_feed(on_cluster, user) for user in users] == [[42]] * MASTERS
    assert not cache.exists(redis_keys.feed(missing))


def test_a_fan_out_reaches_active_followers_on_every_master(clients, on_cluster, settings, sign_up):
    # GIVEN an author with a ready media, and active followers (feeds built) on each master
    author = sign_up()
    media = post_ready(clients, author)
    followers = users_on_every_master(on_cluster.redis, redis_keys.feed)
    add_followers(on_cluster, author.id, followers)
    build_empty_feeds(on_cluster, followers)

    # WHEN the media is fanned out with Redis in cluster mode
    Fanning(on_cluster, settings.feed).ready(media)

    # THEN every follower's feed holds it
    assert [stored_feed(on_cluster, user) for user in followers] == [[media.id]] * MASTERS


def test_a_feed_read_is_rebuilt_from_postgresql_and_its_media_cached(
    clients, on_cluster, settings, sign_up
):
    # GIVEN a reader following an author of two ready media, nothing of theirs in Redis
    author, reader = sign_up(), sign_up()
    follow(reader, author)
    older, newer = post_ready(clients, author), post_ready(clients, author)

    # WHEN the reader pages through their feed with Redis in cluster mode
    pages = reader_pages(reader_with(on_cluster, settings), reader.id, count=10)

    # THEN the feed is rebuilt, stored, its reader marked active and its media cached
    assert pages == [[newer.id, older.id]]
    assert stored_feed(on_cluster, reader.id) == [newer.id, older.id]
    assert on_cluster.redis.exists(redis_keys.active(reader.id))
    cached = MediaCache(on_cluster.redis, 60).get_many([newer.id, older.id])
    assert sorted(cached) == sorted([newer.id, older.id])


def test_explore_is_rebuilt_liked_and_paged_in_the_cluster(clients, on_cluster, cache, sign_up):
    # GIVEN a liked media in PostgreSQL, and no explore set in the cluster
    author, fan = sign_up(), sign_up()
    media = post_ready(clients, author)
    assert fan.post(f"/media/{media.id}/like").status_code == 200
    index = ExploreIndex(cache, on_cluster.router)

    # WHEN explore is read (a rebuild), then the media is liked again in the cluster
    _, rebuilt = index.page(None, 10_000)
    before = cache.zscore(redis_keys.explore(), media.id)
    index.liked(media.id)
    ranked, again = index.page(None, 10_000)

    # THEN the rebuild stored the set, and the like (about as new) doubled its weight
    assert (rebuilt, again) == (True, False)
    assert cache.zscore(redis_keys.explore(), media.id) == pytest.approx(before + 1, abs=1e-2)
    assert str(media.id) in [member for _, member in ranked]


# --- users: counters and activity -------------------------------------------------------


def test_counts_are_rebuilt_from_postgresql_into_the_cluster(on_cluster, cache, sign_up):
    member = sign_up()
    add_followers(on_cluster, member.id, made_up_user_ids(2))

    counts = Counters(cache, on_cluster.router).get(member.id)

    assert counts == Counts(media=0, followers=2, following=0)
    stored = cache.hgetall(redis_keys.counts(member.id))
    assert {name.decode(): int(value) for name, value in stored.items()} == {
        "media": 0,
        "followers": 2,
        "following": 0,
    }
    assert not cache.exists(redis_keys.counts_rebuild(member.id))


def test_changes_to_users_on_every_master_are_counted_after_the_write(on_cluster, cache):
    # GIVEN counters cached for users on three masters
    counters = Counters(cache, on_cluster.router)
    users = users_on_every_master(cache, redis_keys.counts)
    for user in users:
        cache.hset(redis_keys.counts(user), mapping=dict.fromkeys(FIELDS, 0))

    # WHEN a write changes all three (announced, then settled in one pipeline)
    with counters.changing(users) as changes:
        assert [int(cache.get(redis_keys.counts_writes(u))) for u in users] == [1] * MASTERS
        changes.extend((user, "followers", 1) for user in users)

    # THEN each user's counter moved, and no write is left in flight
    assert [int(cache.hget(redis_keys.counts(u), "followers")) for u in users] == [1] * MASTERS
    assert [int(cache.get(redis_keys.counts_writes(u))) for u in users] == [0] * MASTERS


def test_users_on_every_master_are_marked_and_found_active(cache):
    activity = Activity(cache, window_seconds=600)
    users = users_on_every_master(cache, redis_keys.active)

    for user in users[:2]:
        activity.mark(user)

    assert activity.active_among(users) == set(users[:2])
    assert 0 < cache.ttl(redis_keys.active(users[0])) <= 600


# --- accounts: login throttle and sessions ----------------------------------------------


def test_failed_logins_are_counted_per_account_and_address_on_two_masters(cache):
    # GIVEN an account and an address whose counters live on different masters
    throttle = LoginThrottle(cache, per_account=3, per_address=100, window_seconds=60)
    account = fresh_name()
    account_home = master_of(cache, redis_keys.login_failures_by_account(account))
    address = next(
        a
        for a in (f"2001:db8::{uuid.uuid4().hex[:4]}" for _ in range(1000))
        if master_of(cache, redis_keys.login_failures_by_address(a)) != account_home
    )

    # WHEN the account fails as often as its limit allows
    for _ in range(3):
        throttle.check(account, address)
        throttle.failed(account, address)

    # THEN both counters were counted, and the account waits out its window
    assert int(cache.get(redis_keys.login_failures_by_account(account))) == 3
    assert int(cache.get(redis_keys.login_failures_by_address(address))) == 3
    with pytest.raises(RateLimited):
        throttle.check(account, address)
    throttle.succeeded(account)
    throttle.check(account, address)


def sessions_on(settings: Settings, cache: RedisCluster) -> Sessions:
    """The sessions table, cached in `cache`."""
    return Sessions(
        settings.sessions_table,
        settings.region,
        settings.endpoint_url,
        cache,
        ttl_seconds=600,
        cache_seconds=60,
    )


def test_a_session_is_cached_in_the_cluster_and_its_revocation_wins(settings, cache):
    sessions = sessions_on(settings, cache)
    user = made_up_user_ids(1)[0]
    session = sessions.create(user)
    cached = redis_keys.session(token_digest(session.token))

    assert sessions.user_of(session.token) == user
    assert cache.get(cached) == f"{user}:{session.expires_at}".encode()

    sessions.revoke(session.token)
    with pytest.raises(Unauthenticated):
        sessions.user_of(session.token)
    assert cache.get(cached) == b"revoked"


# --- media cache and load shedding ------------------------------------------------------


def _media(media_id: int) -> Media:
    now = datetime.now(UTC)
    return Media(
        id=media_id,
        owner_id=made_up_user_ids(1)[0],
        status="ready",
        caption="on a cluster",
        alt_text="",
        content_type="image/jpeg",
        byte_size=10_000,
        width=400,
        height=300,
        blurhash=None,
        renditions={},
        location=None,
        failure_reason=None,
        like_count=0,
        comment_count=0,
        created_at=now,
        ready_at=now,
    )


def test_media_on_every_master_are_cached_read_back_and_forgotten(cache):
    media_cache = MediaCache(cache, ttl_seconds=60)
    records = [_media(media_id) for media_id in users_on_every_master(cache, redis_keys.media)]
    ids = [record.id for record in records]

    media_cache.put_many(records)
    assert media_cache.get_many(ids) == {record.id: record for record in records}

    media_cache.forget(ids[0])
    assert sorted(media_cache.get_many(ids)) == sorted(ids[1:])


def test_the_shedding_switch_is_seen_by_other_processes(cache):
    operator, api = LoadShedding(cache), LoadShedding(cache)
    try:
        operator.set(True)
        assert api.on()
    finally:
        operator.set(False)
    assert not LoadShedding(cache).on()


# --- a cluster that does not answer -----------------------------------------------------


def degrades_like_a_lost_redis(settings: Settings, cache: RedisCluster, session: Session) -> None:
    """What a lost standalone Redis leaves working must work with the cluster gone too:
    sessions are checked in DynamoDB, activity goes unrecorded, the switch reads off."""
    assert sessions_on(settings, cache).user_of(session.token) == session.user_id
    Activity(cache, window_seconds=600).mark(session.user_id)
    assert not LoadShedding(cache).on()


def test_a_cluster_gone_after_start_up_degrades_like_a_lost_redis(
    settings, cluster, auth_secret, tmp_path
):
    # GIVEN the deployment's clients on a cluster that served a session, then went away
    doomed = LocalCluster(tmp_path, token=cluster.token)  # the token of the secret
    doomed.start()
    try:
        clients = clients_of(settings, doomed.url, auth_secret)
        sessions = sessions_on(settings, clients.redis)
        session = sessions.create(made_up_user_ids(1)[0])
        assert sessions.user_of(session.token) == session.user_id
    finally:
        doomed.stop()

    # WHEN / THEN the domain falls back as it does without a standalone Redis
    degrades_like_a_lost_redis(settings, clients.redis, session)


def test_a_cluster_unreachable_at_start_up_degrades_like_a_lost_redis(settings, cache):
    # GIVEN a session, and the deployment's clients on a cluster that never answered
    session = sessions_on(settings, cache).create(made_up_user_ids(1)[0])
    clients = clients_of(settings, f"redis://127.0.0.1:{free_port()}/0")

    # WHEN / THEN the domain falls back as it does without a standalone Redis (whose
    # client connects at its first command, not when it is built)
    degrades_like_a_lost_redis(settings, clients.redis, session)
