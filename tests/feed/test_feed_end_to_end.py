"""Feeds end to end through the stack's pump: media-ready events on the media-events topic
(from the thumbnail handler after a real upload, or published by the test), the fan-out
queue, the pump, the real fan-out handler, Redis, and GET /feed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from chalicelib.config import FeedSettings
from functions.fanout import handler as fanout_handler
from tests.feed.fanning import (
    Fanning,
    made_up_audience,
)
from tests.feed.feeds import feed_ids, follow, post_ready, read_all, ready_event, stored_feed
from tests.media import images
from tests.media.uploading import post_original, reserve, wait_until_settled

WITHIN_SECONDS = 30


def _eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WITHIN_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WITHIN_SECONDS} s: {what}")
        time.sleep(0.2)


def _upload(member) -> int:
    """A real photo, uploaded as a phone does it; its media ID once ready."""
    photo = images.jpeg(480, 360)
    reserved = reserve(member, "image/jpeg", len(photo))
    post_original(reserved, photo)
    settled = wait_until_settled(member, [reserved.media_id])[reserved.media_id]
    assert settled["status"] == "ready", settled
    return reserved.media_id


def _publish(clients, settings, media) -> None:
    """Announce a media as ready on the media-events topic, as the thumbnail handler does."""
    clients.sns.publish(
        TopicArn=settings.media_events_topic_arn, Message=ready_event(media).model_dump_json()
    )


def test_a_real_upload_reaches_its_owner_and_every_follower_once(clients, members):
    # GIVEN an owner, two followers who read (active, feeds built) and one who never did
    owner, ada, bob, newcomer = members(4)
    for follower in (ada, bob, newcomer):
        follow(follower, owner)
    for reader in (owner, ada, bob):
        assert feed_ids(reader) == []

    # WHEN the owner uploads a photo
    media_id = _upload(owner)

    # THEN fan-out puts it on each built feed once, and the newcomer's first read has it
    _eventually(lambda: stored_feed(clients, bob.id) == [media_id], "bob's feed has it")
    for reader in (owner, ada, bob):
        assert stored_feed(clients, reader.id) == [media_id]
        assert read_all(reader) == [media_id]
    assert read_all(newcomer) == [media_id]


def test_events_arriving_newest_first_through_the_pump_give_pages_in_time_order(
    clients, settings, members
):
    owner, reader = members(2)
    follow(reader, owner)
    assert feed_ids(reader) == []
    media = [post_ready(clients, owner) for _ in range(4)]

    for item in reversed(media):  # the newest media's event first
        _publish(clients, settings, item)

    expected = [m.id for m in reversed(media)]
    _eventually(lambda: len(stored_feed(clients, reader.id)) == 4, "all four pushed")
    assert stored_feed(clients, reader.id) == expected
    assert [feed_ids(reader, count=2), feed_ids(reader, count=2, max_id=expected[1])] == [
        expected[:2],
        expected[2:],
    ]


def test_an_event_published_twice_leaves_one_entry_per_feed(clients, settings, members):
    owner, reader = members(2)
    follow(reader, owner)
    assert feed_ids(reader) == []
    first, second = post_ready(clients, owner), post_ready(clients, owner)

    for item in (first, first, second, first):
        _publish(clients, settings, item)

    _eventually(lambda: second.id in stored_feed(clients, reader.id), "the last one pushed")
    _eventually(lambda: _fanout_queue_is_empty(clients, settings), "the queue drained")
    assert stored_feed(clients, reader.id) == [second.id, first.id]


def _fanout_queue_is_empty(clients, settings) -> bool:
    attributes = clients.sqs.get_queue_attributes(
        QueueUrl=settings.fanout_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(int(count) == 0 for count in attributes.values())


@pytest.fixture
def audience(clients, sign_up) -> Iterator[tuple[object, list[int]]]:
    """An owner with 250 active made-up followers, their feeds built."""
    owner = sign_up()
    with made_up_audience(clients, owner.id, 250) as followers:
        yield owner, followers


def test_chunks_sent_on_the_fanout_queue_are_fanned_out_by_the_pump(clients, settings, audience):
    # GIVEN fan-out with chunks of 100, sending them as the Lambda does (the stack's queue)
    owner, followers = audience
    fan = Fanning(
        clients,
        FeedSettings(**{**settings.feed.model_dump(), "chunk_size": 100}),
        forward=fanout_handler.send,
    )
    media = post_ready(clients, owner)

    # WHEN a media of the owner becomes ready
    done = fan.fanout.media_ready(ready_event(media))

    # THEN three chunks went on the queue, and the pump's handler pushes to every follower
    assert done.chunks == 3
    _eventually(
        lambda: all(stored_feed(clients, f) == [media.id] for f in followers),
        "every follower's feed has the media",
    )
