"""Operator routes: /health."""

from __future__ import annotations

import time

from chalicelib.api.deps import get_clients
from chalicelib.api.routing import Reply, Routes
from chalicelib.ops.health import HealthReport, check, probes

routes = Routes("operations")

# /health is public: one check of every dependency per container every few seconds at
# most, however often it is asked.
CACHE_SECONDS = 2.0
_last: tuple[float, HealthReport] | None = None


@routes.route("/health", "GET", response=HealthReport, extra_statuses=(503,), public=True)
def health() -> Reply:
    """Health of every dependency; 503 when one is down."""
    report = _recent_report()
    return Reply(report, status=200 if report.status == "ok" else 503)


def _recent_report() -> HealthReport:
    global _last  # noqa: PLW0603 (a per-container cache, like the clients)
    if _last is None or time.monotonic() - _last[0] > CACHE_SECONDS:
        clients = get_clients()
        settings = clients.settings
        report = check(probes(clients), settings.stage, settings.health_timeout_seconds)
        _last = (time.monotonic(), report)
    return _last[1]
