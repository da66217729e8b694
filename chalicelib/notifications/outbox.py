"""What asks for pushes: a small message on the notifications queue once a like,
comment, follow or follow request commits, if its recipient has a device at all (one
indexed read on the recipient's shard; most accounts of a young service have none, and
a queued message costs more than the read). The push itself (devices, muted kinds,
blocks, SNS) happens in functions/notify, never within the request."""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.errors import DependencyUnavailable
from chalicelib.notifications import store
from chalicelib.notifications.kinds import Notification
from chalicelib.shards.routing import Router

logger = logging.getLogger(__name__)


class Outbox:
    """Queues notifications; a queue that does not answer loses the push, not the write."""

    def __init__(self, router: Router, sqs: Any, queue_url: str) -> None:
        self._router = router
        self._sqs = sqs
        self._queue_url = queue_url

    def liked(self, owner_id: int, actor_id: int, media_id: int) -> None:
        self._send(
            Notification(kind="like", recipient_id=owner_id, actor_id=actor_id, media_id=media_id)
        )

    def commented(self, owner_id: int, actor_id: int, media_id: int, comment_id: int) -> None:
        self._send(
            Notification(
                kind="comment",
                recipient_id=owner_id,
                actor_id=actor_id,
                media_id=media_id,
                comment_id=comment_id,
            )
        )

    def followed(self, source: int, target: int) -> None:
        self._send(Notification(kind="follow", recipient_id=target, actor_id=source))

    def requested(self, source: int, target: int) -> None:
        self._send(Notification(kind="follow_request", recipient_id=target, actor_id=source))

    def _send(self, notification: Notification) -> None:
        recipient = notification.recipient_id
        if recipient == notification.actor_id or not self._queue_url:
            return
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            if not self._router.run_for_id(
                recipient, lambda c, s: store.has_devices(c, s, recipient)
            ):
                return
            self._sqs.send_message(
                QueueUrl=self._queue_url, MessageBody=notification.model_dump_json()
            )
        except (BotoCoreError, ClientError, DependencyUnavailable):
            logger.warning("notification not queued", exc_info=True)
