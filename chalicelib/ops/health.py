"""Health of every dependency, each checked concurrently, with its latency."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Literal

from chalicelib.api.models import ApiModel

if TYPE_CHECKING:
    from chalicelib.clients import Clients

Probe = Callable[[], object]


class DependencyHealth(ApiModel):
    """How one dependency answered."""

    name: str
    ok: bool
    latency_ms: float
    error: str | None = None


class HealthReport(ApiModel):
    """Every dependency's health; `status` is ok only when all of them are."""

    status: Literal["ok", "unavailable"]
    stage: str
    dependencies: list[DependencyHealth]


def probes(clients: Clients) -> dict[str, Probe]:
    """One cheap call per dependency: every physical database, Redis, S3, SQS, SNS, DynamoDB."""
    s = clients.settings
    checks: dict[str, Probe] = {
        f"postgres:{name}": _select_one(clients, name) for name in clients.databases.names
    }
    # Called inside the probe: a cluster client connects at its first use.
    checks["redis"] = lambda: clients.redis.ping()  # noqa: PLW0108
    checks["s3"] = lambda: clients.s3.head_bucket(Bucket=s.bucket)
    for role, url in s.queue_urls.items():
        checks[f"sqs:{role}"] = _queue_probe(clients, url)
    checks["sns:media-events"] = lambda: clients.sns.get_topic_attributes(
        TopicArn=s.media_events_topic_arn
    )
    for role, table in s.table_names.items():
        checks[f"dynamodb:{role}"] = _table_probe(clients, table)
    return checks


def _select_one(clients: Clients, name: str) -> Probe:
    def probe() -> None:
        with clients.databases.connection(name) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
            conn.rollback()

    return probe


def _queue_probe(clients: Clients, url: str) -> Probe:
    return lambda: clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])


def _table_probe(clients: Clients, table: str) -> Probe:
    return lambda: clients.dynamodb.describe_table(TableName=table)


def check(checks: dict[str, Probe], stage: str, timeout: float) -> HealthReport:
    """Run every probe at once; a probe that raises or overruns `timeout` is down."""
    pool = ThreadPoolExecutor(max_workers=len(checks) or 1)
    deadline = time.monotonic() + timeout
    try:
        futures = {name: pool.submit(_timed, probe) for name, probe in checks.items()}
        results = [_result(name, future, deadline) for name, future in futures.items()]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a hung probe must not hold the answer
    status = "ok" if all(r.ok for r in results) else "unavailable"
    return HealthReport(status=status, stage=stage, dependencies=results)


def _timed(probe: Probe) -> float:
    started = time.perf_counter()
    probe()
    return (time.perf_counter() - started) * 1000


def _result(name: str, future: Future[float], deadline: float) -> DependencyHealth:
    try:
        latency = future.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        return DependencyHealth(name=name, ok=False, latency_ms=0, error="timeout")
    except Exception as exc:  # a health check reports failures, it does not raise them
        # The exception's type only: messages can carry hosts and user names.
        return DependencyHealth(name=name, ok=False, latency_ms=0, error=type(exc).__name__)
    return DependencyHealth(name=name, ok=True, latency_ms=round(latency, 2))
