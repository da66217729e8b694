"""Redis holds derived data only: flushed, or replaced by an empty server, in the middle of
a workload (posting, following and reading going on), it loses nothing a reader can
notice once feeds are rebuilt, and the API keeps answering meanwhile.

Follows made after the loss target members who have not posted yet: whether a follow
brings the followee's earlier posts into an existing feed is test_feed_reads' concern.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib import redis_keys
from tests.answers import error_of
from tests.feed.feeds import feed_ids, follow, post_ready
from tests.feed.redis_server import RedisServer, private_stack
from tests.feed.workload import Workload


@pytest.fixture
def workload(clients, members, fanning) -> Workload:
    """Six members following each other at random, before anyone posts."""
    load = Workload(clients, members, fanning(), seed=6)
    load.join(6)
    load.follow_randomly(14)
    return load


@pytest.fixture
def redis_server(settings) -> Iterator[RedisServer]:
    """The session's redis-server, running again (empty) after the test whatever happens."""
    stack = private_stack()
    if stack is None:
        pytest.skip("kills Redis: only in the session's private stack (PHOTOFEED_STACK_ENV unset)")
    server = RedisServer(stack, str(settings.redis_url))
    yield server
    if not server.answers():
        server.start()


def test_a_flush_in_the_middle_of_a_workload_loses_nothing_readers_notice(
    clients, settings, workload
):
    # GIVEN members who post and read, and a batch of posts half fanned out
    workload.fan_out(workload.post(8))
    workload.read()
    batch = workload.post(6)
    workload.fan_out(batch[:3])

    # WHEN Redis is flushed, and the workload goes on: the rest of the batch is fanned
    # out, members read, follow newcomers, and post
    clients.redis.flushall()
    workload.fan_out(batch[3:])
    workload.read()
    newcomers = workload.join(2)
    workload.follow_randomly(5, targets=newcomers)
    workload.fan_out(workload.post(10))

    # THEN every member's feed, page by page, is what the database says it holds
    assert workload.differences(settings.feed.cap) == {}


def test_after_a_flush_new_posts_still_reach_a_readers_rebuilt_feed(clients, fanning, members):
    # GIVEN a reader whose feed was rebuilt after Redis was flushed
    author, reader = members(2)
    follow(reader, author)
    assert feed_ids(reader) == []
    clients.redis.flushall()
    assert feed_ids(reader) == []  # rebuilt (and the reader is plainly active)

    # WHEN the author posts
    media = post_ready(clients, author)
    fanning().ready(media)

    # THEN the reader's next page has it
    assert feed_ids(reader) == [media.id]


def test_while_redis_is_down_the_api_keeps_answering_signed_in_members(members, redis_server):
    member, other = members(2)
    assert member.get("/users/me").status_code == 200

    redis_server.kill()
    try:
        me = member.get("/users/me")
        profile = member.get(f"/users/{other.id}")
    finally:
        redis_server.start()

    assert me.status_code == 200, me.text
    assert int(me.json()["id"]) == member.id
    assert profile.status_code == 200, profile.text


def test_while_redis_is_down_a_feed_read_answers_unavailable(sign_up, redis_server):
    member = sign_up()
    assert feed_ids(member) == []

    redis_server.kill()
    try:
        answer = member.get("/feed")
    finally:
        redis_server.start()

    # a dependency is down: retry later (not an unexpected error)
    assert error_of(answer, 503)["code"] == "unavailable"


def test_a_redis_replaced_by_an_empty_one_loses_nothing_readers_notice(
    clients, settings, workload, redis_server
):
    # GIVEN members who post and read, and a batch of posts half fanned out
    workload.fan_out(workload.post(8))
    workload.read()
    batch = workload.post(6)
    workload.fan_out(batch[:3])

    # WHEN the Redis node dies and an empty one takes its port, and the workload goes on
    # (the queue redelivers the rest of the batch)
    redis_server.kill()
    redis_server.start()
    assert not clients.redis.exists(redis_keys.feed(workload.members[0].id))  # empty
    workload.fan_out(batch[3:])
    workload.read()
    newcomers = workload.join(2)
    workload.follow_randomly(5, targets=newcomers)
    workload.fan_out(workload.post(10))

    # THEN every feed is what the database says
    assert workload.differences(settings.feed.cap) == {}
