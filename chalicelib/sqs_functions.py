"""What the SQS-triggered functions (thumbnail, fanout, notify) set up alike at a cold
start: Powertools' logs, metrics and traces, the batch processor that reports partial
failures, the settings and clients, and idempotency keyed on each message's own fields
in the stack's idempotency table."""

from __future__ import annotations

from typing import NamedTuple

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
)

from chalicelib.clients import Clients
from chalicelib.config import Settings, get_settings
from chalicelib.observability import powertools


class SqsFunction(NamedTuple):
    logger: Logger
    metrics: Metrics
    tracer: Tracer
    processor: BatchProcessor
    settings: Settings
    clients: Clients
    idempotency: IdempotencyConfig
    persistence: DynamoDBPersistenceLayer


def sqs_function(service: str, idempotency_key: str, idempotency_seconds: int) -> SqsFunction:
    """A function's parts; `idempotency_key` is the JMESPath of the fields that make two
    messages the same, remembered for `idempotency_seconds`."""
    logger, metrics, tracer = powertools(service)
    settings = get_settings()
    clients = Clients(settings)
    return SqsFunction(
        logger,
        metrics,
        tracer,
        BatchProcessor(event_type=EventType.SQS),
        settings,
        clients,
        IdempotencyConfig(
            event_key_jmespath=idempotency_key, expires_after_seconds=idempotency_seconds
        ),
        DynamoDBPersistenceLayer(
            table_name=settings.idempotency_table, boto3_client=clients.dynamodb
        ),
    )
