"""The running API (the local stack's chalice local) keeps the conventions end to end."""

from __future__ import annotations

import subprocess
import sys

from openapi_spec_validator import validate

import app as photofeed


def _error_code(response) -> str:
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]["code"]


def test_the_document_is_valid_openapi_3_1(http):
    document = http.get("/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_the_document_describes_every_route_the_app_has(http):
    document = http.get("/openapi.json").json()
    documented = {
        (path, method.upper()) for path, ops in document["paths"].items() for method in ops
    }
    routed = {
        (path, method) for path, methods in photofeed.app.routes.items() for method in methods
    }
    assert documented == routed


def test_an_unknown_query_parameter_is_a_400(http):
    response = http.get("/health", params={"verbose": "1"})
    assert response.status_code == 400
    assert _error_code(response) == "validation_failed"


def test_a_method_no_route_takes_is_a_405_with_allow(http):
    for method in ("POST", "DELETE", "TRACE", "QUERY"):
        response = http.request(method, "/health")
        assert response.status_code == 405, method
        assert _error_code(response) == "method_not_allowed"
        assert response.headers["Allow"] == "GET"


def test_an_unknown_path_is_a_404(http):
    response = http.get("/no/such/route")
    assert response.status_code == 404
    assert _error_code(response) == "not_found"


def test_an_oversized_body_is_a_413(http, settings):
    body = b"{" + b" " * settings.limits.max_request_body_bytes + b"}"
    response = http.post("/health", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert _error_code(response) == "payload_too_large"


def test_every_answer_carries_a_request_id(http):
    for response in (
        http.get("/health"),
        http.get("/health", params={"x": 1}),
        http.get("/nope"),
        http.request("TRACE", "/health"),
    ):
        assert len(response.headers["X-Request-Id"]) >= 8, response.status_code


def test_importing_the_app_does_not_import_pillow():
    # A fresh interpreter: this test process has the thumbnail handler loaded.
    probe = "import sys, app; print('PIL' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
