"""Fan-out on write over the stack's PostgreSQL and Redis: who gets a ready media, once.

Audiences above a chunk are made of made-up followers (rows in the owner's `followers`
index, feeds built empty and marked active), so that chunks of the smallest allowed
size (100) stay cheap; small audiences are members signed up through the API.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

import pytest

from chalicelib import redis_keys
from chalicelib.feed.events import FanoutChunk
from chalicelib.feed.timelines import MAX_ID
from tests.feed.fanning import (
    DyingTimelines,
    Fanning,
    Killed,
    made_up_audience,
)
from tests.feed.feeds import feed_exists, feed_ids, follow, post_ready, ready_event, stored_feed

CHUNK = 100  # the smallest chunk FeedSettings allows


@pytest.fixture
def audience(clients, sign_up) -> Iterator[tuple[object, list[int]]]:
    """An owner with 250 active followers whose feeds are built (three chunks of 100)."""
    owner = sign_up()
    with made_up_audience(clients, owner.id, 250) as followers:
        yield owner, followers


def _feeds(clients, user_ids: list[int]) -> dict[int, list[int]]:
    return {user_id: stored_feed(clients, user_id) for user_id in user_ids}


def test_a_ready_media_lands_on_its_owners_feed_and_recent_list(clients, fanning, sign_up):
    owner = sign_up()
    assert feed_ids(owner) == []  # builds the owner's (empty) feed
    fan = fanning()
    assert fan.timelines.rebuild_recent(owner.id) == []  # as a reader pulling them would
    media = post_ready(clients, owner)

    done = fan.ready(media)

    assert done.audience == 0
    assert stored_feed(clients, owner.id) == [media.id]
    assert clients.redis.lrange(redis_keys.recent(owner.id), 0, -1)[:1] == [str(media.id).encode()]
    assert feed_ids(owner) == [media.id]


def test_a_small_audience_is_pushed_at_once_without_chunk_messages(clients, fanning, members):
    owner, ada, bob = members(3)
    for follower in (ada, bob):
        follow(follower, owner)
        assert feed_ids(follower) == []
    media = post_ready(clients, owner)
    fan = fanning(chunk_size=CHUNK)

    done = fan.ready(media)

    assert fan.sent == []
    assert (done.audience, done.pushed, done.chunks) == (2, 2, 0)
    assert stored_feed(clients, ada.id) == stored_feed(clients, bob.id) == [media.id]


def test_an_audience_above_chunk_size_is_sent_on_in_contiguous_chunks(clients, fanning, audience):
    owner, followers = audience
    media = post_ready(clients, owner)
    fan = fanning(chunk_size=CHUNK)

    done = fan.fanout.media_ready(ready_event(media))

    # THEN three chunk messages cover the follower IDs from 0 to the top without overlap
    assert done.chunks == 3 == len(fan.sent)
    assert fan.sent[0].after == 0
    assert fan.sent[-1].through == MAX_ID
    assert all(a.through == b.after for a, b in pairwise(fan.sent))
    slices = [[f for f in followers if c.after < f <= c.through] for c in fan.sent]
    assert [len(s) for s in slices] == [100, 100, 50]
    assert {(c.media_id, c.owner_id) for c in fan.sent} == {(media.id, owner.id)}
    # AND nobody but the owner has it before the chunks are processed
    assert all(feed == [] for feed in _feeds(clients, followers).values())


def test_each_chunk_pushes_to_its_own_slice_of_the_audience(clients, fanning, audience):
    owner, followers = audience
    media = post_ready(clients, owner)
    fan = fanning(chunk_size=CHUNK)
    fan.fanout.media_ready(ready_event(media))

    first = fan.fanout.chunk(fan.sent[0])

    assert (first.audience, first.pushed) == (100, 100)
    feeds = _feeds(clients, followers)
    assert [f for f in followers if feeds[f] == [media.id]] == followers[:100]
    assert all(feeds[f] == [] for f in followers[100:])


def test_a_duplicated_media_ready_event_leaves_one_entry_per_follower(clients, fanning, audience):
    owner, followers = audience
    media = post_ready(clients, owner)
    fan = fanning(chunk_size=CHUNK)

    fan.ready(media)
    fan.ready(media)

    assert len(fan.sent) == 6  # each delivery sent its three chunks
    assert all(feed == [media.id] for feed in _feeds(clients, followers).values())


def test_redelivered_chunks_leave_one_entry_per_follower(clients, fanning, audience):
    owner, followers = audience
    older, newer = post_ready(clients, owner), post_ready(clients, owner)
    fan = fanning(chunk_size=CHUNK)
    fan.fanout.media_ready(ready_event(older))
    fan.fanout.media_ready(ready_event(newer))

    # WHEN every chunk is delivered three times, in scrambled order
    for chunk in [*reversed(fan.sent), *fan.sent, *fan.sent[::2], *fan.sent[1::2]]:
        fan.fanout.chunk(chunk)

    assert all(feed == [newer.id, older.id] for feed in _feeds(clients, followers).values())


def test_a_chunk_killed_half_way_and_redelivered_completes_without_duplicates_or_gaps(
    clients, fanning, audience
):
    # GIVEN a media whose audience was cut into chunks
    owner, followers = audience
    media = post_ready(clients, owner)
    fan = fanning(chunk_size=CHUNK)
    fan.fanout.media_ready(ready_event(media))
    chunk = fan.sent[1]
    sliced = [f for f in followers if chunk.after < f <= chunk.through]
    # WHEN the second chunk's process dies after pushing to 37 of its followers
    dying = Fanning(clients, fan.settings, timelines=DyingTimelines(fan.timelines, 37))
    with pytest.raises(Killed):
        dying.fanout.chunk(chunk)
    half_done = _feeds(clients, sliced)
    assert sum(1 for feed in half_done.values() if feed) == 37
    # AND the message is delivered again, then every chunk once more
    again = fan.fanout.chunk(chunk)
    for other in fan.sent:
        fan.fanout.chunk(other)

    # THEN every follower has the media once
    assert (again.audience, again.pushed) == (100, 100 - 37)
    assert all(feed == [media.id] for feed in _feeds(clients, followers).values())


def test_a_start_killed_while_sending_chunks_and_redelivered_sends_every_chunk(
    clients, fanning, audience
):
    owner, followers = audience
    media = post_ready(clients, owner)
    delivered: list[FanoutChunk] = []

    def dies_on_the_second(chunk: FanoutChunk) -> None:
        if delivered:
            raise Killed
        delivered.append(chunk)

    dying = Fanning(clients, fanning(chunk_size=CHUNK).settings, forward=dies_on_the_second)
    with pytest.raises(Killed):
        dying.fanout.media_ready(ready_event(media))
    for chunk in delivered:  # what reached the queue before the process died
        dying.fanout.chunk(chunk)

    # WHEN the media-ready event is delivered again
    fan = fanning(chunk_size=CHUNK)
    fan.ready(media)

    assert len(fan.sent) == 3
    assert all(feed == [media.id] for feed in _feeds(clients, followers).values())


def test_only_recently_active_followers_are_pushed_to(clients, fanning, audience):
    owner, followers = audience
    inactive = followers[::3]
    clients.redis.delete(*(redis_keys.active(f) for f in inactive))
    media = post_ready(clients, owner)

    fanning(chunk_size=CHUNK).ready(media)

    feeds = _feeds(clients, followers)
    assert all(feeds[f] == [] for f in inactive)
    assert all(feeds[f] == [media.id] for f in followers if f not in inactive)


def test_an_inactive_followers_next_read_rebuilds_their_feed_with_the_item(
    clients, fanning, members
):
    # GIVEN a follower who went away: their activity mark and then their feed expired
    owner, follower = members(2)
    follow(follower, owner)
    assert feed_ids(follower) == []
    clients.redis.delete(redis_keys.active(follower.id), redis_keys.feed(follower.id))
    media = post_ready(clients, owner)

    # WHEN the owner's media is fanned out
    done = fanning().ready(media)

    # THEN nothing is pushed to them, and their next read rebuilds the feed with it
    assert (done.audience, done.pushed) == (1, 0)
    assert not feed_exists(clients, follower.id)
    assert feed_ids(follower) == [media.id]
    assert stored_feed(clients, follower.id) == [media.id]


def test_a_media_deleted_before_its_fan_out_reaches_nobody(clients, fanning, audience):
    owner, followers = audience
    media = post_ready(clients, owner)
    fan = fanning(chunk_size=CHUNK)
    fan.fanout.media_ready(ready_event(media))
    assert owner.delete(f"/media/{media.id}").status_code == 204

    late_start = fan.fanout.media_ready(ready_event(media))
    late_chunks = [fan.fanout.chunk(chunk) for chunk in fan.sent]

    assert late_start.gone
    assert all(done.gone for done in late_chunks)
    assert all(feed == [] for feed in _feeds(clients, followers).values())


def test_an_owner_above_the_celebrity_threshold_is_not_pushed(clients, fanning, audience):
    owner, followers = audience
    assert feed_ids(owner) == []
    fan = fanning(chunk_size=CHUNK, celebrity_followers=250)
    fan.timelines.rebuild_recent(owner.id)
    media = post_ready(clients, owner)

    done = fan.ready(media)

    assert done.celebrity
    assert fan.sent == []
    assert all(feed == [] for feed in _feeds(clients, followers).values())
    assert clients.redis.sismember(redis_keys.celebrities(), owner.id)
    assert stored_feed(clients, owner.id) == [media.id]
    assert clients.redis.lrange(redis_keys.recent(owner.id), 0, 0) == [str(media.id).encode()]
