"""Every route validates with pydantic and answers errors in the one stable JSON body.

A small app built from the same Routes, middleware and error mapping as app.py, driven
through Chalice's own gateway (chalice.test.Client): the conventions themselves.
"""

from __future__ import annotations

import io
import json

import pytest
from chalice import Chalice
from chalice.test import Client
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import errors as domain
from chalicelib.api.docs import Api
from chalicelib.api.errors import NotFound
from chalicelib.api.middleware import http_middleware
from chalicelib.api.routing import Routes
from chalicelib.observability import DeferredTracer, logs_and_metrics

MAX_BODY = 2048


class NewGreeting(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=30)


class Greeting(BaseModel):
    text: str


class Page(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(20, ge=1, le=50)


class ItemPath(BaseModel):
    item_id: int = Field(gt=0)


routes = Routes("sample")


@routes.route("/greetings", "POST", body=NewGreeting, response=Greeting, status=201, public=True)
def greet(body: NewGreeting) -> Greeting:
    """Greet someone."""
    return Greeting(text=f"hello {body.name}")


@routes.route("/greetings", "GET", query=Page, response=Greeting, public=True)
def list_greetings(query: Page) -> Greeting:
    """Count greetings."""
    return Greeting(text=f"{query.count} greetings")


@routes.route(
    "/items/{item_id}", "GET", path=ItemPath, response=Greeting, errors=(NotFound,), public=True
)
def get_item(path: ItemPath) -> Greeting:
    """An item that never exists."""
    raise domain.NotFound(f"no item {path.item_id}")


@routes.route("/explode", "GET", response=Greeting, public=True)
def explode() -> Greeting:
    """A bug."""
    raise RuntimeError("password=hunter2 in a DSN")


class Tags(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag: list[str] = Field(default_factory=list, max_length=5)


@routes.route("/tags", "GET", query=Tags, response=Greeting, public=True)
def tags(query: Tags) -> Greeting:
    """Echo tags."""
    return Greeting(text=",".join(query.tag))


@routes.route("/slow-down", "GET", response=Greeting, public=True)
def slow_down() -> Greeting:
    """Too many tries."""
    raise domain.RateLimited("too many attempts", retry_after=30)


class Whoami(BaseModel):
    model_config = ConfigDict(extra="forbid")
    loud: bool = False


@routes.route("/whoami", "GET", query=Whoami, response=Greeting)
def whoami(caller: str, query: Whoami) -> Greeting:
    """Who is calling (a protected route)."""
    return Greeting(text=caller.upper() if query.loud else caller)


def _authenticate(header: str | None) -> str:
    if header != "Bearer good-token":
        raise domain.Unauthenticated("a bearer token is required")
    return "caller-1"


LOGGER, METRICS = logs_and_metrics("conventions-test")
TRACER = DeferredTracer("conventions-test")


def _app() -> tuple[Chalice, Api]:
    app = Chalice(app_name="conventions")
    app.register_middleware(
        http_middleware(max_body_bytes=MAX_BODY, logger=LOGGER, metrics=METRICS, tracer=TRACER),
        "http",
    )
    api = Api(app, authenticate=_authenticate)
    api.register(routes)
    return app, api


# Chalice consumes a blueprint's registration: the sample routes join one app only.
APP, API = _app()


@pytest.fixture(scope="module")
def client():
    with Client(APP) as test_client:
        yield test_client


def _error(response) -> dict:
    body = json.loads(response.body)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert response.headers["Content-Type"] == "application/json"
    return body["error"]


JSON = {"Content-Type": "application/json"}


def test_a_valid_body_reaches_the_view(client):
    response = client.http.post("/greetings", headers=JSON, body=json.dumps({"name": "ada"}))
    assert response.status_code == 201
    assert json.loads(response.body) == {"text": "hello ada"}


def test_malformed_json_is_a_400(client):
    response = client.http.post("/greetings", headers=JSON, body='{"name": ')
    assert response.status_code == 400
    assert _error(response)["code"] == "malformed_json"


def test_an_empty_body_is_a_400(client):
    response = client.http.post("/greetings", headers=JSON, body="")
    assert response.status_code == 400
    assert _error(response)["code"] == "malformed_json"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_body_that_is_not_json_is_a_415(client, content_type):
    response = client.http.post(
        "/greetings", headers={"Content-Type": content_type}, body='{"name": "ada"}'
    )
    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"


def test_json_with_a_charset_is_accepted(client):
    headers = {"Content-Type": "application/json; charset=utf-8"}
    response = client.http.post("/greetings", headers=headers, body='{"name": "ada"}')
    assert response.status_code == 201


def test_an_unknown_field_is_a_400_naming_it(client):
    body = json.dumps({"name": "ada", "is_admin": True})
    response = client.http.post("/greetings", headers=JSON, body=body)
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "validation_failed"
    assert error["details"] == [
        {
            "loc": ["body", "is_admin"],
            "msg": "Extra inputs are not permitted",
            "type": "extra_forbidden",
        }
    ]


def test_a_field_breaking_its_rule_is_a_400_and_its_value_is_not_echoed(client):
    body = json.dumps({"name": "x" * 31})
    response = client.http.post("/greetings", headers=JSON, body=body)
    assert response.status_code == 400
    assert "x" * 31 not in response.body.decode()
    assert _error(response)["details"][0]["loc"] == ["body", "name"]


@pytest.mark.parametrize("document", ["[]", '"ada"', "null", "12"])
def test_a_body_that_is_not_an_object_is_a_400(client, document):
    response = client.http.post("/greetings", headers=JSON, body=document)
    assert response.status_code == 400
    assert _error(response)["code"] == "validation_failed"


def test_an_oversized_body_is_a_413_before_any_parsing(client):
    body = json.dumps({"name": "a" * (MAX_BODY + 1)})
    response = client.http.post("/greetings", headers=JSON, body=body)
    assert response.status_code == 413
    error = _error(response)
    assert error["code"] == "payload_too_large"
    assert error["details"] == {"max_bytes": MAX_BODY}


def test_query_parameters_are_validated(client):
    assert json.loads(client.http.get("/greetings?count=5").body) == {"text": "5 greetings"}
    assert json.loads(client.http.get("/greetings").body) == {"text": "20 greetings"}
    for bad in ("count=0", "count=51", "count=abc", "count=1&count=2"):
        response = client.http.get(f"/greetings?{bad}")
        assert response.status_code == 400, bad
        assert _error(response)["code"] == "validation_failed"


def test_an_unknown_query_parameter_is_a_400(client):
    response = client.http.get("/greetings?cuont=5")
    assert response.status_code == 400
    assert _error(response)["details"][0]["loc"] == ["query", "cuont"]
    response = client.http.get("/explode?debug=1")
    assert response.status_code == 400


def test_a_malformed_path_parameter_is_a_400(client):
    response = client.http.get("/items/abc")
    assert response.status_code == 400
    assert _error(response)["details"][0]["loc"] == ["path", "item_id"]


def test_domain_errors_map_to_their_http_answers(client):
    response = client.http.get("/items/7")
    assert response.status_code == 404
    assert _error(response) == {"code": "not_found", "message": "no item 7", "details": None}
    response = client.http.get("/slow-down")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "30"
    assert _error(response)["code"] == "rate_limited"


def test_a_method_the_route_does_not_take_is_a_405_with_allow(client):
    response = client.http.request("DELETE", "/greetings")
    assert response.status_code == 405
    assert _error(response)["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].split(", ")) == {"GET", "POST"}


def test_a_bug_is_a_500_with_the_stable_body_and_no_internals(client):
    response = client.http.get("/explode")
    assert response.status_code == 500
    assert _error(response) == {
        "code": "internal_error",
        "message": "An unexpected error; it was logged.",
        "details": None,
    }
    assert "hunter2" not in response.body.decode()


def test_every_answer_carries_a_request_id_the_client_cannot_choose(client):
    first = client.http.get("/greetings").headers["X-Request-Id"]
    chosen = client.http.get("/greetings", headers={"X-Request-Id": "client-abc-12345"})
    assert len(first) >= 8
    assert chosen.headers["X-Request-Id"] not in (first, "client-abc-12345")


def test_a_bug_is_logged_with_its_traceback_and_request_id(client):
    stream = io.StringIO()
    previous = LOGGER.registered_handler.setStream(stream)
    try:
        response = client.http.get("/explode")
    finally:
        LOGGER.registered_handler.setStream(previous)
    logged = [json.loads(line) for line in stream.getvalue().splitlines()]
    (entry,) = [e for e in logged if e.get("message") == "unhandled error"]
    assert entry["correlation_id"] == response.headers["X-Request-Id"]
    assert "RuntimeError" in entry["exception"]


@pytest.mark.parametrize("document", ["[" * 2000, '{"name": NaN}', '{"name": Infinity}'])
def test_json_python_takes_but_json_does_not_is_a_400(client, document):
    response = client.http.post("/greetings", headers=JSON, body=document)
    assert response.status_code == 400
    assert _error(response)["code"] == "malformed_json"


def test_a_list_parameter_given_once_is_a_list(client):
    response = client.http.get("/tags?tag=a")
    assert json.loads(response.body) == {"text": "a"}
    response = client.http.get("/tags?tag=a&tag=b")
    assert json.loads(response.body) == {"text": "a,b"}


def test_an_input_model_that_allows_unknown_fields_is_refused_at_start_up():
    class Lenient(BaseModel):
        name: str

    with pytest.raises(TypeError, match="extra='forbid'"):
        Routes("lenient").route("/lenient", "POST", body=Lenient, response=None)(lambda body: None)


def test_the_document_describes_parameters_bodies_and_errors():
    document = API.document()
    post = document["paths"]["/greetings"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewGreeting"
    }
    assert {"201", "400", "413", "415"} <= set(post["responses"])
    get = document["paths"]["/greetings"]["get"]
    assert get["parameters"][0]["name"] == "count"
    assert get["parameters"][0]["in"] == "query"
    assert get["parameters"][0]["required"] is False
    item = document["paths"]["/items/{item_id}"]["get"]
    assert item["parameters"][0] == {
        "name": "item_id",
        "in": "path",
        "required": True,
        "schema": {"exclusiveMinimum": 0, "title": "Item Id", "type": "integer"},
    }
    assert "404" in item["responses"]


def test_a_protected_route_gives_the_view_its_caller(client):
    response = client.http.get("/whoami", headers={"Authorization": "Bearer good-token"})
    assert response.status_code == 200
    assert json.loads(response.body) == {"text": "caller-1"}


def test_a_protected_route_without_a_valid_token_is_a_401_with_a_challenge(client):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        response = client.http.get("/whoami", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert _error(response)["code"] == "unauthorized"


def test_authentication_comes_before_validation(client):
    # GIVEN no token and an invalid query: THEN the answer reveals nothing about the route
    response = client.http.get("/whoami?loud=maybe&extra=1")
    assert response.status_code == 401


def test_protected_routes_require_an_authenticator():
    lonely = Routes("lonely")

    @lonely.route("/mine", "GET", response=Greeting)
    def mine(caller: str) -> Greeting:
        """Mine."""
        return Greeting(text=caller)

    with pytest.raises(ValueError, match="authenticator"):
        Api(Chalice(app_name="lonely")).register(lonely)


def test_the_document_marks_protected_routes(client):
    document = API.document()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["paths"]["/whoami"]["get"].get("security") is None
    assert "401" in document["paths"]["/whoami"]["get"]["responses"]
    assert document["paths"]["/greetings"]["post"]["security"] == []
