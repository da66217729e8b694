"""Sending one notification: to each of the recipient's devices, unless they muted its
kind or a block stands between them and its actor; a device SNS disabled is forgotten."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import NotFound
from chalicelib.graph.service import Graph
from chalicelib.notifications import store
from chalicelib.notifications.kinds import Notification
from chalicelib.notifications.store import Device
from chalicelib.shards.routing import Router

logger = logging.getLogger(__name__)

_TEXT = {
    "like": "{name} liked your photo.",
    "comment": "{name} commented on your photo.",
    "follow": "{name} started following you.",
    "follow_request": "{name} asked to follow you.",
}


@dataclass(frozen=True)
class Sent:
    """What became of one notification."""

    pushed: int = 0
    disabled: int = 0
    skipped: str | None = None  # why nothing was pushed: "muted", "blocked", "gone", "no devices"


class Notifier:
    """Pushes notifications to users' devices through SNS."""

    def __init__(self, router: Router, graph: Graph, sns: Any) -> None:
        self._router = router
        self._graph = graph
        self._sns = sns

    def reaches(self, user_id: int) -> bool:
        """Whether the user has a device at all (most notifications stop here, cheaply)."""
        return self._router.run_for_id(user_id, lambda c, s: store.has_devices(c, s, user_id))

    def send(self, notification: Notification) -> Sent:
        """Push the notification to each of its recipient's devices."""
        recipient = notification.recipient_id
        devices, muted = self._router.run_for_id(
            recipient,
            lambda c, s: (store.devices_of(c, s, recipient), store.muted(c, s, recipient)),
        )
        if not devices:
            return Sent(skipped="no devices")
        if notification.kind in muted:
            return Sent(skipped="muted")
        try:
            look = self._graph.look(recipient, notification.actor_id)
        except NotFound:  # the actor's account is gone
            return Sent(skipped="gone")
        if look.hidden:
            return Sent(skipped="blocked")
        message = _message(notification, _TEXT[notification.kind].format(name=look.user.username))
        pushed = [self._push(device, message) for device in devices]
        return Sent(pushed=sum(pushed), disabled=len(pushed) - sum(pushed))

    def _push(self, device: Device, message: str) -> bool:
        """Publish to the device; False (and the device forgotten) if SNS disabled it."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            self._sns.publish(
                TargetArn=device.endpoint_arn, Message=message, MessageStructure="json"
            )
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "EndpointDisabled":
                raise
        self._forget(device)
        return False

    def _forget(self, device: Device) -> None:
        """The app was removed or the token expired: SNS will not deliver to it again."""
        self._router.run_for_id(
            device.user_id,
            lambda c, s: store.forget_endpoint(c, s, device.user_id, device.endpoint_arn),
        )
        self._sns.delete_endpoint(EndpointArn=device.endpoint_arn)
        logger.info("disabled device forgotten", extra={"device_id": device.id})


def _message(notification: Notification, text: str) -> str:
    """SNS's per-platform message: an APNs payload and an FCM one, with what the app
    needs to open the right screen."""
    data = notification.model_dump(mode="json", exclude_none=True)
    data = {key: str(value) for key, value in data.items()}
    apns = {"aps": {"alert": text, "sound": "default"}, **data}
    fcm = {"notification": {"body": text}, "data": data}
    return json.dumps({"default": text, "APNS": json.dumps(apns), "GCM": json.dumps(fcm)})
