"""Who may do what: every protected route, called by each role an account's world holds,
answers exactly the role's status, and its 2xx answers show nothing the caller may not see.

An owner (private, and separately public) and, towards them: a stranger, an approved
follower (whom the owner follows back), a pending requester (private owners only: going
public approves every request), a user the owner blocked, a user who blocked the owner,
and the owner themselves. Each role acts on the owner (or, for approving and denying, on
the owner's requester). Routes that change the graph get a world of their own; within a
world each role changes only its own relation to the owner, so calls do not interfere.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests

from app import api

ROLES = ("stranger", "follower", "requester", "blocked", "blocker", "owner")
FLAGS = {"following", "followed_by", "requested", "requested_by", "blocking", "blocked_by"}
PROFILE_KEYS = {"id", "username", "full_name", "bio", "is_private", "created_at", "counts"}
SUMMARY_KEYS = {"id", "username", "full_name", "is_private"}
PUBLIC_ROUTES = {
    ("POST", "/accounts"),
    ("POST", "/sessions"),
    ("GET", "/health"),
    ("GET", "/openapi.json"),
}
CHALLENGE = 'Bearer realm="photofeed"'


@dataclass
class World:
    """An owner and the members standing towards them in each role."""

    private: bool
    people: dict[str, object]

    @property
    def owner(self):
        return self.people["owner"]

    @property
    def asker(self):
        """Whose follow request approving and denying name: the requester, or (public
        owners have none) the stranger."""
        return self.people["requester" if self.private else "stranger"]


def _ok(response: requests.Response, status: int = 200) -> None:
    assert response.status_code == status, response.text


def _roles(private: bool) -> list[str]:
    return [role for role in ROLES if private or role != "requester"]


def relate(world: World) -> World:
    """Make each role stand towards the owner as its name says."""
    people, owner = world.people, world.owner
    follower = people["follower"]
    _ok(follower.post(f"/users/{owner.id}/follow"))
    if world.private:
        _ok(owner.post(f"/me/follow-requests/{follower.id}/approve"), 204)
        _ok(people["requester"].post(f"/users/{owner.id}/follow"))
    _ok(owner.post(f"/users/{follower.id}/follow"))
    _ok(owner.post(f"/users/{people['blocked'].id}/block"))
    _ok(people["blocker"].post(f"/users/{owner.id}/block"))
    return world


# What each role may see


def _relationship(world: World, member, other) -> dict[str, bool]:
    response = member.get(f"/users/{other.id}/relationship")
    _ok(response)
    return response.json()


def shows_the_callers_own_profile(world: World, role: str, response) -> None:
    caller = world.people[role]
    body = response.json()
    assert set(body) == {*PROFILE_KEYS, "email"}
    assert (body["id"], body["email"]) == (str(caller.id), caller.email)


def shows_the_owners_profile_without_email(world: World, role: str, response) -> None:
    body = response.json()
    assert set(body) == PROFILE_KEYS
    assert body["id"] == str(world.owner.id)


def edits_only_the_callers_profile(world: World, role: str, response) -> None:
    shows_the_callers_own_profile(world, role, response)
    assert response.json()["bio"] == f"{role} was here"
    owner = world.owner.get("/users/me").json()
    assert owner["bio"] == ("owner was here" if role == "owner" else "")


# How each role stands towards the owner, as the owner's world was built.
STANDING = {
    "stranger": set(),
    "follower": {"following", "followed_by"},
    "requester": {"requested"},
    "blocked": {"blocked_by"},
    "blocker": {"blocking"},
    "owner": set(),
}


def tells_how_the_caller_stands(world: World, role: str, response) -> None:
    assert response.json() == {flag: flag in STANDING[role] for flag in FLAGS}


def is_a_relationship_and_nothing_more(world: World, role: str, response) -> None:
    assert set(response.json()) == FLAGS


def lists_only(expected: Callable[[World], list]) -> Callable:
    def check(world: World, role: str, response) -> None:
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        assert all(set(item) == SUMMARY_KEYS for item in body["items"])
        assert [item["id"] for item in body["items"]] == [str(m.id) for m in expected(world)]

    return check


def lists_the_callers_own_requests(world: World, role: str, response) -> None:
    asked = [world.people["requester"]] if world.private and role == "owner" else []
    lists_only(lambda _: asked)(world, role, response)


def decides_only_the_callers_requests(world: World, role: str, response) -> None:
    """Only the owner's decision changes the owner's request (made last: the owner is
    the last role)."""
    decided = role == "owner" and world.private
    asker = world.asker
    stands = _relationship(world, asker, world.owner)
    assert stands["requested"] is (world.private and not decided)


def ends_only_that_session(world: World, role: str, response) -> None:
    member = world.people[role]
    assert response.content == b""
    ended = {"Authorization": response.request.headers["Authorization"]}
    assert member.http.get("/users/me", headers=ended).status_code == 401
    _ok(member.get("/users/me"))


# The matrix


@dataclass(frozen=True)
class Row:
    """How a route is called in a world, and what its 2xx answers must show."""

    url: Callable[[World], str]
    check: Callable[[World, str, requests.Response], None]
    body: Callable[[str], dict] | None = None
    mutates: bool = False  # gets a world of its own
    fresh_session: bool = False  # called with a session made for the call


def _owner(path: str) -> Callable[[World], str]:
    return lambda world: path.format(owner=world.owner.id, name=world.owner.username)


def _asker(path: str) -> Callable[[World], str]:
    return lambda world: path.format(asker=world.asker.id)


def _me(path: str) -> Callable[[World], str]:
    return lambda world: path


ROUTES: dict[tuple[str, str], Row] = {
    ("GET", "/users/me"): Row(_me("/users/me"), shows_the_callers_own_profile),
    ("PATCH", "/users/me"): Row(
        _me("/users/me"),
        edits_only_the_callers_profile,
        body=lambda role: {"bio": f"{role} was here"},
    ),
    ("GET", "/users/{user_id}"): Row(
        _owner("/users/{owner}"), shows_the_owners_profile_without_email
    ),
    ("GET", "/users/by-username/{username}"): Row(
        _owner("/users/by-username/{name}"), shows_the_owners_profile_without_email
    ),
    ("GET", "/users/{user_id}/relationship"): Row(
        _owner("/users/{owner}/relationship"), tells_how_the_caller_stands
    ),
    ("GET", "/users/{user_id}/followers"): Row(
        _owner("/users/{owner}/followers"), lists_only(lambda world: [world.people["follower"]])
    ),
    ("GET", "/users/{user_id}/following"): Row(
        _owner("/users/{owner}/following"), lists_only(lambda world: [world.people["follower"]])
    ),
    ("GET", "/me/follow-requests"): Row(_me("/me/follow-requests"), lists_the_callers_own_requests),
    ("POST", "/users/{user_id}/follow"): Row(
        _owner("/users/{owner}/follow"), is_a_relationship_and_nothing_more, mutates=True
    ),
    ("DELETE", "/users/{user_id}/follow"): Row(
        _owner("/users/{owner}/follow"), is_a_relationship_and_nothing_more, mutates=True
    ),
    ("POST", "/users/{user_id}/block"): Row(
        _owner("/users/{owner}/block"), is_a_relationship_and_nothing_more, mutates=True
    ),
    ("DELETE", "/users/{user_id}/block"): Row(
        _owner("/users/{owner}/block"), is_a_relationship_and_nothing_more, mutates=True
    ),
    ("POST", "/me/follow-requests/{user_id}/approve"): Row(
        _asker("/me/follow-requests/{asker}/approve"),
        decides_only_the_callers_requests,
        mutates=True,
    ),
    ("POST", "/me/follow-requests/{user_id}/deny"): Row(
        _asker("/me/follow-requests/{asker}/deny"), decides_only_the_callers_requests, mutates=True
    ),
    ("DELETE", "/sessions/current"): Row(
        _me("/sessions/current"), ends_only_that_session, fresh_session=True
    ),
}

# What each role gets, towards a private owner and towards a public one ("-": no such role).
# fmt: off
# Columns, in ROLES order: the stranger, the follower, the pending requester, the user
# the owner blocked, the user who blocked the owner, the owner.
#                                                        strang follow reqstr blockd blockr owner
PRIVATE_OWNER = {
    ("GET", "/users/me"):                               "200    200    200    200    200    200",
    ("PATCH", "/users/me"):                             "200    200    200    200    200    200",
    ("GET", "/users/{user_id}"):                        "200    200    200    404    404    200",
    ("GET", "/users/by-username/{username}"):           "200    200    200    404    404    200",
    ("GET", "/users/{user_id}/relationship"):           "200    200    200    200    200    200",
    ("GET", "/users/{user_id}/followers"):              "403    200    403    404    404    200",
    ("GET", "/users/{user_id}/following"):              "403    200    403    404    404    200",
    ("GET", "/me/follow-requests"):                     "200    200    200    200    200    200",
    ("POST", "/users/{user_id}/follow"):                "200    200    200    404    409    422",
    ("DELETE", "/users/{user_id}/follow"):              "200    200    200    404    200    422",
    ("POST", "/users/{user_id}/block"):                 "200    200    200    200    200    422",
    ("DELETE", "/users/{user_id}/block"):               "200    200    200    200    200    422",
    ("POST", "/me/follow-requests/{user_id}/approve"):  "404    404    404    404    404    204",
    ("POST", "/me/follow-requests/{user_id}/deny"):     "204    204    204    204    204    204",
    ("DELETE", "/sessions/current"):                    "204    204    204    204    204    204",
}
PUBLIC_OWNER = {
    ("GET", "/users/me"):                               "200    200    -      200    200    200",
    ("PATCH", "/users/me"):                             "200    200    -      200    200    200",
    ("GET", "/users/{user_id}"):                        "200    200    -      404    404    200",
    ("GET", "/users/by-username/{username}"):           "200    200    -      404    404    200",
    ("GET", "/users/{user_id}/relationship"):           "200    200    -      200    200    200",
    ("GET", "/users/{user_id}/followers"):              "200    200    -      404    404    200",
    ("GET", "/users/{user_id}/following"):              "200    200    -      404    404    200",
    ("GET", "/me/follow-requests"):                     "200    200    -      200    200    200",
    ("POST", "/users/{user_id}/follow"):                "200    200    -      404    409    422",
    ("DELETE", "/users/{user_id}/follow"):              "200    200    -      404    200    422",
    ("POST", "/users/{user_id}/block"):                 "200    200    -      200    200    422",
    ("DELETE", "/users/{user_id}/block"):               "200    200    -      200    200    422",
    ("POST", "/me/follow-requests/{user_id}/approve"):  "404    404    -      404    404    404",
    ("POST", "/me/follow-requests/{user_id}/deny"):     "204    204    -      204    204    204",
    ("DELETE", "/sessions/current"):                    "204    204    -      204    204    204",
}
# fmt: on


def expected_statuses(kind: str, route: tuple[str, str]) -> dict[str, int]:
    table = PRIVATE_OWNER if kind == "private" else PUBLIC_OWNER
    cells = table[route].split()
    return {role: int(cell) for role, cell in zip(ROLES, cells, strict=True) if cell != "-"}


# What each answer carries that is not a success.
ERROR_CODES = {403: "forbidden", 404: "not_found", 409: "conflict", 422: "unprocessable"}


def _route_id(route: tuple[str, str]) -> str:
    return " ".join(route)


@pytest.fixture(scope="module")
def worlds(sign_up) -> dict[tuple[str, object], World]:
    """A shared world per kind of owner, and one per route that changes the graph."""
    keys = [
        (kind, route)
        for kind in ("private", "public")
        for route in ["shared", *(route for route, row in ROUTES.items() if row.mutates)]
    ]
    places = [(key, role) for key in keys for role in _roles(key[0] == "private")]
    # A few at a time: the local API's listen queue is short, and shared.
    with ThreadPoolExecutor(3) as pool:
        people = dict(zip(places, pool.map(_sign_up_for(sign_up), places), strict=True))
        built = [
            World(private, {role: people[key, role] for role in _roles(private)})
            for key in keys
            for private in [key[0] == "private"]
        ]
        return dict(zip(keys, pool.map(relate, built), strict=True))


def _sign_up_for(sign_up) -> Callable:
    def make(place):
        (kind, _), role = place
        return sign_up(private=kind == "private" and role == "owner")

    return make


def _session_for(member) -> dict[str, str]:
    """Headers with a new session of the member's (logging in with the right password)."""
    response = member.http.post(
        "/sessions", json={"login": member.username, "password": member.password}
    )
    _ok(response, 201)
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _call(row: Row, world: World, role: str, route: tuple[str, str]) -> requests.Response:
    member = world.people[role]
    headers = _session_for(member) if row.fresh_session else member.headers
    body = row.body(role) if row.body else None
    return member.http.request(route[0], row.url(world), headers=headers, json=body)


