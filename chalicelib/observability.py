"""Powertools Logger, Metrics and Tracer, set up the same way for every deployable."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

METRICS_NAMESPACE = "Photofeed"
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
    return (
        Logger(service=service),
        Metrics(namespace=METRICS_NAMESPACE, service=service),
        Tracer(service=service),
    )


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
