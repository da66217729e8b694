"""The event pump carries S3 notifications through SQS to the real handlers, as Lambda does."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from chalicelib.config import Settings
from chalicelib.resources import MAX_RECEIVE_COUNT
from devstack.provision import provision
from devstack.pump import Pump, Subscription
from devstack.stack import FAKE_AWS
from functions.thumbnail import handler as thumbnail


@pytest.fixture
def private(settings: Settings) -> dict[str, str]:
    """A bucket and queues of this test's own, so the stack's pump does not compete."""
    session = boto3.Session(**_credentials())
    made = provision(session, settings.endpoint_url, f"pump-{uuid.uuid4().hex[:8]}")
    # S3 says hello with an s3:TestEvent when notifications are set up; start from empty.
    session.client("sqs", endpoint_url=settings.endpoint_url).purge_queue(
        QueueUrl=made["PHOTOFEED_UPLOADS_QUEUE_URL"]
    )
    return made


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": FAKE_AWS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        "region_name": FAKE_AWS["AWS_DEFAULT_REGION"],
    }


class Recorder:
    """The real thumbnail handler, with every event and answer it had written down."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        try:
            answer = thumbnail.lambda_handler(event, context)
        except Exception as exc:  # Lambda fails the whole batch; the pump sees it raise
            self.calls.append((event, exc))
            raise
        self.calls.append((event, answer))
        return answer


def _drain(pump: Pump, subscription: Subscription, until: float = 10) -> list:
    deliveries = []
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        delivery = pump.deliver_once(subscription)
        if delivery.received:
            deliveries.append(delivery)
        elif deliveries:
            return deliveries
    return deliveries


def _queue_bodies(sqs: Any, url: str) -> list[str]:
    answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [m["Body"] for m in answer.get("Messages", [])]


def test_a_dropped_file_reaches_the_thumbnail_handler_as_an_s3_notification_in_sqs(
    clients, private
):
    # GIVEN a file dropped in the bucket under an original's key
    clients.s3.put_object(Bucket=private["PHOTOFEED_BUCKET"], Key="originals/42", Body=b"jpeg")
    recorder = Recorder()
    subscription = Subscription("thumbnail", private["PHOTOFEED_UPLOADS_QUEUE_URL"], recorder)

    # WHEN the pump delivers
    deliveries = _drain(Pump(clients.sqs), subscription)

    # THEN the handler got one SQS event whose record body is S3's notification
    assert [d.received for d in deliveries] == [1]
    event, answer = recorder.calls[0]
    (record,) = event["Records"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(
        ":" + private["PHOTOFEED_UPLOADS_QUEUE_URL"].rsplit("/", 1)[1]
    )
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    (s3_record,) = json.loads(record["body"])["Records"]
    assert s3_record["eventSource"] == "aws:s3"
    assert s3_record["eventName"].startswith("ObjectCreated:")
    assert s3_record["s3"]["bucket"]["name"] == private["PHOTOFEED_BUCKET"]
    # S3 URL-encodes keys in notifications (moto encodes the slash as well)
    assert unquote_plus(s3_record["s3"]["object"]["key"]) == "originals/42"
    assert answer == {"batchItemFailures": []}
    # AND the queue is empty: handled messages are deleted
    assert _queue_bodies(clients.sqs, private["PHOTOFEED_UPLOADS_QUEUE_URL"]) == []


def test_only_the_failed_record_comes_back_and_it_dead_letters_after_max_receives(clients, private):
    # GIVEN a good original and an object whose key is no media's, in one batch
    bucket = private["PHOTOFEED_BUCKET"]
    clients.s3.put_object(Bucket=bucket, Key="originals/7", Body=b"jpeg")
    clients.s3.put_object(Bucket=bucket, Key="originals/not a media", Body=b"jpeg")
    recorder = Recorder()
    subscription = Subscription("thumbnail", private["PHOTOFEED_UPLOADS_QUEUE_URL"], recorder)
    pump = Pump(clients.sqs, retry_delay_seconds=0)

    # WHEN the pump delivers until nothing is left
    deliveries = _drain(pump, subscription, until=20)

    # THEN the first batch held both and only the bad record was reported failed
    first_event, first_answer = recorder.calls[0]
    assert len(first_event["Records"]) == 2
    bad = [r for r in first_event["Records"] if "not a media" in unquote_plus(r["body"])]
    assert first_answer == {"batchItemFailures": [{"itemIdentifier": bad[0]["messageId"]}]}
    # AND the bad record alone came back, MAX_RECEIVE_COUNT times in all
    assert [len(event["Records"]) for event, _ in recorder.calls] == [2] + [1] * (
        MAX_RECEIVE_COUNT - 1
    )
    assert deliveries[-1].dead_lettered == [bad[0]["messageId"]]
    # AND it now sits in the dead-letter queue with its S3 notification intact
    (dead,) = _queue_bodies(clients.sqs, private["PHOTOFEED_UPLOADS_DLQ_URL"])
    dead_key = json.loads(dead)["Records"][0]["s3"]["object"]["key"]
    assert unquote_plus(dead_key) == "originals/not a media"
    assert _queue_bodies(clients.sqs, private["PHOTOFEED_UPLOADS_QUEUE_URL"]) == []


def test_a_handler_that_raises_fails_the_whole_batch(clients, private):
    # GIVEN a handler that crashes
    def crash(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("boom")

    clients.s3.put_object(Bucket=private["PHOTOFEED_BUCKET"], Key="originals/8", Body=b"x")
    subscription = Subscription("thumbnail", private["PHOTOFEED_UPLOADS_QUEUE_URL"], crash)
    pump = Pump(clients.sqs, retry_delay_seconds=0)

    # WHEN it is delivered once
    delivery = pump.deliver_once(subscription)

    # THEN the message stays on the queue for another try
    assert len(delivery.failed) == 1
    assert delivery.dead_lettered == []
    assert len(_queue_bodies(clients.sqs, private["PHOTOFEED_UPLOADS_QUEUE_URL"])) == 1


def test_the_running_pump_dead_letters_a_poison_upload(clients, settings):
    # GIVEN the stack's own bucket, watched by the stack's own pump
    key = f"originals/poison-{uuid.uuid4().hex}"

    # WHEN a file that is no media's original lands in it
    clients.s3.put_object(Bucket=settings.bucket, Key=key, Body=b"x")

    # THEN the real thumbnail handler fails it until it is dead-lettered
    deadline = time.monotonic() + 30
    dead: list[str] = []
    while time.monotonic() < deadline and not dead:
        bodies = _queue_bodies(clients.sqs, settings.uploads_dlq_url)
        dead = [b for b in bodies if key in unquote_plus(b)]
    assert dead, f"{key} never reached the dead-letter queue"


def test_a_handler_answer_lambda_cannot_read_fails_the_whole_batch(clients, private):
    # GIVEN a handler that answers something that is not a batch response
    def confused(event: dict[str, Any], context: Any) -> Any:
        return {"batchItemFailures": "none"}

    clients.s3.put_object(Bucket=private["PHOTOFEED_BUCKET"], Key="originals/9", Body=b"x")
    subscription = Subscription("thumbnail", private["PHOTOFEED_UPLOADS_QUEUE_URL"], confused)

    # WHEN it is delivered once
    delivery = Pump(clients.sqs, retry_delay_seconds=0).deliver_once(subscription)

    # THEN every record of the batch counts as failed, as Lambda would have it
    assert delivery.received == 1
    assert len(delivery.failed) == 1