def _assert_error_body(response: requests.Response) -> None:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == ERROR_CODES[response.status_code]


def test_the_matrix_covers_every_protected_operation():
    protected = {(op.method, op.path) for op in api.operations if not op.public}

    assert set(ROUTES) == set(PRIVATE_OWNER) == set(PUBLIC_OWNER) == protected


def test_only_sign_up_log_in_health_and_the_document_are_public():
    assert {(op.method, op.path) for op in api.operations if op.public} == PUBLIC_ROUTES


@pytest.mark.parametrize("route", list(ROUTES), ids=_route_id)
@pytest.mark.parametrize("kind", ["private", "public"])
def test_each_role_gets_exactly_its_status(worlds, kind, route):
    row = ROUTES[route]
    world = worlds[(kind, route if row.mutates else "shared")]
    expected = expected_statuses(kind, route)

    answered = {}
    for role, status in expected.items():
        response = _call(row, world, role, route)
        answered[role] = response.status_code
        if response.status_code != status:
            continue
        if status >= 400:
            _assert_error_body(response)
        else:
            row.check(world, role, response)

    assert answered == expected


# Without a valid token


@pytest.fixture(scope="module")
def someone(sign_up):
    return sign_up()


def _revoked_token(member) -> str:
    headers = _session_for(member)
    _ok(member.http.delete("/sessions/current", headers=headers), 204)
    return headers["Authorization"]


