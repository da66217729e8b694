"""The event pump: what Lambda's SQS event source mapping does in AWS, done locally.

It long-polls each queue, hands the real handler an SQS event of the real shape (the
body of each record is the message: an S3 notification for the uploads queue), deletes
what succeeded, makes failed records visible again after a short delay, and moves a
record that failed its queue's `maxReceiveCount` receives to the dead-letter queue.

With `--duplicate-seed N` it also delivers every message twice, in random order (the
fault drills, tests/drills): each message received for the first time is sent back to its
queue as a copy, after a random delay, and every batch is handed over shuffled.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from chalicelib.config import Settings
from functions.fanout import handler as fanout
from functions.notify import handler as notify
from functions.thumbnail import handler as thumbnail

Handler = Callable[[dict[str, Any], Any], Any]
log = logging.getLogger("devstack.pump")

# Lambda reads up to 10 messages a batch from a standard queue by default.
BATCH_SIZE = 10
# A duplicate comes back after up to this many seconds (SQS redelivers within seconds).
DUPLICATE_DELAY_SECONDS = 2


@dataclass(frozen=True)
class LambdaContext:
    """The parts of Lambda's context object that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = ""

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class Subscription:
    """One queue and the function it triggers."""

    function_name: str
    queue_url: str
    handler: Handler


@dataclass
class Delivery:
    """What became of one batch."""

    received: int
    failed: list[str]
    dead_lettered: list[str]


