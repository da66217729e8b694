"""What every pynamodb model of ours shares: its table binding and its failures."""

from __future__ import annotations

from typing import TypeVar

from pynamodb.exceptions import PynamoDBConnectionError
from pynamodb.models import Model

from chalicelib.errors import DependencyUnavailable

M = TypeVar("M", bound=type[Model])

# Fail fast, as the boto3 clients do (chalicelib.clients): a request has 29 s at most.
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 5
MAX_RETRY_ATTEMPTS = 3


def bind(model: M, table_name: str, region: str, host: str | None) -> M:
    """`model` bound to one deployment's table (a class per table: pynamodb's way)."""
    meta = model.Meta
    meta.table_name = table_name
    meta.region = region
    meta.host = host
    meta.connect_timeout_seconds = CONNECT_TIMEOUT_SECONDS
    meta.read_timeout_seconds = READ_TIMEOUT_SECONDS
    meta.max_retry_attempts = MAX_RETRY_ATTEMPTS
    return model


def condition_failed(exc: PynamoDBConnectionError) -> bool:
    """Whether a write failed only because its condition did not hold."""
    return exc.cause_response_code == "ConditionalCheckFailedException"


def unavailable(exc: PynamoDBConnectionError, table: str) -> DependencyUnavailable:
    """The error to raise when DynamoDB did not answer (or refused for another reason)."""
    return DependencyUnavailable(f"DynamoDB table {table} did not answer; retry")
