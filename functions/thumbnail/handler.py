"""The thumbnail Lambda: S3 ObjectCreated notifications, through SQS, to renditions.

Powertools glue only: batch processing with partial failures, idempotency (keyed on
the S3 event: bucket, key, sequencer and ETag), Logger, Metrics, Tracer. What happens to each
original is decided in chalicelib.media.originals; the pixels in renditions.py.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
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

from chalicelib.errors import InvalidInput
from chalicelib.feed.events import MediaReady
from chalicelib.media.originals import ImageRefused, Outcome, Processor, Rendered
from chalicelib.media.uploads import UploadedObject, uploaded_objects
from chalicelib.sqs_functions import sqs_function
from chalicelib.users.counters import Counters
from functions.thumbnail import renditions

SERVICE = "thumbnail"
# A duplicate of an event seen within this long changes nothing (S3 redelivers within
# minutes; a day is generous).
IDEMPOTENCY_SECONDS = 24 * 3600
# moto's notifications carry no sequencer; the ETag tells two files under one key apart.
(logger, metrics, tracer, processor, settings, clients, idempotency, persistence) = sqs_function(
    SERVICE, "[bucket, key, sequencer, etag]", IDEMPOTENCY_SECONDS
)


def render(data: bytes, content_type: str, max_pixels: int) -> Rendered:
    """Renditions of an original; ImageRefused (with the client's reason) for a bad file."""
    try:
        return renditions.render(data, content_type, max_pixels=max_pixels)
    except renditions.BadImage as exc:
        raise ImageRefused(exc.reason) from exc


def publish(event: MediaReady) -> None:
    """Announce a ready media on the media-events topic (fan-out listens)."""
    clients.sns.publish(TopicArn=settings.media_events_topic_arn, Message=event.model_dump_json())


originals = Processor(
    s3=clients.s3,
    bucket=settings.bucket,
    router=clients.router,
    counters=Counters(clients.redis, clients.router),
    render=render,
    publish=publish,
    limits=settings.limits,
)


@idempotent_function(
    data_keyword_argument="uploaded", config=idempotency, persistence_store=persistence
)
def process(uploaded: dict[str, Any]) -> str:
    """One original, processed once per S3 event however often it is delivered."""
    outcome = originals.process(UploadedObject(**uploaded))
    return outcome.value


def seconds_since(event_time: str) -> float | None:
    """Seconds since S3's eventTime (ISO 8601), or None if S3 gave none we can read."""
    try:
        then = datetime.fromisoformat(event_time.replace("Z", "+00:00"))
    except ValueError:
        return None
    if then.tzinfo is None:
        return None
    return max(0.0, (datetime.now(UTC) - then).total_seconds())


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    """Handle every object one S3 notification names; raising fails this record only."""
    metrics.add_metric("UploadNotifications", MetricUnit.Count, 1)
    try:
        for uploaded in uploaded_objects(record.body):
            outcome = Outcome(process(uploaded=asdict(uploaded)))
            logger.info("original processed", extra={"key": uploaded.key, "outcome": outcome.value})
            metrics.add_metric(
                f"Originals{outcome.name.title().replace('_', '')}", MetricUnit.Count, 1
            )
            lag = seconds_since(uploaded.event_time)
            if outcome is Outcome.READY and lag is not None:
                metrics.add_metric("UploadToReadyLag", MetricUnit.Seconds, lag)
    except InvalidInput:
        # Poison: failed, retried a bounded number of times, then dead-lettered.
        metrics.add_metric("UploadsRejected", MetricUnit.Count, 1)
        raise


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
