"""The fan-out Lambda: media-ready events and fan-out chunks, through SQS, to feeds.

Powertools glue only: batch processing with partial failures, idempotency (keyed on the
message: a media's event, or one chunk of its audience), Logger, Metrics, Tracer. The
work is chalicelib.feed.fanout's.
"""

from __future__ import annotations

import time
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
from chalicelib.feed.events import FanoutChunk, MediaReady, media_event_from, parse_media_event
from chalicelib.feed.fanout import fanout_of
from chalicelib.sqs_functions import sqs_function

SERVICE = "fanout"
# A message seen again within this long is not fanned out again (pushes are idempotent
# anyway: this saves the work).
IDEMPOTENCY_SECONDS = 3600
(logger, metrics, tracer, processor, settings, clients, idempotency, persistence) = sqs_function(
    SERVICE, "[type, media_id, after, through]", IDEMPOTENCY_SECONDS
)


def send(chunk: FanoutChunk) -> None:
    """Queue one slice of an audience for a parallel invocation."""
    clients.sqs.send_message(
        QueueUrl=settings.fanout_queue_url, MessageBody=chunk.model_dump_json()
    )


fanout = fanout_of(clients, send)


@idempotent_function(
    data_keyword_argument="message", config=idempotency, persistence_store=persistence
)
def handle(message: dict[str, Any]) -> dict[str, Any]:
    """One message, fanned out once however often it is delivered."""
    event = media_event_from(message)
    started = time.perf_counter()
    done = fanout.media_ready(event) if isinstance(event, MediaReady) else fanout.chunk(event)
    metrics.add_metric(
        "FanoutDuration", MetricUnit.Milliseconds, (time.perf_counter() - started) * 1000
    )
    metrics.add_metric("FanoutAudience", MetricUnit.Count, done.audience)
    metrics.add_metric("FanoutPushes", MetricUnit.Count, done.pushed)
    if done.chunks:
        metrics.add_metric("FanoutChunks", MetricUnit.Count, done.chunks)
    if done.celebrity:
        metrics.add_metric("FanoutCelebrity", MetricUnit.Count, 1)
    if not done.chunks and not done.gone:
        lag = (datetime.now(UTC) - event.uploaded_at).total_seconds()
        metrics.add_metric("UploadToFeedLag", MetricUnit.Seconds, lag)
    return {"audience": done.audience, "pushed": done.pushed, "chunks": done.chunks}


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    """Take one message; raising fails this record only."""
    metrics.add_metric("MediaEvents", MetricUnit.Count, 1)
    try:
        event = parse_media_event(record.body)
    except InvalidInput:
        # Poison: failed, retried a bounded number of times, then dead-lettered.
        metrics.add_metric("MediaEventsRejected", MetricUnit.Count, 1)
        raise
    result = handle(message=event.model_dump(mode="json"))
    logger.info("fanned out", extra={"media_id": event.media_id, "type": event.type, **result})


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
