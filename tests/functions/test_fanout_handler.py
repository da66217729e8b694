"""The fan-out Lambda, called with SQS events of the real shape: media-ready events and
fan-out chunks, pushed onto feeds in the stack's Redis, once, whatever is delivered.

The handler runs with the stack's settings (chunks of 10,000): the chunking tests give it
a fan-out with chunks of 100 and a queue of the test's own, so the stack's pump does not
race them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)

from chalicelib import redis_keys
from chalicelib.config import FeedSettings
from chalicelib.feed.events import FanoutChunk, MalformedEvent
from chalicelib.feed.timelines import MAX_ID
from devstack.provision import provision
from devstack.pump import LambdaContext
from devstack.stack import FAKE_AWS
from functions.fanout import handler as fanout
from tests.feed.fanning import (
    DyingTimelines,
    Fanning,
    Killed,
    made_up_audience,
)
from tests.feed.feeds import feed_ids, follow, post_ready, ready_event, stored_feed
from tests.functions.sqs import sqs_event, sqs_record

QUEUE = "photofeed-local-fanout"
NO_FAILURES = {"batchItemFailures": []}


def _context() -> LambdaContext:
    return LambdaContext("fanout", aws_request_id=str(uuid.uuid4()))


def _record(message: dict[str, Any] | str) -> dict[str, Any]:
    body = message if isinstance(message, str) else json.dumps(message)
    return sqs_record(body, queue=QUEUE)


def _deliver(*messages: dict[str, Any] | str) -> dict[str, Any]:
    """One SQS batch of these messages to the handler; its answer."""
    return fanout.lambda_handler(sqs_event(*(_record(m) for m in messages)), _context())


def _failed(answer: dict[str, Any]) -> int:
    return len(answer["batchItemFailures"])


@pytest.fixture(scope="module")
def stage(sign_up) -> tuple[Any, Any]:
    """An owner and a follower whose feed is built (and who is active)."""
    owner, follower = sign_up(), sign_up()
    follow(follower, owner)
    assert feed_ids(follower) == []
    return owner, follower


@pytest.fixture
def ready(clients, stage) -> dict[str, Any]:
    """A new ready media of the stage's owner, as its media-ready event's JSON."""
    owner, _ = stage
    return ready_event(post_ready(clients, owner)).model_dump(mode="json")


@pytest.fixture
def audience(clients, sign_up) -> Iterator[tuple[Any, list[int]]]:
    """An owner with 250 active made-up followers, their feeds built."""
    owner = sign_up()
    with made_up_audience(clients, owner.id, 250) as followers:
        yield owner, followers


def _everyone_has(clients, followers: list[int], media_id: int) -> bool:
    return all(stored_feed(clients, f) == [media_id] for f in followers)


# --- what a message does -----------------------------------------------------------------


def test_a_media_ready_event_puts_the_media_on_its_followers_feed(clients, stage, ready):
    _, follower = stage

    answer = _deliver(ready)

    assert answer == NO_FAILURES
    assert stored_feed(clients, follower.id)[0] == ready["media_id"]


def test_a_chunk_message_pushes_to_the_followers_of_its_slice_only(clients, audience):
    owner, followers = audience
    media = post_ready(clients, owner)
    through = followers[99]
    chunk = FanoutChunk(
        media_id=media.id,
        owner_id=owner.id,
        uploaded_at=media.created_at,
        after=0,
        through=through,
    )

    answer = _deliver(chunk.model_dump(mode="json"))

    assert answer == NO_FAILURES
    assert _everyone_has(clients, followers[:100], media.id)
    assert all(stored_feed(clients, f) == [] for f in followers[100:])


def test_an_event_of_a_media_deleted_meanwhile_succeeds_and_pushes_nothing(clients, stage, ready):
    owner, follower = stage
    assert owner.delete(f"/media/{ready['media_id']}").status_code == 204

    answer = _deliver(ready)

    assert answer == NO_FAILURES
    assert ready["media_id"] not in stored_feed(clients, follower.id)


# --- poison messages ---------------------------------------------------------------------


def _event(**overrides: Any) -> dict[str, Any]:
    """A well-formed media-ready event of a media that is not the test's."""
    now = datetime.now(UTC).isoformat()
    event = {
        "type": "media.ready",
        "media_id": 235_000_000_000_000_001,
        "owner_id": 235_000_000_000_000_002,
        "uploaded_at": now,
        "ready_at": now,
    }
    event.update(overrides)
    return event


