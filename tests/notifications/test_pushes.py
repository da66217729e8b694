"""Pushes on the local stack: a like, comment, follow or follow request queues a
notification, the pump hands it to functions/notify, and moto's SNS keeps what was
published to each of the recipient's endpoints."""

from __future__ import annotations

import json
import time

from chalicelib.graph.service import Graph
from chalicelib.notifications import store
from chalicelib.notifications.kinds import Notification
from chalicelib.notifications.sender import Notifier, Sent
from chalicelib.users.counters import Counters
from tests.feed.feeds import post_ready
from tests.notifications.pushes import (
    endpoint_exists,
    endpoint_of,
    kinds_pushed,
    pushes,
    register,
    wait_for_kinds,
)

# How long a push that should not come is waited for, after one that should has come.
QUIET_SECONDS = 1.5


def ok(response, status: int = 200) -> None:
    assert response.status_code == status, response.text


def device_arn(settings, member, platform: str = "apns") -> str:
    return endpoint_of(settings, register(member, platform)["token"])["arn"]


def notifier(clients) -> Notifier:
    graph = Graph(clients.router, Counters(clients.redis, clients.router))
    return Notifier(clients.router, graph, clients.sns)


def test_likes_comments_and_requests_are_pushed_to_each_device(sign_up, clients, settings):
    # GIVEN a private recipient with two devices, and a follower they approved
    owner, fan, stranger = sign_up(private=True), sign_up(), sign_up()
    arns = [device_arn(settings, owner, "apns"), device_arn(settings, owner, "fcm")]
    ok(fan.post(f"/users/{owner.id}/follow"))
    ok(owner.post(f"/me/follow-requests/{fan.id}/approve"), 204)
    media = post_ready(clients, owner)

    # WHEN the follower likes and comments, and a stranger asks to follow
    ok(fan.post(f"/media/{media.id}/like"))
    ok(fan.post(f"/media/{media.id}/comments", json={"body": "nice"}), 201)
    ok(stranger.post(f"/users/{owner.id}/follow"))

    # THEN each device is pushed each (the approval pushes nothing to its approver)
    for arn in arns:
        kinds = wait_for_kinds(settings, arn, 4)
        assert sorted(kinds) == ["comment", "follow_request", "follow_request", "like"]
    time.sleep(QUIET_SECONDS)
    assert len(kinds_pushed(settings, arns[0])) == 4


def test_a_follow_is_pushed_with_who_followed(sign_up, settings):
    owner, fan = sign_up(), sign_up()
    arn = device_arn(settings, owner)

    ok(fan.post(f"/users/{owner.id}/follow"))

    assert wait_for_kinds(settings, arn, 1) == ["follow"]
    (push,) = pushes(settings, arn)
    assert push["default"] == f"{fan.username} started following you."


def test_a_muted_kind_is_not_pushed(sign_up, clients, settings):
    owner, fan = sign_up(), sign_up()
    arn = device_arn(settings, owner)
    ok(owner.patch("/users/me/notifications", json={"muted": ["like", "follow"]}))
    media = post_ready(clients, owner)

    ok(fan.post(f"/users/{owner.id}/follow"))
    ok(fan.post(f"/media/{media.id}/like"))
    ok(fan.post(f"/media/{media.id}/comments", json={"body": "hello"}), 201)

    assert wait_for_kinds(settings, arn, 1) == ["comment"]
    time.sleep(QUIET_SECONDS)
    assert kinds_pushed(settings, arn) == ["comment"]


def test_a_blocked_sender_is_not_pushed_either_way(sign_up, clients, settings):
    # GIVEN notifications queued before a block took effect (the API refuses after it)
    owner, fan, blocked = sign_up(), sign_up(), sign_up()
    arn = device_arn(settings, owner)
    ok(owner.post(f"/users/{blocked.id}/block"))
    ok(fan.post(f"/users/{owner.id}/block"))
    send = notifier(clients).send

    # WHEN they are sent
    sent = [
        send(Notification(kind="follow", recipient_id=owner.id, actor_id=blocked.id)),
        send(Notification(kind="follow", recipient_id=owner.id, actor_id=fan.id)),
    ]

    # THEN nothing is published
    assert sent == [Sent(skipped="blocked"), Sent(skipped="blocked")]
    assert kinds_pushed(settings, arn) == []


def test_a_disabled_endpoint_is_forgotten(sign_up, clients, settings):
    # GIVEN a device SNS disabled (APNs or FCM said the token is no longer valid)
    owner, fan = sign_up(), sign_up()
    dead, alive = device_arn(settings, owner), device_arn(settings, owner)
    clients.sns.set_endpoint_attributes(EndpointArn=dead, Attributes={"Enabled": "false"})

    # WHEN a notification comes
    ok(fan.post(f"/users/{owner.id}/follow"))

    # THEN the other device has it, and the disabled one is gone, from SNS and the shard
    assert wait_for_kinds(settings, alive, 1) == ["follow"]
    deadline = time.monotonic() + 10
    while endpoint_exists(clients, dead) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not endpoint_exists(clients, dead)
    devices = clients.router.run_for_id(owner.id, lambda c, s: store.devices_of(c, s, owner.id))
    assert [d.endpoint_arn for d in devices] == [alive]


def test_a_token_signed_in_to_another_account_pushes_only_the_new_account(
    sign_up, clients, settings
):
    # GIVEN a phone registered by one account, then by another (one signed out, one in)
    before, after, fan = sign_up(), sign_up(), sign_up()
    token = register(before)["token"]
    register(after, "apns", token)
    arn = endpoint_of(settings, token)["arn"]

    # WHEN the fan follows both accounts
    ok(fan.post(f"/users/{before.id}/follow"))
    ok(fan.post(f"/users/{after.id}/follow"))

    # THEN the phone is pushed the new account's follow only
    assert wait_for_kinds(settings, arn, 1) == ["follow"]
    time.sleep(QUIET_SECONDS)
    assert len(pushes(settings, arn)) == 1
    assert json.loads(pushes(settings, arn)[0]["APNS"])["recipient_id"] == str(after.id)
    assert not clients.router.run_for_id(before.id, lambda c, s: store.devices_of(c, s, before.id))
