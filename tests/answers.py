"""What tests read in the API's answers (and the database) and send in its requests."""

from __future__ import annotations

import uuid
from typing import Any

import requests
from psycopg2 import sql

from chalicelib.shards.routing import Router


def fresh_name(prefix: str = "t") -> str:
    """A username nobody else on the shared stack uses (16 hex digits of randomness)."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def new_account(username: str | None = None, email: str | None = None) -> dict[str, str]:
    """A valid POST /accounts body; fresh names for what is not given."""
    username = fresh_name() if username is None else username
    return {
        "username": username,
        "email": email or f"{fresh_name()}@example.com",
        "password": f"pw-{uuid.uuid4().hex}",
    }


def error_of(response: requests.Response, status: int) -> dict[str, Any]:
    """The `error` of an answer that must have `status` and the stable error body."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def refused(response: requests.Response, status: int, code: str) -> None:
    """Assert an answer is the error `code` with `status`, in the stable error body."""
    assert error_of(response, status)["code"] == code


def follow_rows(router: Router, user_id: int) -> dict[str, int]:
    """The user's followers and following as their shard's rows count them."""

    def count(conn, schema: sql.Identifier) -> dict[str, int]:
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL(
                    "SELECT (SELECT count(*) FROM {s}.followers WHERE target_id = %(u)s), "
                    "(SELECT count(*) FROM {s}.follows WHERE source_id = %(u)s)"
                ).format(s=schema),
                {"u": user_id},
            )
            followers, following = cursor.fetchone()
        return {"followers": followers, "following": following}

    return router.run_for_id(user_id, count)


def problem_fields(error: dict[str, Any]) -> list[list[str]]:
    """Where a validation_failed error says the request was wrong (each problem's loc)."""
    assert error["code"] == "validation_failed"
    return [problem["loc"] for problem in error["details"]]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
