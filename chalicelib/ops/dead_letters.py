"""Dead-letter queues, for operators: how many letters each holds, what they say, and
moving them back to their queue once the cause is fixed (`photofeed dlq ...`).

A replay receives a batch from the dead-letter queue, sends it to the source queue, and
deletes from the dead-letter queue only what was sent: a replay stopped anywhere leaves
every letter in one queue or the other (a letter sent but not yet deleted is sent again
by the next replay: handlers are idempotent). Plain receive/send/delete works against
moto as against SQS, whose StartMessageMoveTask moto does not implement.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.config import Settings
from chalicelib.errors import InvalidInput

# SQS's largest batch for receive, send and delete.
BATCH = 10
# A received letter stays hidden this long while it is being moved: ample for one
# batch, short enough that a replay killed half-way gives its letters back soon.
MOVING_SECONDS = 60
# One second of long polling asks every SQS server, so an empty answer means empty
# (a short poll samples some servers only).
POLL_SECONDS = 1


class UnknownQueue(InvalidInput):
    """Raised when a queue name is not one of the deployment's queues with a DLQ."""


@dataclass(frozen=True)
class Depth:
    """How many letters a dead-letter queue holds (approximate, as SQS counts)."""

    queue: str
    visible: int
    in_flight: int


@dataclass(frozen=True)
class Letter:
    """One dead letter, as `show` prints it."""

    message_id: str
    sent_at_ms: int
    body: str


@dataclass(frozen=True)
class Replayed:
    """What a replay moved, and what it could not send (left in the DLQ)."""

    moved: int
    failed: int


class DeadLetters:
    """The dead-letter queues of a deployment's queues, by queue name."""

    def __init__(self, sqs: Any, pairs: dict[str, tuple[str, str]]) -> None:
        self._sqs = sqs
        self._pairs = pairs  # queue name -> (queue URL, its dead-letter queue's URL)

    @classmethod
    def of(cls, sqs: Any, settings: Settings) -> DeadLetters:
        """The deployment's queues that have a dead-letter queue."""
        urls = settings.queue_urls
        return cls(
            sqs,
            {
                name: (url, urls[f"{name}-dlq"])
                for name, url in urls.items()
                if f"{name}-dlq" in urls
            },
        )

    @property
    def queues(self) -> list[str]:
        return sorted(self._pairs)

    def depths(self) -> list[Depth]:
        """Each dead-letter queue's letters."""
        return [self._depth(name) for name in self.queues]

    def show(self, queue: str, limit: int) -> list[Letter]:
        """Up to `limit` letters, left in the queue (visible again at once)."""
        dlq = self._dlq(queue)
        held: list[dict[str, Any]] = []  # kept hidden until the end, so receives bring others
        try:
            while len(held) < limit:
                batch = self._receive(dlq, min(BATCH, limit - len(held)))
                if not batch:
                    break
                held.extend(batch)
        finally:
            for start in range(0, len(held), BATCH):
                self._release(dlq, held[start : start + BATCH])
        return [_letter(message) for message in held]

    def replay(self, queue: str, limit: int | None = None) -> Replayed:
        """Move up to `limit` letters back to the queue (when None: as many as the DLQ
        held when the replay began, so that letters failing again and coming back are not
        replayed in a loop)."""
        source, dlq = self._urls(queue)
        if limit is None:
            depth = self._depth(queue)
            limit = depth.visible + depth.in_flight
        moved = failed = 0
        while moved + failed < limit:
            wanted = min(BATCH, limit - moved - failed)
            batch = self._receive(dlq, wanted)
            if not batch:
                break
            sent, unsent = self._send(source, batch)
            self._delete(dlq, sent)
            self._release(dlq, unsent)
            moved += len(sent)
            failed += len(unsent)
            if unsent:
                break  # the source queue refuses: stop rather than spin
        return Replayed(moved, failed)

    def _urls(self, queue: str) -> tuple[str, str]:
        if queue not in self._pairs:
            raise UnknownQueue(f"no queue {queue!r}: one of {', '.join(self.queues)}")
        return self._pairs[queue]

    def _dlq(self, queue: str) -> str:
        return self._urls(queue)[1]

    def _depth(self, queue: str) -> Depth:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._dlq(queue),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return Depth(
            queue,
            int(attributes.get("ApproximateNumberOfMessages", 0)),
            int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        )

    def _receive(self, url: str, count: int) -> list[dict[str, Any]]:
        return self._sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=POLL_SECONDS,
            VisibilityTimeout=MOVING_SECONDS,
            AttributeNames=["SentTimestamp"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])

    def _send(
        self, url: str, batch: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Send the letters to `url`; (sent, not sent)."""
        entries = [
            {
                "Id": str(index),
                "MessageBody": message["Body"],
                **_attributes(message),
            }
            for index, message in enumerate(batch)
        ]
        answer = self._sqs.send_message_batch(QueueUrl=url, Entries=entries)
        sent = {entry["Id"] for entry in answer.get("Successful", [])}
        return _split(batch, lambda index: str(index) in sent)

    def _delete(self, url: str, batch: list[dict[str, Any]]) -> None:
        if batch:
            self._sqs.delete_message_batch(QueueUrl=url, Entries=_handles(batch))

    def _release(self, url: str, batch: list[dict[str, Any]]) -> None:
        """Make received letters visible again at once."""
        if batch:
            self._sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[{**entry, "VisibilityTimeout": 0} for entry in _handles(batch)],
            )


def _letter(message: dict[str, Any]) -> Letter:
    return Letter(
        message["MessageId"],
        int(message.get("Attributes", {}).get("SentTimestamp", 0)),
        _compact(message["Body"]),
    )


def _compact(body: str) -> str:
    """A JSON body on one line without spaces; any other body as it is."""
    try:
        return json.dumps(json.loads(body), separators=(",", ":"))
    except ValueError:
        return body


def _attributes(message: dict[str, Any]) -> dict[str, Any]:
    attributes = message.get("MessageAttributes")
    return {"MessageAttributes": attributes} if attributes else {}


def _handles(batch: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
        for index, message in enumerate(batch)
    ]


def _split(
    batch: list[dict[str, Any]], sent: Callable[[int], bool]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return (
        [m for i, m in enumerate(batch) if sent(i)],
        [m for i, m in enumerate(batch) if not sent(i)],
    )
