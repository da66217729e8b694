"""Powertools Logger, Metrics and Tracer, set up the same way for every deployable."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

METRICS_NAMESPACE = "Photofeed"


def powertools(service: str) -> tuple[Logger, Metrics, Tracer]:
    """JSON logs, EMF metrics in Photofeed's namespace, and X-Ray traces for `service`."""
    return (
        Logger(service=service),
        Metrics(namespace=METRICS_NAMESPACE, service=service),
        Tracer(service=service),
    )


def count(name: str, value: int = 1) -> None:
    """Count a domain event (sign-ups, follows, ...) in the metrics of the invocation
    in progress: Metrics instances share one set, flushed by the entry point (the API's
    middleware, a handler's log_metrics)."""
    Metrics(namespace=METRICS_NAMESPACE).add_metric(name=name, unit=MetricUnit.Count, value=value)
