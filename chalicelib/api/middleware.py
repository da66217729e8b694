"""The one HTTP middleware: correlation ID, size limit, stable errors, a log line, metrics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from chalice import Response
from chalice.app import ChaliceUnhandledError, Request

from chalicelib.api import errors
from chalicelib.api.routing import error_response
from chalicelib.observability import DeferredTracer, metrics_held

REQUEST_ID_HEADER = "X-Request-Id"

GetResponse = Callable[[Request], Response]


def http_middleware(
    *, max_body_bytes: int, logger: Logger, metrics: Metrics, tracer: DeferredTracer
) -> Callable[[Request, GetResponse], Response]:
    """The middleware every API request passes through, once."""

    def middleware(request: Request, get_response: GetResponse) -> Response:
        request_id = _request_id(request)
        logger.set_correlation_id(request_id)
        started = time.perf_counter()
        route = request.context.get("resourcePath", "?")
        # Around the work: a DeferredTracer's first use patches what the work calls.
        with tracer.request(route):
            if _body_size(request) > max_body_bytes:
                response = error_response(
                    errors.PayloadTooLarge(
                        f"the body may be at most {max_body_bytes} bytes",
                        {"max_bytes": max_body_bytes},
                    )
                )
            else:
                response = _with_stable_error_body(_answer(request, get_response, logger))
        response.headers[REQUEST_ID_HEADER] = request_id
        elapsed_ms = (time.perf_counter() - started) * 1000
        _log(logger, request, route, response.status_code, elapsed_ms)
        _count(metrics, response.status_code, elapsed_ms)
        return response

    return middleware


def _answer(request: Request, get_response: GetResponse, logger: Logger) -> Response:
    try:
        return get_response(request)
    except ChaliceUnhandledError:
        logger.exception("unhandled error")  # the traceback, with the correlation ID
        return error_response(errors.InternalError(errors.InternalError.description))


def _request_id(request: Request) -> str:
    """API Gateway's request ID (a fresh one locally): clients cannot choose it."""
    return request.context.get("requestId") or str(uuid.uuid4())


def _body_size(request: Request) -> int:
    declared = request.headers.get("content-length", "")
    if declared.isdigit():
        return max(int(declared), len(request.raw_body or b""))
    return len(request.raw_body or b"")


def _with_stable_error_body(response: Response) -> Response:
    """Rewrite Chalice's own error answers ({"Code", "Message"}) into our error body."""
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or "Code" not in body:
        return response
    error_type = errors.CHALICE_CODES.get(body["Code"], errors.InternalError)
    message = body.get("Message", error_type.description)
    if error_type is errors.InternalError:
        message = error_type.description  # never leak internals
    rewritten = error_response(error_type(message))
    rewritten.status_code = response.status_code
    rewritten.headers = {**response.headers, **rewritten.headers}
    return rewritten


def _log(logger: Logger, request: Request, route: str, status: int, elapsed_ms: float) -> None:
    entry: dict[str, Any] = {
        "method": request.method,
        "route": route,
        "status": status,
        "duration_ms": round(elapsed_ms, 2),
    }
    if status >= 500:
        logger.error("request failed", extra=entry)
    else:
        logger.info("request", extra=entry)


def _count(metrics: Metrics, status: int, elapsed_ms: float) -> None:
    with metrics_held():
        _add_and_flush(metrics, status, elapsed_ms)


def _add_and_flush(metrics: Metrics, status: int, elapsed_ms: float) -> None:
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ApiLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    if status >= 500:
        metrics.add_metric(name="Api5xx", unit=MetricUnit.Count, value=1)
    elif status >= 400:
        metrics.add_metric(name="Api4xx", unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()
