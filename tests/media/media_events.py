"""What is announced on the media-events topic, read from a queue of the test's own.

The stack's pump consumes the fan-out queue, so tests never read that one: they
subscribe a private queue to the topic (raw delivery, as fan-out's subscription is) and
read every event published while it is subscribed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class MediaEvents:
    """Every event published on the topic since subscribing, in arrival order."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._received: list[dict[str, Any]] = []

    def of(self, media_id: int) -> list[dict[str, Any]]:
        """The events about one media received so far."""
        self._drain()
        return [event for event in self._received if event.get("media_id") == media_id]

    def _drain(self) -> None:
        while True:
            messages = self._sqs.receive_message(
                QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                return
            for message in messages:
                self._received.append(json.loads(message["Body"]))
                self._sqs.delete_message(
                    QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


@contextmanager
def subscribed(sqs: Any, sns: Any, topic_arn: str) -> Iterator[MediaEvents]:
    """A private queue subscribed to the topic for the duration; removed after."""
    queue_url = sqs.create_queue(QueueName=f"photofeed-test-media-events-{uuid.uuid4().hex}")[
        "QueueUrl"
    ]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    subscription = sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    try:
        yield MediaEvents(sqs, queue_url)
    finally:
        sns.unsubscribe(SubscriptionArn=subscription)
        sqs.delete_queue(QueueUrl=queue_url)
