"""The notify Lambda, called with SQS events of the real shape: a poison message fails
its record only, a notification delivered twice is pushed once, and a recipient without
devices is passed over without leaving an idempotency record."""

from __future__ import annotations

import json
import uuid
from typing import Any

from chalicelib.notifications.kinds import Notification
from devstack.pump import LambdaContext
from functions.notify import handler as notify
from tests.functions.sqs import sqs_event, sqs_record
from tests.notifications.pushes import endpoint_of, pushes, register

QUEUE = "photofeed-local-notifications"


def _deliver(*bodies: str) -> tuple[dict[str, Any], list[str]]:
    """One SQS batch of these bodies to the handler; its answer and the record IDs."""
    records = [sqs_record(body, queue=QUEUE) for body in bodies]
    context = LambdaContext("notify", aws_request_id=str(uuid.uuid4()))
    return notify.lambda_handler(sqs_event(*records), context), [r["messageId"] for r in records]


def _follow(recipient: int, actor: int) -> str:
    return Notification(kind="follow", recipient_id=recipient, actor_id=actor).model_dump_json()


def test_a_poison_message_fails_only_its_own_record(sign_up, settings):
    owner, fan = sign_up(), sign_up()
    arn = endpoint_of(settings, register(owner)["token"])["arn"]

    answer, ids = _deliver("not json", json.dumps({"kind": "wave"}), _follow(owner.id, fan.id))

    assert sorted(f["itemIdentifier"] for f in answer["batchItemFailures"]) == sorted(ids[:2])
    assert [json.loads(p["APNS"])["kind"] for p in pushes(settings, arn)] == ["follow"]


def test_the_same_notification_delivered_twice_is_pushed_once(sign_up, settings):
    owner, fan = sign_up(), sign_up()
    arn = endpoint_of(settings, register(owner)["token"])["arn"]

    first, _ = _deliver(_follow(owner.id, fan.id))
    again, _ = _deliver(_follow(owner.id, fan.id), _follow(owner.id, fan.id))

    assert first == again == {"batchItemFailures": []}
    assert len(pushes(settings, arn)) == 1


def test_a_notification_that_found_no_device_is_pushed_once_one_is_registered(sign_up, settings):
    # GIVEN a follow notification handled while its recipient had no device
    owner, fan = sign_up(), sign_up()
    assert _deliver(_follow(owner.id, fan.id))[0] == {"batchItemFailures": []}

    # WHEN a device is registered and the same notification comes again (a late retry)
    arn = endpoint_of(settings, register(owner)["token"])["arn"]
    answer, _ = _deliver(_follow(owner.id, fan.id))

    # THEN it is pushed: passing a recipient over leaves no idempotency record behind
    assert answer == {"batchItemFailures": []}
    assert len(pushes(settings, arn)) == 1
