"""Operator routes: /health."""

from __future__ import annotations

from chalicelib.api.deps import get_clients
from chalicelib.api.routing import Reply, Routes
from chalicelib.ops.health import HealthReport, check, probes

routes = Routes("operations")


@routes.route("/health", "GET", response=HealthReport, extra_statuses=(503,))
def health() -> Reply:
    """Health of every dependency; 503 when one is down."""
    clients = get_clients()
    report = check(probes(clients), clients.settings.stage, clients.settings.health_timeout_seconds)
    return Reply(report, status=200 if report.status == "ok" else 503)