class Pump:
    """Carries messages from SQS queues to Lambda handlers, as Lambda would."""

    def __init__(
        self,
        sqs: Any,
        *,
        wait_seconds: int = 1,
        retry_delay_seconds: int = 1,
        duplicate: random.Random | None = None,
    ) -> None:
        self._sqs = sqs
        # When set: every message is delivered twice, batches shuffled (see the module).
        self._duplicate = duplicate
        self._copies: set[str] = set()
        self._copies_lock = threading.Lock()
        self._wait_seconds = wait_seconds
        self._retry_delay_seconds = retry_delay_seconds
        self._redrive: dict[str, tuple[str | None, int, str]] = {}
        # One invocation at a time: each Lambda runs alone in its container, and
        # Powertools keeps metrics and log keys in process-wide state.
        self._invoking = threading.Lock()

    def deliver_once(self, subscription: Subscription) -> Delivery:
        """Receive one batch (long-polling) and hand it to the handler."""
        messages = self._sqs.receive_message(
            QueueUrl=subscription.queue_url,
            MaxNumberOfMessages=BATCH_SIZE,
            WaitTimeSeconds=self._wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return Delivery(0, [], [])
        dlq_url, max_receives, queue_arn = self._redrive_of(subscription.queue_url)
        if self._duplicate is not None:
            self._send_copies(subscription.queue_url, messages)
        event = {"Records": [_sqs_record(m, queue_arn) for m in messages]}
        failed = self._invoke(subscription, event)
        dead: list[str] = []
        self._delete(subscription.queue_url, [m for m in messages if m["MessageId"] not in failed])
        for message in messages:
            if message["MessageId"] not in failed:
                continue
            if dlq_url and _receive_count(message) >= max_receives:
                self._dead_letter(subscription.queue_url, dlq_url, message)
                dead.append(message["MessageId"])
            else:
                self._sqs.change_message_visibility(
                    QueueUrl=subscription.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=self._retry_delay_seconds,
                )
        log.info(
            json.dumps(
                {
                    "message": "batch delivered",
                    "function": subscription.function_name,
                    "received": len(messages),
                    "failed": sorted(failed),
                    "dead_lettered": dead,
                }
            )
        )
        return Delivery(len(messages), sorted(failed), dead)

    def _send_copies(self, queue_url: str, messages: list[dict[str, Any]]) -> None:
        """Send each message not seen before back to its queue, once, after a random
        delay; shuffle the batch in place."""
        assert self._duplicate is not None
        with self._copies_lock:
            for message in messages:
                if message["MessageId"] in self._copies or _receive_count(message) > 1:
                    continue
                copy = self._sqs.send_message(
                    QueueUrl=queue_url,
                    MessageBody=message["Body"],
                    MessageAttributes=message.get("MessageAttributes", {}),
                    DelaySeconds=self._duplicate.randint(0, DUPLICATE_DELAY_SECONDS),
                )
                self._copies.add(copy["MessageId"])
            self._duplicate.shuffle(messages)

    def _invoke(self, subscription: Subscription, event: dict[str, Any]) -> set[str]:
        """Call the handler; the IDs it reports failed (all of them if it raised)."""
        context = LambdaContext(subscription.function_name, aws_request_id=str(uuid.uuid4()))
        all_ids = {record["messageId"] for record in event["Records"]}
        try:
            with self._invoking:
                response = subscription.handler(event, context)
        except Exception:
            log.exception("%s raised: the whole batch failed", subscription.function_name)
            return all_ids
        if response is None:
            return set()
        failures = response.get("batchItemFailures") if isinstance(response, dict) else None
        if not isinstance(failures, list) or not all(isinstance(f, dict) for f in failures):
            log.error(
                "%s answered %r: the whole batch failed", subscription.function_name, response
            )
            return all_ids
        reported = {f.get("itemIdentifier") for f in failures}
        # Lambda fails the whole batch when a reported ID is not one of the batch's.
        return reported if reported <= all_ids else all_ids

    def _redrive_of(self, queue_url: str) -> tuple[str | None, int, str]:
        """The queue's dead-letter queue URL, its maxReceiveCount, and its own ARN."""
        if queue_url not in self._redrive:
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["RedrivePolicy", "QueueArn"]
            )["Attributes"]
            policy = json.loads(attributes.get("RedrivePolicy", "{}"))
            dlq_url = None
            if policy:
                dlq_name = policy["deadLetterTargetArn"].rsplit(":", 1)[-1]
                dlq_url = self._sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
            self._redrive[queue_url] = (
                dlq_url,
                int(policy.get("maxReceiveCount", 0)),
                attributes["QueueArn"],
            )
        return self._redrive[queue_url]

    def _delete(self, queue_url: str, messages: list[dict[str, Any]]) -> None:
        """Delete what was handled, in one call (a batch holds at most ten)."""
        if messages:
            self._sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )

    def _dead_letter(self, queue_url: str, dlq_url: str, message: dict[str, Any]) -> None:
        self._sqs.send_message(
            QueueUrl=dlq_url,
            MessageBody=message["Body"],
            MessageAttributes=message.get("MessageAttributes", {}),
        )
        self._delete(queue_url, [message])

    def run(self, subscriptions: list[Subscription], stop: threading.Event) -> None:
        """Pump every subscription until `stop` is set, one thread each."""
        threads = [
            threading.Thread(target=self._loop, args=(s, stop), name=s.function_name, daemon=True)
            for s in subscriptions
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _loop(self, subscription: Subscription, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.deliver_once(subscription)
            except Exception:
                log.exception("pumping %s failed; retrying", subscription.function_name)
                stop.wait(1)


def _receive_count(message: dict[str, Any]) -> int:
    return int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))


def _sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of a Lambda SQS event, built from a ReceiveMessage answer."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody")
        or hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def main() -> int:
    """Pump the stack's queues into the real thumbnail, fan-out and notify handlers."""
    parser = argparse.ArgumentParser(prog="python -m devstack.pump")
    parser.add_argument(
        "--duplicate-seed",
        type=int,
        help="deliver every message twice, in an order this seed shuffles (fault drills)",
    )
    args = parser.parse_args()
    duplicate = None if args.duplicate_seed is None else random.Random(args.duplicate_seed)  # noqa: S311 (a drill's shuffle)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    settings = Settings.from_env()
    sqs = boto3.client("sqs", endpoint_url=settings.endpoint_url, region_name=settings.region)
    subscriptions = [
        Subscription("thumbnail", settings.uploads_queue_url, thumbnail.lambda_handler),
        Subscription("fanout", settings.fanout_queue_url, fanout.lambda_handler),
        Subscription("notify", settings.notifications_queue_url, notify.lambda_handler),
    ]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("pumping %s", ", ".join(s.function_name for s in subscriptions))
    Pump(sqs, duplicate=duplicate).run(subscriptions, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
