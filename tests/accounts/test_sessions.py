"""POST /sessions, DELETE /sessions/current and bearer tokens: DynamoDB is the truth, Redis
only caches it, and only a token's SHA-256 is ever stored."""

from __future__ import annotations

import base64
import time

import pytest

from chalicelib import redis_keys
from chalicelib.accounts.sessions import token_digest
from chalicelib.errors import Unauthenticated
from tests.answers import bearer, error_of, fresh_name

UNKNOWN_TOKEN = "pf_" + "A" * 43  # well-formed; no session has it (256 random bits would)


def log_in(http, login: str, password: str):
    return http.post("/sessions", json={"login": login, "password": password})


def stored_session(clients, settings, key: str) -> dict | None:
    item = clients.dynamodb.get_item(
        TableName=settings.sessions_table, Key={"pk": {"S": key}}, ConsistentRead=True
    ).get("Item")
    return {name: next(iter(value.values())) for name, value in item.items()} if item else None


@pytest.fixture(scope="module")
def member(sign_up):
    """A member for tests that only log in and read (each login is a session of its own)."""
    return sign_up()


def me_status(http, token: str) -> int:
    return http.get("/users/me", headers=bearer(token)).status_code


@pytest.mark.parametrize("spelled", [str.lower, str.upper], ids=["lower", "upper"])
def test_a_login_by_username_in_any_case_answers_201_and_a_working_token(http, member, spelled):
    response = log_in(http, spelled(member.username), member.password)

    assert response.status_code == 201, response.text
    session = response.json()
    assert set(session) == {"token", "user_id", "expires_at"}
    assert session["user_id"] == str(member.id)
    assert session["token"] != member.token
    assert http.get("/users/me", headers=bearer(session["token"])).json()["id"] == str(member.id)


@pytest.mark.parametrize("spelled", [str.lower, str.upper], ids=["lower", "upper"])
def test_a_login_by_email_in_any_case_answers_201_and_a_working_token(http, member, spelled):
    response = log_in(http, spelled(member.email), member.password)

    assert response.status_code == 201, response.text
    assert response.json()["user_id"] == str(member.id)
    assert me_status(http, response.json()["token"]) == 200


def test_a_wrong_password_and_an_unknown_user_get_the_same_401(http, member):
    # Each failure counts against 127.0.0.1, which every test shares: two, no more.
    wrong_password = log_in(http, member.username, member.password + "x")
    unknown_user = log_in(http, fresh_name("nobody"), member.password)

    assert error_of(wrong_password, 401) == error_of(unknown_user, 401)
    assert error_of(wrong_password, 401)["code"] == "unauthorized"


def test_logging_out_answers_204_and_ends_that_session(sign_up):
    member = sign_up()

    response = member.delete("/sessions/current")

    assert response.status_code == 204
    assert response.content == b""
    assert member.get("/users/me").status_code == 401


def test_logging_out_leaves_the_users_other_sessions_working(http, sign_up):
    # GIVEN a member logged in twice
    member = sign_up()
    other = log_in(http, member.username, member.password).json()["token"]

    # WHEN the first session logs out
    assert member.delete("/sessions/current").status_code == 204

    # THEN the second still works
    assert me_status(http, other) == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Basic dXNlcjpwYXNzd29yZA==",
        "Bearer",
        "Bearer ",
        "Bearer garbage",
        f"Bearer pf_{'!' * 43}",
        f"Bearer {UNKNOWN_TOKEN}",
        f"Token {UNKNOWN_TOKEN}",
    ],
    ids=[
        "missing",
        "empty",
        "basic",
        "scheme-only",
        "scheme-and-space",
        "garbage",
        "bad-characters",
        "unknown-token",
        "other-scheme",
    ],
)
def test_a_request_without_a_valid_bearer_token_is_a_401_with_a_challenge(http, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}

    response = http.get("/users/me", headers=headers)

    assert error_of(response, 401)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_bearer_scheme_is_case_insensitive(member):
    response = member.http.get("/users/me", headers={"Authorization": f"bearer {member.token}"})

    assert response.status_code == 200


def test_an_expired_session_is_a_401(http, sign_up, settings, sessions_at):
    # GIVEN a session made a whole lifetime (and a minute) ago
    member = sign_up()
    lifetime = settings.auth.session_ttl_days * 86400
    session = sessions_at(lambda: time.time() - lifetime - 60).create(member.id)

    # WHEN it is used
    response = http.get("/users/me", headers=bearer(session.token))

    # THEN it no longer works
    assert error_of(response, 401)["code"] == "unauthorized"


def test_a_cached_session_is_refused_once_it_expires(sign_up, sessions_at):
    # GIVEN a one-minute session, checked (and so cached) while it lives
    member = sign_up()
    now = time.time()
    clock = [now]
    sessions = sessions_at(lambda: clock[0], ttl_seconds=60)
    session = sessions.create(member.id)
    assert sessions.user_of(session.token) == member.id

    # WHEN its minute has passed
    clock[0] = now + 61

    # THEN the cached entry does not keep it alive
    with pytest.raises(Unauthenticated):
        sessions.user_of(session.token)


def test_a_session_outlives_its_cache_entry(clients, sign_up):
    # GIVEN a session whose cache entry is gone (as after a Redis flush)
    member = sign_up()
    assert member.get("/users/me").status_code == 200
    cached = redis_keys.session(token_digest(member.token))
    assert clients.redis.delete(cached) == 1

    # WHEN it is used
    response = member.get("/users/me")

    # THEN it still works, read from DynamoDB, and is cached again
    assert response.status_code == 200
    assert clients.redis.exists(cached)


def test_a_revoked_session_stays_revoked_once_its_tombstone_is_gone(clients, sign_up):
    member = sign_up()
    assert member.delete("/sessions/current").status_code == 204
    assert clients.redis.delete(redis_keys.session(token_digest(member.token))) == 1

    assert member.get("/users/me").status_code == 401


def test_only_the_tokens_sha256_is_stored(clients, settings, sign_up):
    member = sign_up()
    assert member.get("/users/me").status_code == 200  # cached now, too
    digest = token_digest(member.token)

    item = stored_session(clients, settings, digest)

    assert int(item["user_id"]) == member.id
    assert member.token not in repr(item)
    assert stored_session(clients, settings, member.token) is None
    assert clients.redis.exists(redis_keys.session(digest))
    assert member.token.encode() not in clients.redis.get(redis_keys.session(digest))
    assert not clients.redis.exists(redis_keys.session(member.token))


def test_tokens_are_256_random_bits(sign_up, sessions_at):
    member = sign_up()
    sessions = sessions_at(time.time)

    tokens = {sessions.create(member.id).token for _ in range(5)}

    assert len(tokens) == 5
    assert all(len(base64.urlsafe_b64decode(t[3:] + "=")) == 32 for t in tokens)
