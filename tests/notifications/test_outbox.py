"""The outbox queues a notification only when its recipient has a device: on a queue of
the test's own (the stack's pump does not take from it), through the real shards."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from chalicelib.notifications.outbox import Outbox
from tests.notifications.pushes import register


@pytest.fixture
def queue(clients) -> Iterator[str]:
    url = clients.sqs.create_queue(QueueName=f"outbox-test-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    yield url
    clients.sqs.delete_queue(QueueUrl=url)


def _queued(clients, url: str) -> list[dict]:
    found = clients.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [json.loads(m["Body"]) for m in found.get("Messages", [])]


def test_a_recipient_without_a_device_is_sent_nothing(clients, queue, sign_up):
    recipient, actor = sign_up(), sign_up()

    Outbox(clients.router, clients.sqs, queue).followed(actor.id, recipient.id)

    assert _queued(clients, queue) == []


def test_a_recipient_with_a_device_is_sent_the_notification(clients, queue, sign_up):
    recipient, actor = sign_up(), sign_up()
    register(recipient)

    Outbox(clients.router, clients.sqs, queue).liked(recipient.id, actor.id, 42)

    assert _queued(clients, queue) == [
        {
            "kind": "like",
            "recipient_id": recipient.id,
            "actor_id": actor.id,
            "media_id": 42,
            "comment_id": None,
        }
    ]


def test_nobody_is_notified_of_their_own_action(clients, queue, sign_up):
    member = sign_up()
    register(member)

    Outbox(clients.router, clients.sqs, queue).liked(member.id, member.id, 42)

    assert _queued(clients, queue) == []
