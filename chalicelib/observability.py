"""Powertools Logger, Metrics and Tracer, set up the same way for every deployable."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

METRICS_NAMESPACE = "Photofeed"


def powertools(service: str) -> tuple[Logger, Metrics, Tracer]:
    """JSON logs, EMF metrics in Photofeed's namespace, and X-Ray traces for `service`."""
    return (
        Logger(service=service),
        Metrics(namespace=METRICS_NAMESPACE, service=service),
        Tracer(service=service),
    )
