"""The notify Lambda: notifications, through SQS, to users' devices (SNS mobile push).

Powertools glue only: batch processing with partial failures, idempotency (keyed on the
notification: a like, comment, follow or request pushes once however often it is
queued), Logger, Metrics, Tracer. The work is chalicelib.notifications.sender's.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from chalicelib.graph.service import Graph
from chalicelib.notifications.kinds import Notification
from chalicelib.notifications.sender import Notifier
from chalicelib.sqs_functions import sqs_function
from chalicelib.users.counters import Counters

SERVICE = "notify"
# The same event queued again within this long (a repeated like, a follow retried) is
# not pushed again.
IDEMPOTENCY_SECONDS = 24 * 3600
(logger, metrics, tracer, processor, settings, clients, idempotency, persistence) = sqs_function(
    SERVICE, "[kind, recipient_id, actor_id, media_id, comment_id]", IDEMPOTENCY_SECONDS
)
notifier = Notifier(
    clients.router, Graph(clients.router, Counters(clients.redis, clients.router)), clients.sns
)


@idempotent_function(
    data_keyword_argument="message", config=idempotency, persistence_store=persistence
)
def handle(message: dict[str, Any]) -> dict[str, Any]:
    """One notification, pushed once however often it is delivered."""
    sent = notifier.send(Notification.model_validate(message))
    metrics.add_metric("NotificationsPushed", MetricUnit.Count, sent.pushed)
    if sent.disabled:
        metrics.add_metric("DevicesDisabled", MetricUnit.Count, sent.disabled)
    return {"pushed": sent.pushed, "disabled": sent.disabled, "skipped": sent.skipped}


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    """Take one message; raising fails this record only."""
    metrics.add_metric("Notifications", MetricUnit.Count, 1)
    try:
        notification = Notification.model_validate_json(record.body)
    except ValidationError:
        # Poison: failed, retried a bounded number of times, then dead-lettered.
        metrics.add_metric("NotificationsRejected", MetricUnit.Count, 1)
        raise
    if not notifier.reaches(notification.recipient_id):
        # No device, nothing to push: no idempotency record either (most messages).
        logger.debug("no devices", extra={"kind": notification.kind})
        return
    result = handle(message=notification.model_dump(mode="json"))
    logger.info("notified", extra={"kind": notification.kind, **result})


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
