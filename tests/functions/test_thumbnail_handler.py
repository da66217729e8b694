"""The thumbnail Lambda, called directly with SQS events of S3 notifications.

The objects are real (the stack's bucket in moto); only the SQS event is built here, so
the stack's own pump, which consumes the uploads queue, is never raced.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from typing import Any
from urllib.parse import quote_plus

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError

from chalicelib.media.keys import InvalidUploadKey, original_key
from chalicelib.media.uploads import MalformedNotification
from devstack.pump import LambdaContext
from functions.thumbnail import handler as thumbnail
from tests.functions.sqs import sqs_event, sqs_record

QUEUE = "photofeed-local-uploads"
NO_FAILURES = {"batchItemFailures": []}


def _context() -> LambdaContext:
    return LambdaContext("thumbnail", aws_request_id=str(uuid.uuid4()))


def _new_original_key() -> str:
    return original_key(random.randrange(1, 2**62))


def _notification(bucket: str, key: str) -> str:
    """The body S3 puts on the uploads queue when `key` is created (keys URL-encoded)."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": "us-east-1",
                    "eventTime": "2024-05-01T12:00:00.000Z",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "configurationId": "uploads",
                        "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                        "object": {
                            "key": quote_plus(key),
                            "size": 4,
                            "eTag": "9b2cf535f27731c974343645a3985328",
                            "sequencer": "0055AED6DCD90281E5",
                        },
                    },
                }
            ]
        }
    )


def _record(body: str) -> dict[str, Any]:
    return sqs_record(body, queue=QUEUE)


@pytest.fixture
def uploaded(clients, settings) -> str:
    """The key of an original that exists in the stack's bucket."""
    key = _new_original_key()
    clients.s3.put_object(Bucket=settings.bucket, Key=key, Body=b"jpeg")
    return key


@pytest.fixture(autouse=True)
def _capture_handler_logs(caplog) -> None:
    caplog.set_level(logging.INFO, logger=thumbnail.SERVICE)


def _received(caplog) -> list[tuple[str, str]]:
    """(key, outcome) of every original the handler logged as received, in order."""
    return [
        (r.key, r.outcome)
        for r in caplog.records
        if r.name == thumbnail.SERVICE and r.getMessage() == "original received"
    ]


def test_an_existing_original_is_received(settings, uploaded, caplog):
    answer = thumbnail.lambda_handler(
        sqs_event(_record(_notification(settings.bucket, uploaded))), _context()
    )

    assert answer == NO_FAILURES
    assert _received(caplog) == [(uploaded, "received")]


def test_only_the_record_whose_key_is_no_original_fails(clients, settings, uploaded, caplog):
    # GIVEN a batch of a valid original and an object outside the key layout
    bad_key = f"originals/abc-{uuid.uuid4().hex}"
    clients.s3.put_object(Bucket=settings.bucket, Key=bad_key, Body=b"jpeg")
    good = _record(_notification(settings.bucket, uploaded))
    bad = _record(_notification(settings.bucket, bad_key))

    # WHEN the handler takes the batch
    answer = thumbnail.lambda_handler(sqs_event(good, bad), _context())

    # THEN only the bad record is reported, and the good one was received
    assert answer == {"batchItemFailures": [{"itemIdentifier": bad["messageId"]}]}
    assert _received(caplog) == [(uploaded, "received")]


def test_an_original_deleted_before_its_late_notification_succeeds_as_gone(
    clients, settings, uploaded, caplog
):
    # GIVEN an original deleted after S3 queued its notification
    clients.s3.delete_object(Bucket=settings.bucket, Key=uploaded)
    with pytest.raises(ClientError):
        clients.s3.head_object(Bucket=settings.bucket, Key=uploaded)

    # WHEN the notification arrives late
    answer = thumbnail.lambda_handler(
        sqs_event(_record(_notification(settings.bucket, uploaded))), _context()
    )

    # THEN it is done, not failed
    assert answer == NO_FAILURES
    assert _received(caplog) == [(uploaded, "gone")]


def test_the_s3_test_event_succeeds_and_receives_nothing(settings, caplog):
    body = json.dumps(
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": "2024-05-01T12:00:00.000Z",
            "Bucket": settings.bucket,
            "RequestId": "5582815E1AEA5ADF",
            "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
        }
    )

    answer = thumbnail.lambda_handler(sqs_event(_record(body)), _context())

    assert answer == NO_FAILURES
    assert _received(caplog) == []


def test_a_body_that_is_not_json_fails_that_record_only(settings, uploaded, caplog):
    good = _record(_notification(settings.bucket, uploaded))
    garbage = _record("this is not JSON")

    answer = thumbnail.lambda_handler(sqs_event(garbage, good), _context())

    assert answer == {"batchItemFailures": [{"itemIdentifier": garbage["messageId"]}]}
    assert _received(caplog) == [(uploaded, "received")]


def test_a_notification_delivered_twice_in_one_batch_succeeds_both_times(
    settings, uploaded, caplog
):
    # GIVEN the same S3 notification twice (S3 and SQS both deliver at least once)
    body = _notification(settings.bucket, uploaded)

    answer = thumbnail.lambda_handler(sqs_event(_record(body), _record(body)), _context())

    assert answer == NO_FAILURES
    assert _received(caplog) == [(uploaded, "received"), (uploaded, "received")]


def test_a_batch_in_which_every_record_fails_raises_batch_processing_error(settings):
    # GIVEN a batch of only poison: a key outside the layout and a body that is not JSON
    bad_key = _notification(settings.bucket, "originals/abc")
    batch = sqs_event(_record(bad_key), _record("{not json"))

    # WHEN / THEN Powertools fails the whole batch by raising, with each record's error
    with pytest.raises(BatchProcessingError) as raised:
        thumbnail.lambda_handler(batch, _context())
    errors = [type(exc) for _, exc, _ in raised.value.child_exceptions]
    assert errors == [InvalidUploadKey, MalformedNotification]
