"""The Photofeed API: wiring only (settings, observability, middleware, blueprints)."""

from __future__ import annotations

from chalice import Chalice

from chalicelib.api.docs import Api
from chalicelib.api.middleware import http_middleware
from chalicelib.config import get_settings
from chalicelib.observability import powertools
from chalicelib.ops.routes import routes as operations

SERVICE = "api"
settings = get_settings()
logger, metrics, tracer = powertools(SERVICE)

app = Chalice(app_name="photofeed")
app.register_middleware(
    http_middleware(
        max_body_bytes=settings.limits.max_request_body_bytes,
        logger=logger,
        metrics=metrics,
        tracer=tracer,
    ),
    "http",
)

api = Api(app)
api.register(operations)
api.register_document_route()
