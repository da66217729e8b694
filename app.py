"""The Photofeed API: wiring only (settings, observability, middleware, blueprints)."""

from __future__ import annotations

from chalice import Chalice

from chalicelib.accounts.routes import routes as accounts
from chalicelib.activity.routes import routes as activity
from chalicelib.api.deps import get_accounts
from chalicelib.api.docs import Api
from chalicelib.api.middleware import http_middleware
from chalicelib.config import get_settings
from chalicelib.explore.routes import routes as explore
from chalicelib.feed.routes import routes as feed
from chalicelib.graph.routes import routes as graph
from chalicelib.media.routes import routes as media
from chalicelib.notifications.routes import routes as notifications
from chalicelib.observability import DeferredTracer, logs_and_metrics
from chalicelib.ops.routes import routes as operations
from chalicelib.places.routes import routes as places
from chalicelib.tags.routes import routes as tags
from chalicelib.users.routes import routes as users

SERVICE = "api"
settings = get_settings()
logger, metrics = logs_and_metrics(SERVICE)
tracer = DeferredTracer(SERVICE)

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

api = Api(app, authenticate=lambda header: get_accounts().authenticate(header))
for routes in (
    operations,
    accounts,
    users,
    graph,
    places,
    media,
    feed,
    tags,
    activity,
    explore,
    notifications,
):
    api.register(routes)
api.register_document_route()
