"""The thumbnail Lambda: S3 ObjectCreated notifications, through SQS, to renditions.

Powertools glue only: batch processing with partial failures, Logger, Metrics, Tracer.
What happens to each uploaded original is decided in chalicelib.media.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from chalicelib.clients import Clients
from chalicelib.config import get_settings
from chalicelib.errors import InvalidInput
from chalicelib.media.originals import receive_original
from chalicelib.media.uploads import uploaded_objects
from chalicelib.observability import powertools

SERVICE = "thumbnail"
logger, metrics, tracer = powertools(SERVICE)
processor = BatchProcessor(event_type=EventType.SQS)
clients = Clients(get_settings())


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    """Handle every object one S3 notification names; raising fails this record only."""
    metrics.add_metric("UploadNotifications", MetricUnit.Count, 1)
    try:
        for uploaded in uploaded_objects(record.body):
            outcome = receive_original(clients.s3, uploaded)
            logger.info("original received", extra={"key": uploaded.key, "outcome": outcome.value})
            metrics.add_metric(f"Originals{outcome.name.title()}", MetricUnit.Count, 1)
    except InvalidInput:
        # Poison: failed, retried a bounded number of times, then dead-lettered.
        metrics.add_metric("UploadsRejected", MetricUnit.Count, 1)
        raise


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
