"""/openapi.json: the document, generated from every registered route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Chalice

from chalicelib.api.routing import Authenticate, Operation, Routes

API_TITLE = "Photofeed API"
API_VERSION = "0.1.0"


class Api:
    """The blueprints registered on the app, and the document describing them."""

    def __init__(self, app: Chalice, authenticate: Authenticate | None = None) -> None:
        self._app = app
        self._authenticate = authenticate
        self._routes: list[Routes] = []

    def register(self, routes: Routes) -> None:
        """Add a capability's routes; those not public authenticate with the API's authenticator."""
        if self._authenticate is None and not all(op.public for op in routes.operations):
            raise ValueError(f"{routes.name} has protected routes: give Api an authenticator")
        routes.authenticate = self._authenticate
        self._app.register_blueprint(routes.blueprint)
        self._routes.append(routes)

    @property
    def operations(self) -> list[Operation]:
        return [op for routes in self._routes for op in routes.operations]

    def document(self) -> dict[str, Any]:
        # Built when asked for (pydantic's JSON Schema with it), not at a cold start.
        from chalicelib.api.openapi import openapi_document  # noqa: PLC0415

        return openapi_document(self.operations, title=API_TITLE, version=API_VERSION)

    def register_document_route(self) -> None:
        """Serve /openapi.json; it describes itself too."""
        self.register(_document_routes(self.document))


def _document_routes(document: Callable[[], dict[str, Any]]) -> Routes:
    routes = Routes("meta")

    @routes.route("/openapi.json", "GET", response=None, public=True)
    def openapi() -> dict[str, Any]:
        """This API's OpenAPI 3.1 document."""
        return document()

    return routes