CREDENTIALS: dict[str, Callable[[object], str | None]] = {
    "no token": lambda member: None,
    "another scheme": lambda member: f"Basic {member.token}",
    "an unknown token": lambda member: f"Bearer pf_{uuid.uuid4().hex}{uuid.uuid4().hex[:11]}",
    "a revoked token": _revoked_token,
}


@pytest.mark.parametrize("route", list(ROUTES), ids=_route_id)
@pytest.mark.parametrize("credential", list(CREDENTIALS))
def test_a_protected_route_without_a_valid_token_is_a_401_with_a_challenge(
    http, someone, credential, route
):
    authorization = CREDENTIALS[credential](someone)
    headers = {"Authorization": authorization} if authorization else {}
    url = route[1].format(user_id=someone.id, username=someone.username)
    body = {"bio": "not allowed"} if route == ("PATCH", "/users/me") else None

    response = http.request(route[0], url, headers=headers, json=body)

    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert response.json()["error"]["code"] == "unauthorized"
    assert set(response.json()["error"]) == {"code", "message", "details"}
    if body:
        assert someone.get("/users/me").json()["bio"] == ""


# Nobody edits another's profile


def test_there_is_no_route_to_edit_another_users_profile(someone, other):
    before = other.get("/users/me").json()

    response = someone.patch(f"/users/{other.id}", json={"bio": "mine now"})

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "GET"
    assert other.get("/users/me").json() == before


@pytest.fixture(scope="module")
def other(sign_up):
    return sign_up()


@pytest.mark.parametrize("field", ["id", "username", "email", "counts", "created_at"])
def test_a_profile_edit_naming_a_field_nobody_may_edit_is_refused(someone, other, field):
    before = someone.get("/users/me").json()
    value = {"id": str(other.id), "username": other.username, "email": other.email}.get(
        field, before[field]
    )

    response = someone.patch("/users/me", json={field: value, "bio": "changed"})

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "validation_failed"
    assert someone.get("/users/me").json() == before