def _without(field: str) -> dict[str, Any]:
    event = _event()
    del event[field]
    return event


def _chunk(**overrides: Any) -> dict[str, Any]:
    chunk = {**_without("ready_at"), "type": "fanout.chunk", "after": 0, "through": MAX_ID}
    chunk.update(overrides)
    return chunk


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("unknown field", json.dumps(_event(caption="hello"))),
        ("no type", json.dumps(_without("type"))),
        ("another type", json.dumps(_event(type="media.deleted"))),
        ("missing media_id", json.dumps(_without("media_id"))),
        ("missing owner_id", json.dumps(_without("owner_id"))),
        ("missing uploaded_at", json.dumps(_without("uploaded_at"))),
        ("missing ready_at", json.dumps(_without("ready_at"))),
        ("media_id 0", json.dumps(_event(media_id=0))),
        ("negative owner_id", json.dumps(_event(owner_id=-1))),
        ("not a date", json.dumps(_event(uploaded_at="yesterday"))),
        ("no offset", json.dumps(_event(uploaded_at="2026-05-01T12:00:00"))),
        ("chunk without through", json.dumps({**_chunk(), "through": None})),
        ("chunk with negative after", json.dumps(_chunk(after=-1))),
        ("chunk with ready_at", json.dumps(_chunk(ready_at=_event()["ready_at"]))),
        ("not JSON", "media 42 is ready"),
        ("a JSON list", json.dumps([_event()])),
        ("an SNS envelope", json.dumps({"Type": "Notification", "Message": "{}"})),
    ],
)
def test_a_malformed_message_fails_that_record_only(clients, stage, ready, case, body):
    # GIVEN a valid event and a malformed one in one batch
    _, follower = stage
    good, bad = _record(ready), _record(body)

    # WHEN the handler takes the batch
    answer = fanout.lambda_handler(sqs_event(good, bad), _context())

    # THEN only the malformed record is reported failed, and the valid one was fanned out
    assert answer == {"batchItemFailures": [{"itemIdentifier": bad["messageId"]}]}, case
    assert stored_feed(clients, follower.id)[0] == ready["media_id"]


def test_a_batch_of_only_malformed_messages_raises_batch_processing_error():
    batch = sqs_event(_record(_event(media_id=0)), _record("not json"))

    with pytest.raises(BatchProcessingError) as raised:
        fanout.lambda_handler(batch, _context())

    assert [type(exc) for _, exc, _ in raised.value.child_exceptions] == [
        MalformedEvent,
        MalformedEvent,
    ]


def test_an_event_naming_a_shard_that_does_not_exist_fails_that_record(stage, ready):
    # 2568 of the 8192 shards an ID can name; the stack has 64
    unknown = {**ready, "media_id": (1 << 40) | (2568 << 10) | 1}

    answer = _deliver(ready, unknown)

    assert _failed(answer) == 1


# --- idempotency -------------------------------------------------------------------------


