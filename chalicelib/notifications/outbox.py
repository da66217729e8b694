"""What asks for pushes: a small message on the notifications queue once a like,
comment, follow or follow request commits. The push itself (devices, muted kinds,
blocks, SNS) happens in functions/notify, never within the request."""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.notifications.kinds import Notification

logger = logging.getLogger(__name__)


class Outbox:
    """Queues notifications; a queue that does not answer loses the push, not the write."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
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
        if notification.recipient_id == notification.actor_id or not self._queue_url:
            return
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            self._sqs.send_message(
                QueueUrl=self._queue_url, MessageBody=notification.model_dump_json()
            )
        except (BotoCoreError, ClientError):
            logger.warning("notification not queued", exc_info=True)
