"""Powertools Logger, Metrics and Tracer, set up the same way for every deployable."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

METRICS_NAMESPACE = "Photofeed"
# What X-Ray traces in the API's requests: AWS (boto3's and PynamoDB's calls), PostgreSQL
# and plain HTTP. The X-Ray SDK's other libraries (requests, sqlite3, ...) are not used.
TRACED_LIBRARIES = ("botocore", "pynamodb", "psycopg2", "httplib")
# Metrics instances share one set of metrics per process. A Lambda container answers one
# request at a time, but the local server answers several at once: adding to the set
# while another thread flushes it would fail. Everything that touches it holds this.
_METRICS_LOCK = threading.RLock()


@contextmanager
def metrics_held() -> Iterator[None]:
    """Hold the process's metrics while adding to or flushing them."""
    with _METRICS_LOCK:
        yield


def powertools(service: str) -> tuple[Logger, Metrics, Tracer]:
    """JSON logs, EMF metrics in Photofeed's namespace, and X-Ray traces for `service`."""
    return (*logs_and_metrics(service), Tracer(service=service))


def logs_and_metrics(service: str) -> tuple[Logger, Metrics]:
    """JSON logs and EMF metrics in Photofeed's namespace for `service`."""
    return Logger(service=service), Metrics(namespace=METRICS_NAMESPACE, service=service)


class DeferredTracer:
    """The API's Tracer, built at its first use rather than at a cold start: the X-Ray
    SDK (with the botocore client its sampler makes) and the patching of TRACED_LIBRARIES
    load then. Use it before a request's work, so that the work's calls are traced."""

    def __init__(self, service: str) -> None:
        self.service = service

    @cached_property
    def tracer(self) -> Tracer:
        return Tracer(service=self.service, patch_modules=TRACED_LIBRARIES)

    @contextmanager
    def request(self, route: str) -> Iterator[None]:
        """One API request's subsegment, annotated with its route. Not Lambda's own
        segment: X-Ray refuses annotations on it (FacadeSegmentMutationException)."""
        with self.tracer.provider.in_subsegment(f"## {route}") as subsegment:
            if subsegment is not None:  # None when no trace is in progress
                subsegment.put_annotation("route", route)
            yield


def measure(name: str, value: float, unit: MetricUnit) -> None:
    """Record a measurement (a latency, a size) in the metrics of the invocation in
    progress: Metrics instances share one set, flushed by the entry point (the API's
    middleware, a handler's log_metrics)."""
    with metrics_held():
        Metrics(namespace=METRICS_NAMESPACE).add_metric(name=name, unit=unit, value=value)


def count(name: str, value: int = 1) -> None:
    """Count a domain event (sign-ups, follows, ...) in the metrics of the invocation
    in progress (see `measure`)."""
    measure(name, value, MetricUnit.Count)
