"""The API Lambda's init imports and builds what routing needs, not what answering does.

A guard on the cold start that does not depend on timing (bench/coldstart.py times it):
each test runs a fresh interpreter in the environment of a deployed API Lambda.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from chalicelib.observability import TRACED_LIBRARIES
from devstack.services import ROOT

LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "photofeed-dev-api",
    "LAMBDA_TASK_ROOT": str(ROOT),
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "AKIDCOLDSTARTTEST000",
    "AWS_SECRET_ACCESS_KEY": "cold-start-test",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "PHOTOFEED_STAGE": "dev",
}
NOT_IN_LAMBDA = ("PHOTOFEED_", "POWERTOOLS_", "AWS_")
# Loaded by the first request that uses them, never by init.
DEFERRED = (
    "aws_xray_sdk",  # the Tracer's, built by the middleware at the first request
    "PIL",  # the thumbnail Lambda's only
    "boto3",
    "botocore.client",
    "pynamodb",
    "redis",
    "psycopg2",
    "argon2",
    "email_validator",
    "pydantic_settings",
    "chalicelib.clients",
    "chalicelib.accounts.service",
    "chalicelib.feed.reader",
    "chalicelib.media.service",
    "chalicelib.api.openapi",
)
# A GET /feed without a token, as API Gateway hands it over.
FEED_EVENT = {
    "resource": "/feed",
    "path": "/feed",
    "httpMethod": "GET",
    "headers": {},
    "multiValueHeaders": {},
    "queryStringParameters": None,
    "multiValueQueryStringParameters": None,
    "pathParameters": None,
    "stageVariables": None,
    "body": None,
    "isBase64Encoded": False,
    "requestContext": {"resourcePath": "/feed", "httpMethod": "GET", "requestId": "cold"},
}


def in_fresh_lambda(code: str) -> object:
    """What `code` prints last, as JSON, run by a fresh interpreter in a Lambda's environment."""
    # The local stack's settings and the suite's (tracing off) are not a Lambda's.
    kept = {k: v for k, v in os.environ.items() if not k.startswith(NOT_IN_LAMBDA)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**kept, **LAMBDA_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_init_imports_nothing_that_requests_load_at_first_use():
    imported = in_fresh_lambda("import json, sys, app; print(json.dumps(list(sys.modules)))")

    loaded = [name for name in DEFERRED if name in imported]
    assert loaded == []


def test_init_builds_no_route_model():
    built = in_fresh_lambda(
        "import json, app\n"
        "models = {m for op in app.api.operations\n"
        "          for m in (op.path_model, op.query_model, op.body_model, op.response) if m}\n"
        "print(json.dumps([m.__name__ for m in models if m.__pydantic_complete__]))"
    )

    assert built == []


def test_the_first_request_patches_the_traced_libraries_before_its_work():
    # GIVEN a fresh init, WHEN a first request comes (answered 401, with no network call)
    order = in_fresh_lambda(
        "import json, sys, app\n"
        f"answer = app.app({FEED_EVENT!r}, None)\n"
        "from aws_xray_sdk.core.patcher import _PATCHED_MODULES\n"
        "print(json.dumps([answer['statusCode'], sorted(_PATCHED_MODULES), list(sys.modules)]))"
    )

    # THEN X-Ray traces what it calls, patched before authentication's work imported them
    status, patched, imported = order
    assert status == 401
    assert patched == sorted(TRACED_LIBRARIES)
    assert imported.index("aws_xray_sdk.ext.psycopg2") < imported.index(
        "chalicelib.accounts.service"
    )


def test_a_sampled_request_is_traced_in_a_subsegment_annotated_with_its_route():
    # GIVEN the trace header Lambda gives a sampled invocation (its segment is a facade
    # that X-Ray refuses to annotate), and an emitter that keeps what would be sent
    code = (
        "import json, os, app\n"
        "os.environ['_X_AMZN_TRACE_ID'] = "
        "'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1'\n"
        "from aws_xray_sdk.core import xray_recorder\n"
        "sent = []\n"
        "class Keep:\n"
        "    def send_entity(self, entity): sent.append(entity.to_dict())\n"
        "    def set_daemon_address(self, address): pass\n"
        f"app.tracer.tracer\n"
        "xray_recorder.emitter = Keep()\n"
        f"answer = app.app({FEED_EVENT!r}, None)\n"
        "print(json.dumps([answer['statusCode'], sent]))"
    )

    # WHEN a request comes
    status, sent = in_fresh_lambda(code)

    # THEN it is answered as usual, and its subsegment carries the route
    assert status == 401
    routes = [s.get("annotations", {}).get("route") for s in sent]
    assert "/feed" in routes
