"""The fan-out Lambda: media-ready events, through SQS, to followers' feeds.

Powertools glue only: batch processing with partial failures, Logger, Metrics, Tracer.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from chalicelib.errors import InvalidInput
from chalicelib.feed.events import parse_media_event
from chalicelib.observability import powertools

SERVICE = "fanout"
logger, metrics, tracer = powertools(SERVICE)
processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    """Take one media event; raising fails this record only."""
    metrics.add_metric("MediaEvents", MetricUnit.Count, 1)
    try:
        event = parse_media_event(record.body)
    except InvalidInput:
        # Poison: failed, retried a bounded number of times, then dead-lettered.
        metrics.add_metric("MediaEventsRejected", MetricUnit.Count, 1)
        raise
    lag = (datetime.now(timezone.utc) - event.uploaded_at).total_seconds()
    logger.info("media event received", extra={"media_id": event.media_id, "lag_s": lag})


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
