"""Active marks: set by authenticated requests, expiring with the active window."""

from __future__ import annotations

import secrets
import time

import pytest

from chalicelib import redis_keys
from chalicelib.accounts.sessions import Sessions
from chalicelib.shards.ids import EPOCH_MS, encode
from chalicelib.users.activity import REFRESH_SECONDS, Activity

WINDOW_SECONDS = 600


def made_up_user_ids(count: int) -> list[int]:
    """IDs no test shares (random sequence and time), on a shard outside the deployment."""
    return [
        encode(EPOCH_MS + secrets.randbelow(2**39), shard=8191, sequence=secrets.randbelow(1024))
        for _ in range(count)
    ]


@pytest.fixture
def user_ids(clients):
    ids = made_up_user_ids(4)
    yield ids
    clients.redis.delete(*(redis_keys.active(user_id) for user_id in ids))


def test_an_authenticated_request_marks_the_user_active_for_the_window(clients, settings, sign_up):
    member = sign_up()

    assert member.get("/users/me").status_code == 200

    window = settings.auth.active_window_days * 86400
    assert window - 60 < clients.redis.ttl(redis_keys.active(member.id)) <= window


def test_a_request_with_an_expired_session_marks_nobody_active(clients, settings, http, sign_up):
    # GIVEN a member the API has never authenticated, and a session of theirs that expired
    member = sign_up()
    an_hour_ago = Sessions(
        settings.sessions_table,
        settings.region,
        settings.endpoint_url,
        clients.redis,
        ttl_seconds=60,
        cache_seconds=settings.auth.session_cache_seconds,
        clock=lambda: time.time() - 3600,
    )
    expired = an_hour_ago.create(member.id)

    # WHEN a request comes with it
    response = http.get("/users/me", headers={"Authorization": f"Bearer {expired.token}"})

    # THEN it is refused, and the member is not marked active
    assert response.status_code == 401
    assert not clients.redis.exists(redis_keys.active(member.id))


def test_active_among_answers_exactly_the_active_users(clients, user_ids):
    activity = Activity(clients.redis, WINDOW_SECONDS)
    active = set(user_ids[:2])
    for user_id in active:
        activity.mark(user_id)

    assert activity.active_among(user_ids) == active


def test_a_user_whose_mark_expired_is_not_active(clients, user_ids):
    activity = Activity(clients.redis, WINDOW_SECONDS)
    activity.mark(user_ids[0])
    assert 0 < clients.redis.ttl(redis_keys.active(user_ids[0])) <= WINDOW_SECONDS

    clients.redis.delete(redis_keys.active(user_ids[0]))  # what the expiry does

    assert activity.active_among(user_ids) == set()


def test_active_among_no_users_is_empty(clients):
    assert Activity(clients.redis, WINDOW_SECONDS).active_among([]) == set()


def test_a_mark_is_written_at_most_once_per_refresh_interval(clients, user_ids):
    # GIVEN a user marked active by this process, whose mark then vanished
    now = [1000.0]
    activity = Activity(clients.redis, WINDOW_SECONDS, clock=lambda: now[0])
    user_id = user_ids[0]
    activity.mark(user_id)
    clients.redis.delete(redis_keys.active(user_id))

    # WHEN it is marked again within the refresh interval, then after it
    activity.mark(user_id)
    written_early = clients.redis.exists(redis_keys.active(user_id))
    now[0] += REFRESH_SECONDS
    activity.mark(user_id)

    # THEN only the later mark cost a write
    assert not written_early
    assert clients.redis.exists(redis_keys.active(user_id))
