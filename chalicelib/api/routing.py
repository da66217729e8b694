"""Routes that validate their input with pydantic and describe themselves for OpenAPI.

    routes = Routes("ops")

    @routes.route("/users/{user_id}", "GET", path=UserPath, response=User, errors=(NotFound,))
    def get_user(path: UserPath) -> User: ...

A view receives validated `path`, `query` and `body` models and returns a response
model (or a `Reply` to choose the status and headers). Every error leaves as the
stable JSON error body; unknown parameters and fields are refused with 400.

Routes require a bearer token unless registered with `public=True`: the request is
authenticated (401 otherwise) before anything else, and the view receives `caller`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin

from chalice import Blueprint, Response
from chalice.app import ChaliceUnhandledError, Request
from pydantic import BaseModel, RootModel, ValidationError

from chalicelib import errors as domain
from chalicelib.api import errors

JSON_CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class Reply:
    """A response model with a status and headers other than the route's defaults."""

    body: BaseModel
    status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """One route as OpenAPI describes it."""

    path: str
    method: str
    name: str
    summary: str
    tags: tuple[str, ...]
    response: type[BaseModel] | None
    status: int
    path_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    body_model: type[BaseModel] | None = None
    errors: tuple[type[errors.ApiError], ...] = ()
    extra_statuses: tuple[int, ...] = ()
    public: bool = False


# Authorization header -> the caller (raises chalicelib.errors.Unauthenticated).
Authenticate = Callable[[str | None], Any]


class Routes:
    """The routes of one capability, as a Chalice blueprint plus their descriptions."""

    def __init__(self, name: str) -> None:
        self.blueprint = Blueprint(name)
        self.operations: list[Operation] = []
        self.authenticate: Authenticate | None = None  # set when registered (api.docs.Api)
        self.name = name

    @property
    def current_request(self) -> Request:
        """The request being answered."""
        return self.blueprint.current_request

    def route(
        self,
        path_template: str,
        method: str = "GET",
        *,
        response: type[BaseModel] | None,
        status: int = 200,
        path: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        body: type[BaseModel] | None = None,
        errors: tuple[type[errors.ApiError], ...] = (),
        extra_statuses: tuple[int, ...] = (),
        public: bool = False,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a view; see the module docstring."""

        def register(view: Callable[..., Any]) -> Callable[..., Any]:
            for model in (query, body):
                _require_strict(model)
            operation = Operation(
                path=path_template,
                method=method.upper(),
                name=view.__name__,
                summary=(view.__doc__ or view.__name__).strip().splitlines()[0],
                tags=(self.name,),
                response=response,
                status=status,
                path_model=path,
                query_model=query,
                body_model=body,
                errors=errors,
                extra_statuses=extra_statuses,
                public=public,
            )
            self.operations.append(operation)
            handler = functools.partial(_handle, self, operation, view)
            functools.update_wrapper(handler, view)
            # Content types are checked by _parse_body, so that answers keep our body.
            self.blueprint.route(path_template, methods=[operation.method], content_types=["*/*"])(
                handler
            )
            return view

        return register


def _require_strict(model: type[BaseModel] | None) -> None:
    """Unknown parameters and fields must be refused: input models forbid extras (a
    root model: each model it may hold)."""
    if model is None:
        return
    if issubclass(model, RootModel):
        for member in _models_in(model.model_fields["root"].annotation):
            _require_strict(member)
    elif model.model_config.get("extra") != "forbid":
        raise TypeError(f"{model.__name__} must set model_config extra='forbid'")


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models a type annotation names (through unions and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _handle(
    routes: Routes, operation: Operation, view: Callable[..., Any], **path_args: str
) -> Response:
    request = routes.current_request
    try:
        caller = None if operation.public else _authenticate(routes, request)
        kwargs: dict[str, Any] = _parse_request(operation, request, path_args)
        if caller is not None:
            kwargs["caller"] = caller
        return _render(view(**kwargs), operation.status)
    except errors.ApiError as exc:
        return error_response(exc)
    except domain.PhotofeedError as exc:
        return error_response(errors.from_domain(exc))
    except Exception as exc:
        # Chalice hands this one to the middleware, which logs it with the request ID.
        raise ChaliceUnhandledError(type(exc).__name__) from exc


def _authenticate(routes: Routes, request: Request) -> Any:
    if routes.authenticate is None:
        raise RuntimeError(f"{routes.name}: register the routes with an authenticator")
    return routes.authenticate(request.headers.get("authorization"))


def source_address(request: Request) -> str:
    """The client's address as API Gateway saw it (never a client-set header)."""
    return request.context.get("identity", {}).get("sourceIp") or "unknown"


def error_response(exc: errors.ApiError) -> Response:
    """The answer for an ApiError, with the stable body."""
    return Response(
        body=exc.body(),
        status_code=exc.status,
        headers={"Content-Type": JSON_CONTENT_TYPE, **exc.headers},
    )


def _parse_request(
    operation: Operation, request: Request, path_args: dict[str, str]
) -> dict[str, BaseModel]:
    kwargs: dict[str, BaseModel] = {}
    if operation.path_model:
        kwargs["path"] = _validate(operation.path_model, path_args, "path")
    query = _query_params(request, operation.query_model)
    if operation.query_model:
        kwargs["query"] = _validate(operation.query_model, query, "query")
    elif query:
        raise errors.ValidationFailed(
            "unknown query parameters", [{"loc": ["query", k], "msg": "not allowed"} for k in query]
        )
    if operation.body_model:
        kwargs["body"] = _validate(operation.body_model, _json_body(request), "body")
    return kwargs


def _query_params(request: Request, model: type[BaseModel] | None) -> dict[str, Any]:
    """Query parameters: all values for list fields, else the value (a list if repeated)."""
    params = request.query_params or {}
    list_fields = {
        name
        for name, field in (model.model_fields.items() if model else ())
        if get_origin(field.annotation) is list
    }
    result: dict[str, Any] = {}
    for name in params:
        values = params.getlist(name)
        result[name] = values if name in list_fields or len(values) > 1 else values[0]
    return result


def _json_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != JSON_CONTENT_TYPE:
        raise errors.UnsupportedMediaType(
            f"send the body as {JSON_CONTENT_TYPE}, not {content_type or 'nothing'!r}"
        )
    raw = request.raw_body
    if not raw:
        raise errors.MalformedJson("the body is empty")
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.MalformedJson(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise errors.MalformedJson("the body nests too deeply") from None


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON, though Python's parser takes them.
    raise ValueError(f"{name} is not JSON")


def _validate(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise errors.ValidationFailed(f"invalid {where}", _problems(exc, where)) from None


def _problems(exc: ValidationError, where: str) -> list[dict[str, Any]]:
    """Pydantic's errors without the input echoed back (it may hold secrets)."""
    return [
        {"loc": [where, *error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_input=False, include_url=False, include_context=False)
    ]


def _render(result: Any, default_status: int) -> Response:
    headers = {"Content-Type": JSON_CONTENT_TYPE}
    if isinstance(result, Reply):
        return Response(
            body=result.body.model_dump(mode="json"),
            status_code=result.status,
            headers={**headers, **result.headers},
        )
    if isinstance(result, BaseModel):
        return Response(
            body=result.model_dump(mode="json"), status_code=default_status, headers=headers
        )
    if default_status == 204:
        return Response(body="", status_code=204)
    return Response(body=result, status_code=default_status, headers=headers)