def test_a_message_delivered_again_is_not_fanned_out_again(clients, stage, ready):
    # GIVEN an event fanned out, whose media is then taken out of the follower's feed
    _, follower = stage
    assert _deliver(ready) == NO_FAILURES
    clients.redis.lrem(redis_keys.feed(follower.id), 0, ready["media_id"])

    # WHEN the same message is delivered again (with other timestamps, as a re-announce)
    again = {**ready, "ready_at": datetime.now(UTC).isoformat()}
    answer = _deliver(again)

    # THEN it succeeds without fanning out again
    assert answer == NO_FAILURES
    assert ready["media_id"] not in stored_feed(clients, follower.id)
    assert fanout.persistence.get_record(data=ready).status == "COMPLETED"


def test_two_chunks_of_one_media_are_not_taken_for_the_same_message(clients, audience):
    owner, followers = audience
    media = post_ready(clients, owner)
    halves = [(0, followers[124]), (followers[124], MAX_ID)]
    chunks = [
        FanoutChunk(
            media_id=media.id, owner_id=owner.id, uploaded_at=media.created_at, after=a, through=t
        ).model_dump(mode="json")
        for a, t in halves
    ]

    answer = _deliver(*chunks)

    assert answer == NO_FAILURES
    assert _everyone_has(clients, followers, media.id)


def test_a_duplicated_delivery_in_one_batch_leaves_one_entry(clients, stage, ready):
    _, follower = stage

    answer = _deliver(ready, ready, ready)

    assert answer == NO_FAILURES
    assert stored_feed(clients, follower.id).count(ready["media_id"]) == 1


# --- failures half-way -------------------------------------------------------------------


@pytest.fixture
def half_way(clients, audience, monkeypatch):
    """`half_way(death)`: an audience, a media-ready event of its owner, and a handler whose
    fan-out stops with `death` after pushing to the owner and 90 followers
    (monkeypatch.undo() heals it)."""
    owner, followers = audience

    def make(death: type[BaseException]) -> tuple[list[int], dict[str, Any]]:
        event = ready_event(post_ready(clients, owner)).model_dump(mode="json")
        stack = fanout.settings.feed
        dying = DyingTimelines(Fanning(clients, stack).timelines, 1 + 90, death)
        monkeypatch.setattr(fanout, "fanout", Fanning(clients, stack, timelines=dying).fanout)
        return followers, event

    return make


def _holding(clients, followers: list[int], media_id: int) -> int:
    return sum(1 for f in followers if stored_feed(clients, f) == [media_id])


def test_a_handler_that_fails_half_way_is_redone_by_the_next_delivery(
    clients, half_way, monkeypatch
):
    # GIVEN a delivery whose fan-out fails half-way (its record is reported failed)
    followers, event = half_way(ConnectionError)
    with pytest.raises(BatchProcessingError):  # a batch of one: all of it failed
        _deliver(event)
    assert _holding(clients, followers, event["media_id"]) == 90

    # WHEN the queue delivers it again to a healthy handler
    monkeypatch.undo()
    answer = _deliver(event)

    # THEN every follower has the media, once
    assert answer == NO_FAILURES
    assert _everyone_has(clients, followers, event["media_id"])


def test_a_handler_killed_half_way_is_redone_once_its_in_progress_record_is_cleared(
    clients, half_way, monkeypatch
):
    # GIVEN a delivery whose process dies half-way: its idempotency record stays in progress
    followers, event = half_way(Killed)
    with pytest.raises(Killed):
        _deliver(event)
    assert fanout.persistence.get_record(data=event).status == "INPROGRESS"
    monkeypatch.undo()

    # WHEN the queue delivers it again while the record says in progress
    with pytest.raises(BatchProcessingError) as refused:
        _deliver(event)
    assert [type(e) for _, e, _ in refused.value.child_exceptions] == [
        IdempotencyAlreadyInProgressError
    ]
    assert _holding(clients, followers, event["media_id"]) == 90

    # AND again once the record is cleared (it expires with the invocation's time)
    fanout.persistence.delete_record(data=event, exception=IdempotencyAlreadyInProgressError())
    answer = _deliver(event)

    # THEN every follower has the media, once
    assert answer == NO_FAILURES
    assert _everyone_has(clients, followers, event["media_id"])


