"""The OpenAPI 3.1 document, generated from the registered routes and their models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.errors import (
    ApiError,
    ErrorBody,
    MalformedJson,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from chalicelib.api.routing import JSON_CONTENT_TYPE, Operation

_REF = "#/components/schemas/{model}"
# Protected routes take the session token of POST /sessions as a bearer token.
_SCHEME = "bearer"
Mode = Literal["validation", "serialization"]


def openapi_document(operations: list[Operation], *, title: str, version: str) -> dict[str, Any]:
    """An OpenAPI 3.1 document for `operations`, good for generating clients."""
    schemas, refs = _schemas(operations)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Errors always use the `Error` body; `code` is stable.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {_SCHEME: {"type": "http", "scheme": "bearer"}},
        },
        "security": [{_SCHEME: []}],
    }


def _schemas(operations: list[Operation]) -> tuple[dict[str, Any], dict[tuple[type, Mode], Any]]:
    wanted: list[tuple[type[BaseModel], Mode]] = [(ErrorBody, "serialization")]
    for op in operations:
        for model in (op.path_model, op.query_model, op.body_model):
            if model:
                wanted.append((model, "validation"))
        if op.response:
            wanted.append((op.response, "serialization"))
    refs, top = models_json_schema(list(dict.fromkeys(wanted)), ref_template=_REF)
    return top.get("$defs", {}), refs


def _operation(op: Operation, refs: dict, schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.summary,
        "tags": list(op.tags),
        "parameters": [
            *_parameters(op.path_model, "path", refs, schemas),
            *_parameters(op.query_model, "query", refs, schemas),
        ],
        "responses": _responses(op, refs),
    }
    if op.public:
        operation["security"] = []
    if op.body_model:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON_CONTENT_TYPE: {"schema": refs[(op.body_model, "validation")]}},
        }
    return operation


def _parameters(
    model: type[BaseModel] | None, where: str, refs: dict, schemas: dict[str, Any]
) -> list[dict[str, Any]]:
    if model is None:
        return []
    component = schemas[refs[(model, "validation")]["$ref"].rsplit("/", 1)[-1]]
    required = set(component.get("required", []))
    return [
        {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": schema,
            **({"description": schema["description"]} if "description" in schema else {}),
        }
        for name, schema in component.get("properties", {}).items()
    ]


def _responses(op: Operation, refs: dict) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    success: dict[str, Any] = {"description": op.summary}
    if op.response:
        success["content"] = {JSON_CONTENT_TYPE: {"schema": refs[(op.response, "serialization")]}}
    responses[str(op.status)] = success
    for status in op.extra_statuses:
        responses[str(status)] = {**success, "description": f"{op.summary} ({status})"}
    for error in _possible_errors(op):
        responses.setdefault(
            str(error.status),
            {
                "description": error.description,
                "content": {JSON_CONTENT_TYPE: {"schema": refs[(ErrorBody, "serialization")]}},
            },
        )
    return responses


def _possible_errors(op: Operation) -> list[type[ApiError]]:
    # Any route refuses unknown query parameters, and any route can be sent a body.
    possible: list[type[ApiError]] = [ValidationFailed, PayloadTooLarge]
    if not op.public:
        possible.append(Unauthorized)
    if op.body_model:
        possible += [MalformedJson, UnsupportedMediaType]
    return possible + list(op.errors)
