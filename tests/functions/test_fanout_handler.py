"""The fan-out Lambda, called with SQS events whose bodies are MediaReady events."""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from chalicelib.feed.events import MalformedEvent
from devstack.provision import provision
from devstack.pump import LambdaContext
from devstack.stack import FAKE_AWS
from functions.fanout import handler as fanout
from tests.functions.sqs import sqs_event, sqs_record

QUEUE = "photofeed-local-fanout"
NO_FAILURES = {"batchItemFailures": []}


def _context() -> LambdaContext:
    return LambdaContext("fanout", aws_request_id=str(uuid.uuid4()))


def _media_ready(**overrides: Any) -> dict[str, Any]:
    """A media-ready event as a JSON document, as the publisher writes it."""
    now = datetime.now(timezone.utc)
    event = {
        "type": "media.ready",
        "media_id": random.randrange(1, 2**62),
        "owner_id": random.randrange(1, 2**62),
        "uploaded_at": (now - timedelta(seconds=3)).isoformat(),
        "ready_at": now.isoformat(),
    }
    event.update(overrides)
    return event


def _record(body: str) -> dict[str, Any]:
    return sqs_record(body, queue=QUEUE)


@pytest.fixture(autouse=True)
def _capture_handler_logs(caplog) -> None:
    caplog.set_level(logging.INFO, logger=fanout.SERVICE)


def _received_media_ids(caplog) -> list[int]:
    return [
        r.media_id
        for r in caplog.records
        if r.name == fanout.SERVICE and r.getMessage() == "media event received"
    ]


def test_a_valid_media_ready_event_succeeds(caplog):
    event = _media_ready()

    answer = fanout.lambda_handler(sqs_event(_record(json.dumps(event))), _context())

    assert answer == NO_FAILURES
    assert _received_media_ids(caplog) == [event["media_id"]]


def test_an_event_without_its_type_is_a_media_ready_event():
    event = _media_ready()
    del event["type"]

    answer = fanout.lambda_handler(sqs_event(_record(json.dumps(event))), _context())

    assert answer == NO_FAILURES


def _without(field: str) -> dict[str, Any]:
    event = _media_ready()
    del event[field]
    return event


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("unknown field", json.dumps(_media_ready(caption="hello"))),
        ("missing media_id", json.dumps(_without("media_id"))),
        ("missing owner_id", json.dumps(_without("owner_id"))),
        ("missing uploaded_at", json.dumps(_without("uploaded_at"))),
        ("missing ready_at", json.dumps(_without("ready_at"))),
        ("media_id 0", json.dumps(_media_ready(media_id=0))),
        ("negative owner_id", json.dumps(_media_ready(owner_id=-1))),
        ("another type", json.dumps(_media_ready(type="media.deleted"))),
        ("not a date", json.dumps(_media_ready(uploaded_at="yesterday"))),
        ("not JSON", "media 42 is ready"),
        ("a JSON list", json.dumps([_media_ready()])),
        ("an SNS envelope", json.dumps({"Type": "Notification", "Message": "{}"})),
    ],
)
def test_a_malformed_event_fails_that_record_only(case, body, caplog):
    # GIVEN a valid event and a malformed one in one batch
    good_event = _media_ready()
    good = _record(json.dumps(good_event))
    bad = _record(body)

    # WHEN the handler takes the batch
    answer = fanout.lambda_handler(sqs_event(good, bad), _context())

    # THEN only the malformed record is reported failed
    assert answer == {"batchItemFailures": [{"itemIdentifier": bad["messageId"]}]}, case
    assert _received_media_ids(caplog) == [good_event["media_id"]]


def test_a_batch_of_only_malformed_events_raises_batch_processing_error():
    batch = sqs_event(_record(json.dumps(_media_ready(media_id=0))), _record("not json"))

    with pytest.raises(BatchProcessingError) as raised:
        fanout.lambda_handler(batch, _context())
    assert [type(exc) for _, exc, _ in raised.value.child_exceptions] == [
        MalformedEvent,
        MalformedEvent,
    ]


def test_an_event_whose_timestamps_have_no_offset_is_malformed():
    naive = datetime(2024, 5, 1, 12, 0, 0).isoformat()
    body = json.dumps(_media_ready(uploaded_at=naive, ready_at=naive))

    with pytest.raises(BatchProcessingError) as raised:
        fanout.lambda_handler(sqs_event(_record(body)), _context())
    assert [type(exc) for _, exc, _ in raised.value.child_exceptions] == [MalformedEvent]


# --- end to end through SNS: a private topic and queue, so the stack's pump is not raced


@pytest.fixture
def private(settings) -> dict[str, str]:
    session = boto3.Session(
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        region_name=FAKE_AWS["AWS_DEFAULT_REGION"],
    )
    return provision(session, settings.endpoint_url, f"fanout-{uuid.uuid4().hex[:8]}")


def _receive_one(sqs: Any, queue_url: str, within: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if messages:
            assert len(messages) == 1, messages
            return messages[0]
    raise AssertionError(f"nothing arrived on {queue_url} within {within} s")


def test_a_published_event_reaches_the_fanout_queue_raw_and_the_handler_takes_it(
    clients, private, caplog
):
    # GIVEN a media-ready event published on the media-events topic
    event = _media_ready()
    published = json.dumps(event)
    clients.sns.publish(TopicArn=private["PHOTOFEED_MEDIA_EVENTS_TOPIC_ARN"], Message=published)

    # WHEN it is read from the fan-out queue
    queue_url = private["PHOTOFEED_FANOUT_QUEUE_URL"]
    message = _receive_one(clients.sqs, queue_url)

    # THEN the body is the event itself, not an SNS envelope (raw message delivery)
    assert message["Body"] == published
    # AND the fan-out handler takes it as Lambda would hand it over
    queue_name = queue_url.rsplit("/", 1)[1]
    record = sqs_record(message["Body"], queue=queue_name, message_id=message["MessageId"])
    answer = fanout.lambda_handler(sqs_event(record), _context())
    assert answer == NO_FAILURES
    assert _received_media_ids(caplog) == [event["media_id"]]