# --- chunks through a queue --------------------------------------------------------------


@pytest.fixture
def own_queue(clients, settings, monkeypatch) -> Iterator[str]:
    """A queue of the test's own that the handler sends its chunks to."""
    url = clients.sqs.create_queue(QueueName=f"photofeed-test-fanout-{uuid.uuid4().hex[:12]}")[
        "QueueUrl"
    ]
    monkeypatch.setattr(
        fanout, "settings", fanout.settings.model_copy(update={"fanout_queue_url": url})
    )
    yield url
    clients.sqs.delete_queue(QueueUrl=url)


def _drain(sqs: Any, queue_url: str, wait_seconds: int = 0) -> list[dict[str, Any]]:
    """Every message on the queue (the first receive long-polls `wait_seconds`)."""
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
        ).get("Messages", [])
        wait_seconds = 0
        if not messages:
            return found
        for message in messages:
            found.append(message)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_an_audience_above_a_chunk_is_sent_on_as_chunk_messages_the_handler_takes(
    clients, settings, audience, own_queue, monkeypatch
):
    # GIVEN a handler whose fan-out cuts audiences into chunks of 100, sent with its `send`
    owner, followers = audience
    chunked = FeedSettings(**{**settings.feed.model_dump(), "chunk_size": 100})
    monkeypatch.setattr(fanout, "fanout", Fanning(clients, chunked, forward=fanout.send).fanout)
    event = ready_event(post_ready(clients, owner)).model_dump(mode="json")

    # WHEN it takes the media-ready event
    assert _deliver(event) == NO_FAILURES

    # THEN three chunk messages are on the queue and nobody has the media yet
    messages = _drain(clients.sqs, own_queue)
    bodies = [json.loads(m["Body"]) for m in messages]
    assert sorted(b["after"] for b in bodies)[0] == 0
    assert [b["type"] for b in bodies] == ["fanout.chunk"] * 3
    assert _holding(clients, followers, event["media_id"]) == 0
    # AND the handler, given those messages, pushes to every follower once
    answer = fanout.lambda_handler(
        sqs_event(
            *(sqs_record(m["Body"], queue=QUEUE, message_id=m["MessageId"]) for m in messages)
        ),
        _context(),
    )
    assert answer == NO_FAILURES
    assert _everyone_has(clients, followers, event["media_id"])


# --- end to end through SNS: a private topic and queue, so the stack's pump is not raced


@pytest.fixture
def private(settings) -> dict[str, str]:
    session = boto3.Session(
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        region_name=FAKE_AWS["AWS_DEFAULT_REGION"],
    )
    return provision(session, settings.endpoint_url, f"fanout-{uuid.uuid4().hex[:8]}")


def test_a_published_event_reaches_the_fanout_queue_raw_and_the_handler_takes_it(
    clients, private, stage, ready
):
    # GIVEN a media-ready event published on the media-events topic
    _, follower = stage
    published = json.dumps(ready)
    clients.sns.publish(TopicArn=private["PHOTOFEED_MEDIA_EVENTS_TOPIC_ARN"], Message=published)

    # WHEN it is read from the fan-out queue
    queue_url = private["PHOTOFEED_FANOUT_QUEUE_URL"]
    messages = _drain(clients.sqs, queue_url, wait_seconds=1)
    assert len(messages) == 1, messages

    # THEN the body is the event itself, not an SNS envelope (raw message delivery)
    assert messages[0]["Body"] == published
    # AND the fan-out handler takes it as Lambda would hand it over
    queue_name = queue_url.rsplit("/", 1)[1]
    record = sqs_record(messages[0]["Body"], queue=queue_name, message_id=messages[0]["MessageId"])
    assert fanout.lambda_handler(sqs_event(record), _context()) == NO_FAILURES
    assert stored_feed(clients, follower.id)[0] == ready["media_id"]
