"""/health reports every dependency with its latency, and 503 when one is down."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import requests

from chalicelib.clients import Clients
from chalicelib.ops.health import check, probes
from devstack.processes import Process, free_port
from devstack.services import ROOT

EVERY_DEPENDENCY = {
    "postgres:db0",
    "postgres:db1",
    "redis",
    "s3",
    "sqs:uploads",
    "sqs:uploads-dlq",
    "sqs:fanout",
    "sqs:fanout-dlq",
    "sqs:notifications",
    "sqs:notifications-dlq",
    "sns:media-events",
    "dynamodb:shard-map",
    "dynamodb:name-claims",
    "dynamodb:sessions",
    "dynamodb:idempotency",
}


def test_health_reports_every_dependency_ok_with_its_latency(http):
    response = http.get("/health")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ok"
    assert report["stage"] == "local"
    assert {d["name"] for d in report["dependencies"]} == EVERY_DEPENDENCY
    for dependency in report["dependencies"]:
        assert dependency["ok"] is True, dependency
        assert dependency["latency_ms"] >= 0
        assert dependency["error"] is None


def test_a_dependency_that_does_not_answer_is_reported_down(settings):
    # GIVEN settings whose Redis and one database point at ports nothing listens on
    dead = f"127.0.0.1:{free_port()}"
    broken = settings.model_copy(
        update={
            "redis_url": f"redis://{dead}/0",
            "databases": {**settings.databases, "db1": f"postgresql://photofeed@{dead}/x"},
        }
    )
    clients = Clients(broken)

    # WHEN health is checked
    report = check(probes(clients), broken.stage, timeout=5)

    # THEN exactly those two are down, named by error type only (no hosts, no users)
    down = {d.name: d.error for d in report.dependencies if not d.ok}
    assert report.status == "unavailable"
    assert down == {"redis": "ConnectionError", "postgres:db1": "OperationalError"}


def test_a_redis_cluster_that_does_not_answer_is_reported_down(settings):
    # GIVEN a cluster-mode Redis nothing answers for (its client connects at first use)
    broken = settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "redis_cluster": True}
    )

    # WHEN health is checked
    report = check(probes(Clients(broken)), broken.stage, timeout=5)

    # THEN Redis is down, and the others are not
    down = {d.name: d.error for d in report.dependencies if not d.ok}
    assert down == {"redis": "ConnectionError"}


def test_the_api_answers_503_when_a_dependency_is_down():
    # GIVEN a second API process whose Redis is gone
    port = free_port()
    env = {**os.environ, "PHOTOFEED_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    log = Path(tempfile.mkdtemp()) / "api.log"
    api = Process(
        "api-without-redis",
        [sys.executable, "-m", "devstack.api", "--port", str(port)],
        log=log,
        env=env,
        cwd=ROOT,
    )
    api.start()
    try:
        api.wait_until(lambda: _answers(f"http://127.0.0.1:{port}/health"), timeout=60)

        # WHEN /health is asked
        response = requests.get(f"http://127.0.0.1:{port}/health", timeout=30)

        # THEN it is a 503 naming Redis
        assert response.status_code == 503
        report = response.json()
        assert report["status"] == "unavailable"
        assert [d["name"] for d in report["dependencies"] if not d["ok"]] == ["redis"]
    finally:
        api.stop()


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=10)
    except requests.ConnectionError:
        return False
    return True
