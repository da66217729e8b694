"""Bad input on every route that takes some: a 4xx with the stable error body, never a
500, and nothing half-written (a refused sign-up leaves no user and no name claim; a
refused profile edit leaves the profile as it was; a refused upload leaves no media, a
refused media edit the media as it was, a refused comment no comment).

No body here is a valid log-in with a wrong password: failed log-ins count against a
per-address limit that everyone using the stack shares.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from urllib.parse import quote

import pytest
from psycopg2 import sql

from app import api
from chalicelib.config import get_settings
from chalicelib.media.routes import MAX_PLACE_NAME_CHARS
from chalicelib.notifications.store import devices_of
from tests.answers import refused
from tests.media.helpers import (
    a_ready_media,
    counted,
    hashtags,
    media_rows,
    upload_body,
    written_by,
)

LIMITS = get_settings().limits

# Bodies every JSON route refuses before looking at fields: (raw bytes, content type,
# status, code). None: no Content-Type header.
VALID_LOOKING = b'{"bio": "x"}'
UNPARSEABLE_BODIES = {
    "malformed JSON": (b'{"bio": ', "application/json", 400, "malformed_json"),
    "an empty body": (b"", "application/json", 400, "malformed_json"),
    "bytes that are not UTF-8": (b'{"bio": "\xff"}', "application/json", 400, "malformed_json"),
    "NaN": (b'{"bio": NaN}', "application/json", 400, "malformed_json"),
    "nesting too deep": (b"[" * 5000 + b"]" * 5000, "application/json", 400, "malformed_json"),
    "JSON sent as text/plain": (VALID_LOOKING, "text/plain", 415, "unsupported_media_type"),
    "no content type": (VALID_LOOKING, None, 415, "unsupported_media_type"),
    "a form": (b"bio=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    "a JSON array": (b"[]", "application/json", 400, "validation_failed"),
    "a JSON string": (b'"bio"', "application/json", 400, "validation_failed"),
    "null": (b"null", "application/json", 400, "validation_failed"),
}
# IDs that are not IDs: refused as input.
NOT_IDS = ["0", "-1", str(2**63), "abc", "1.5", "0x10", "1e3", "9" * 1000]
# IDs that are well-formed but name nobody the deployment holds.
NOBODYS_IDS = {
    "beyond the logical shards": (1 << 23) | (8000 << 10),
    "the largest ID": 2**63 - 1,
    "nobody on a real shard": (1 << 23) | (5 << 10) | 7,
}
NOT_USERNAMES = ["a" * 31, "a%20b", "a%00b", "%C3%A9t%C3%A9", "a-b", "a" * 3000]
PAGE_ROUTES = [
    "/users/{user_id}/followers",
    "/users/{user_id}/following",
    "/me/follow-requests",
    "/users/{user_id}/media",
    "/media/{media_id}/likes",
    "/media/{media_id}/comments",
    "/activity",
]
TAG_ROUTES = ["/tags/{name}/media", "/tags/search"]
PLACE_ROUTE = "/media/search"
BAD_PAGE_QUERIES = {
    "count is letters": {"count": "abc"},
    "count is a fraction": {"count": "1.5"},
    "count is empty": {"count": ""},
    "count is given twice": {"count": ["1", "2"]},
    "count is huge": {"count": str(2**70)},
    "cursor has no ID": {"cursor": "1712345678901234"},
    "cursor has letters": {"cursor": "abc_def"},
    "cursor has a NUL": {"cursor": "1_1\x00"},
    "cursor is given twice": {"cursor": ["1_1", "2_2"]},
    "an unknown parameter": {"page": "2"},
}
# GET /explore's cursor is a score (a double, 16 hex digits) and an ID.
BAD_EXPLORE_QUERIES = {
    **BAD_PAGE_QUERIES,
    "cursor of another list": {"cursor": "17123456789012345_1"},
    "cursor in capitals": {"cursor": "3FF0000000000000_1"},
    "cursor of 15 hex digits": {"cursor": "3ff000000000000_1"},
    "cursor with an ID of 20 digits": {"cursor": "3ff0000000000000_" + "9" * 20},
    "count over the maximum": {"count": str(LIMITS.max_page_size + 1)},
}
# GET /users/search: q is 1-30 characters of the username alphabet, an '@' first allowed;
# its cursor is a folded username.
BAD_SEARCH_QUERIES = {
    "no q": {},
    "an empty q": {"q": ""},
    "only an at sign": {"q": "@"},
    "q of 31 characters": {"q": "a" * 31},
    "q of 3000 characters": {"q": "a" * 3000},
    "q with a hyphen": {"q": "a-b"},
    "q with a space": {"q": "a b"},
    "q with a letter outside ASCII": {"q": "\u00e9t\u00e9"},
    "q with a NUL": {"q": "a\x00"},
    "q with two at signs": {"q": "@@a"},
    "q with a wildcard": {"q": "a*"},
    "q given twice": {"q": ["a", "b"]},
    "count is zero": {"q": "a", "count": "0"},
    "count over the maximum": {"q": "a", "count": str(LIMITS.max_page_size + 1)},
    "count is letters": {"q": "a", "count": "abc"},
    "count is given twice": {"q": "a", "count": ["1", "2"]},
    "cursor in capitals": {"q": "a", "cursor": "ABC"},
    "cursor of 31 characters": {"q": "a", "cursor": "a" * 31},
    "cursor with a hyphen": {"q": "a", "cursor": "a-b"},
    "cursor is empty": {"q": "a", "cursor": ""},
    "an unknown parameter": {"q": "a", "page": "2"},
}


def _operations(where: Callable) -> list[tuple[str, str]]:
    return sorted((op.method, op.path) for op in api.operations if where(op))


BODY_ROUTES = _operations(lambda op: op.body_model is not None)
USER_ID_ROUTES = _operations(lambda op: "{user_id}" in op.path)
MEDIA_ID_ROUTES = _operations(lambda op: "{media_id}" in op.path)
ALL_ROUTES = _operations(lambda op: True)
PUBLIC_ROUTES = _operations(lambda op: op.public)


def _route_id(route: tuple[str, str]) -> str:
    return " ".join(route)


@pytest.fixture(scope="module")
def member(sign_up):
    """Who sends most bad input: they have no media, likes or comments, and keep none."""
    return sign_up()


PLACE = {"latitude": 1.5, "longitude": 2.5, "place_name": "kept"}


@pytest.fixture(scope="module")
def poster(sign_up):
    """A public account with a media (see `photo`)."""
    return sign_up()


@pytest.fixture(scope="module")
def photo(poster) -> dict:
    """A ready media of the poster's that refused input must leave as it is (no likes,
    no comments, the caption's tags)."""
    return a_ready_media(poster, caption="#kept caption", alt_text="kept", location=PLACE)


def _url(route: tuple[str, str], user_id: object = 1, media_id: object = 1) -> str:
    return route[1].format(
        user_id=user_id,
        username="someone",
        media_id=media_id,
        comment_id=1,
        name="tag",
        device_id=1,
    )


def test_the_tables_know_every_route_that_takes_a_body_or_a_page():
    assert BODY_ROUTES == [
        ("PATCH", "/media/{media_id}"),
        ("PATCH", "/users/me"),
        ("PATCH", "/users/me/notifications"),
        ("POST", "/accounts"),
        ("POST", "/devices"),
        ("POST", "/media/uploads"),
        ("POST", "/media/{media_id}/comments"),
        ("POST", "/sessions"),
    ]
    assert sorted(
        [*PAGE_ROUTES, "/feed", "/users/search", *TAG_ROUTES, PLACE_ROUTE, "/explore"]
    ) == sorted(
        op.path for op in api.operations if op.query_model is not None
    )  # /feed, tag pages and place search go by max_id: tests/feed/test_feed_reads.py,
    # tests/tags/test_tags.py and tests/places/test_places.py refuse their bad queries;
    # bad tags and places are refused below


# Bodies that cannot be read


def _send(http, member, url: str, route: tuple[str, str], data: bytes, content_type: str | None):
    headers = {"Content-Type": content_type} if content_type else {}
    if route not in PUBLIC_ROUTES:
        headers |= member.headers
    return http.request(route[0], url, data=data, headers=headers)


@pytest.mark.parametrize("route", BODY_ROUTES, ids=_route_id)
@pytest.mark.parametrize("case", list(UNPARSEABLE_BODIES))
def test_a_body_that_cannot_be_read_is_refused(http, member, photo, route, case):
    data, content_type, status, code = UNPARSEABLE_BODIES[case]
    url = _url(route, media_id=photo["id"])

    refused(_send(http, member, url, route, data, content_type), status, code)


# Sign-up


def _new_names() -> tuple[str, str]:
    name = f"bad_{uuid.uuid4().hex[:16]}"
    return name, f"{name}@example.com"


def _claimed(clients, settings, kind: str, name: str) -> bool:
    item = clients.dynamodb.get_item(
        TableName=settings.name_claims_table,
        Key={"pk": {"S": f"{kind}#{name.lower()}"}},
        ConsistentRead=True,
    )
    return "Item" in item


def _users_named(clients, settings, username: str, email: str) -> list[int]:
    """IDs of users, on any shard, with this username or e-mail address."""
    rows = clients.router.query_shards(
        range(settings.logical_shards),
        lambda shard, s: (
            sql.SQL(
                "SELECT id FROM {}.users WHERE lower(username) = lower(%s) "
                "OR lower(email) = lower(%s)"
            ).format(s),
            [username, email],
        ),
    )
    return [row[0] for row in rows]


def assert_nothing_written(clients, settings, username: str, email: str) -> None:
    assert _users_named(clients, settings, username, email) == []
    assert not _claimed(clients, settings, "username", username)
    assert not _claimed(clients, settings, "email", email)


# Each case: what to change in a valid sign-up body made of fresh names.
BAD_SIGN_UPS: dict[str, Callable[[dict], dict]] = {
    "an unknown field": lambda body: body | {"is_admin": True},
    "no password": lambda body: {k: v for k, v in body.items() if k != "password"},
    "a numeric username": lambda body: body | {"username": 12345},
    "an e-mail address in a list": lambda body: body | {"email": [body["email"]]},
    "a numeric password": lambda body: body | {"password": 1234567890},
    "a null password": lambda body: body | {"password": None},
    "a username of 31 characters": lambda body: body | {"username": body["username"] + "x" * 11},
    "a username with a space": lambda body: body | {"username": "a " + body["username"][:20]},
    "a username with a NUL": lambda body: body | {"username": body["username"] + "\x00"},
    "a username with non-ASCII letters": lambda body: body | {"username": "é" + body["username"]},
    "an e-mail address of 255 characters": lambda body: (
        body | {"email": "a" * 64 + "@" + ("b" * 60 + ".") * 3 + "c" * 7}
    ),
    "an e-mail address with a NUL": lambda body: body | {"email": "a\x00" + body["email"]},
    "an e-mail address with a newline": lambda body: body | {"email": body["email"] + "\n"},
    "not an e-mail address": lambda body: body | {"email": body["username"]},
    "a password of 7 characters": lambda body: body | {"password": "1234567"},
    "a password of 1025 characters": lambda body: body | {"password": "p" * 1025},
    "a password with a NUL": lambda body: body | {"password": "pass\x00word-long-enough"},
    "a password with a lone surrogate": lambda body: body | {"password": "pass\ud800word-long"},
}


@pytest.mark.parametrize("case", list(BAD_SIGN_UPS))
def test_a_refused_sign_up_leaves_no_user_and_no_claim(http, clients, settings, case):
    username, email = _new_names()
    body = BAD_SIGN_UPS[case]({"username": username, "email": email, "password": "a-password"})

    refused(http.post("/accounts", json=body), 400, "validation_failed")

    assert_nothing_written(clients, settings, username, email)


@pytest.mark.parametrize("taken", ["username", "email"])
def test_a_sign_up_with_a_taken_name_leaves_no_user_and_no_claim(
    http, clients, settings, member, taken
):
    # GIVEN a sign-up whose one name is the member's (in other case), the other new
    username, email = _new_names()
    if taken == "username":
        body = {"username": member.username.upper(), "email": email}
    else:
        body = {"username": username, "email": member.email.upper()}

    refused(http.post("/accounts", json=body | {"password": "a-password"}), 409, "conflict")

    # THEN the new name is left unclaimed, and no second user was written
    if taken == "username":
        assert not _claimed(clients, settings, "email", email)
    else:
        assert not _claimed(clients, settings, "username", username)
    assert _users_named(clients, settings, member.username, member.email) == [member.id]
    assert _users_named(clients, settings, username, email) == []


@pytest.mark.parametrize("route", BODY_ROUTES, ids=_route_id)
def test_an_unknown_query_parameter_refuses_a_body_route_before_it_acts(
    http, clients, settings, member, poster, photo, route
):
    username, email = _new_names()
    body = {
        ("POST", "/accounts"): {"username": username, "email": email, "password": "a-password"},
        ("POST", "/sessions"): {"login": username},  # never a whole log-in
        ("PATCH", "/users/me"): {"bio": "changed"},
        ("POST", "/media/uploads"): upload_body(caption="changed"),
        ("PATCH", "/media/{media_id}"): {"caption": "changed"},
        ("POST", "/media/{media_id}/comments"): {"body": "changed"},
        ("POST", "/devices"): {"platform": "apns", "token": "ab" * 32},
        ("PATCH", "/users/me/notifications"): {"muted": ["like"]},
    }[route]
    # The media's owner edits it: refused only for the parameter.
    caller = poster if route == ("PATCH", "/media/{media_id}") else member
    before = member.get("/users/me").json(), poster.get(f"/media/{photo['id']}").json()
    written = media_writes(clients, settings, member, photo)

    response = http.request(
        route[0],
        _url(route, media_id=photo["id"]),
        params={"debug": "1"},
        json=body,
        headers=caller.headers,
    )

    refused(response, 400, "validation_failed")
    assert_nothing_written(clients, settings, username, email)
    assert (member.get("/users/me").json(), poster.get(f"/media/{photo['id']}").json()) == before
    assert media_writes(clients, settings, member, photo) == written
    assert member.get("/users/me/notifications").json() == {"muted": []}
    assert _devices_of(clients, member.id) == []


def _devices_of(clients, user_id: int) -> list[int]:
    return [
        d.id for d in clients.router.run_for_id(user_id, lambda c, s: devices_of(c, s, user_id))
    ]


# Log-in (every body here is refused before any password is checked)

BAD_LOG_INS = {
    "an unknown field": {"login": "someone", "password": "a-password", "remember": True},
    "no password": {"login": "someone"},
    "no login": {"password": "a-password"},
    "a numeric login": {"login": 5, "password": "a-password"},
    "a boolean password": {"login": "someone", "password": True},
    "an empty login": {"login": "", "password": "a-password"},
    "an empty password": {"login": "someone", "password": ""},
    "a login of 255 characters": {"login": "l" * 255, "password": "a-password"},
    "a password of 1025 characters": {"login": "someone", "password": "p" * 1025},
    "a login with a NUL": {"login": "some\x00one", "password": "a-password"},
    "a login with an escape": {"login": "some\x1bone", "password": "a-password"},
    "a login with a lone surrogate": {"login": "some\ud800one", "password": "a-password"},
}


@pytest.mark.parametrize("case", list(BAD_LOG_INS))
def test_a_malformed_log_in_is_refused(http, case):
    refused(http.post("/sessions", json=BAD_LOG_INS[case]), 400, "validation_failed")


# Profile edits

BAD_PATCHES = {
    "an unknown field": {"nickname": "x"},
    "privacy as a string": {"is_private": "false"},
    "privacy as a number": {"is_private": 1},
    "privacy as null": {"is_private": None},
    "a numeric full name": {"full_name": 5},
    "a null full name": {"full_name": None},
    "a full name in a list": {"full_name": ["x"]},
    "a bio as an object": {"bio": {}},
    "a full name of 65 characters": {"full_name": "f" * 65},
    "a bio of 151 characters": {"bio": "b" * 151},
    "a full name with a NUL": {"full_name": "Ada\x00"},
    "a bio with a NUL": {"bio": "\x00"},
    "a bio with an escape": {"bio": "\x1b[31mred"},
    "a bio with a DEL": {"bio": "\x7f"},
    "a full name with a lone surrogate": {"full_name": "\ud800"},
    "a good field beside a bad one": {"bio": "fine", "full_name": "f" * 65},
}


@pytest.mark.parametrize("case", list(BAD_PATCHES))
def test_a_refused_profile_edit_leaves_the_profile_as_it_was(member, clients, case):
    before = member.get("/users/me").json()
    written_at = _updated_at(clients, member.id)

    refused(member.patch("/users/me", json=BAD_PATCHES[case]), 400, "validation_failed")

    assert member.get("/users/me").json() == before
    assert _updated_at(clients, member.id) == written_at


def _updated_at(clients, user_id: int):
    def read(conn, s):
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("SELECT updated_at FROM {}.users WHERE id = %s").format(s), [user_id]
            )
            return cursor.fetchone()[0]

    return clients.router.run_for_id(user_id, read)


def test_the_longest_allowed_profile_fields_are_accepted(sign_up):
    editor = sign_up()
    edit = {"full_name": "f" * 64, "bio": "line one\n\tline two" + "b" * 132}

    response = editor.patch("/users/me", json=edit)

    assert response.status_code == 200, response.text
    assert {key: response.json()[key] for key in edit} == edit


# IDs and usernames in paths


@pytest.mark.parametrize("route", USER_ID_ROUTES, ids=_route_id)
@pytest.mark.parametrize("user_id", NOT_IDS, ids=lambda value: value[:12])
def test_a_user_id_that_is_not_an_id_is_refused(member, route, user_id):
    response = member.http.request(route[0], _url(route, user_id), headers=member.headers)

    refused(response, 400, "validation_failed")


def _outgoing_rows(clients, user_id: int) -> int:
    """The user's follows and blocks, on their shard."""

    def count(conn, s) -> int:
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL(
                    "SELECT (SELECT count(*) FROM {s}.follows WHERE source_id = %(u)s) "
                    "+ (SELECT count(*) FROM {s}.blocks WHERE source_id = %(u)s)"
                ).format(s=s),
                {"u": user_id},
            )
            return cursor.fetchone()[0]

    return clients.router.run_for_id(user_id, count)


@pytest.mark.parametrize("route", USER_ID_ROUTES, ids=_route_id)
@pytest.mark.parametrize("nobody", list(NOBODYS_IDS))
def test_a_user_id_naming_nobody_is_not_found_and_changes_nothing(member, clients, route, nobody):
    response = member.http.request(
        route[0], _url(route, NOBODYS_IDS[nobody]), headers=member.headers
    )

    if route == ("POST", "/me/follow-requests/{user_id}/deny"):
        assert response.status_code == 204, response.text  # nothing to deny: the same end
    else:
        refused(response, 404, "not_found")
    assert _outgoing_rows(clients, member.id) == 0


@pytest.mark.parametrize("username", NOT_USERNAMES, ids=lambda value: value[:12])
def test_a_username_that_cannot_be_one_is_refused(member, username):
    refused(member.get(f"/users/by-username/{username}"), 400, "validation_failed")


def test_a_username_nobody_holds_is_not_found(member):
    refused(member.get(f"/users/by-username/{_new_names()[0]}"), 404, "not_found")


# Query parameters


@pytest.mark.parametrize("route", ALL_ROUTES, ids=_route_id)
def test_an_unknown_query_parameter_is_refused_on_every_route(http, member, photo, route):
    url = route[1].format(
        user_id=member.id,
        username=member.username,
        media_id=photo["id"],
        comment_id=1,
        name="kept",
        device_id=1,
    )
    needed = {"/tags/search": {"q": "kept"}, PLACE_ROUTE: {"lat": "1", "lng": "2"}}
    params = {"unexpected": "1", **needed.get(route[1], {})}

    response = http.request(route[0], url, params=params, headers=member.headers)

    refused(response, 400, "validation_failed")


# Places: a point off the globe, a radius past the limit (tests/places has more).
BAD_PLACES = {
    "latitude past the pole": {"lat": "90.0001", "lng": "0"},
    "longitude past the antimeridian": {"lat": "0", "lng": "-180.5"},
    "latitude not a number": {"lat": "NaN", "lng": "0"},
    "longitude infinite": {"lat": "0", "lng": "Infinity"},
    "no latitude": {"lng": "0"},
    "no longitude": {"lat": "0"},
    "distance over 5 km": {"lat": "0", "lng": "0", "distance": "5000.5"},
    "distance zero": {"lat": "0", "lng": "0", "distance": "0"},
    "window over 7 days": {"lat": "0", "lng": "0", "days": "8"},
    "count too large": {"lat": "0", "lng": "0", "count": "51"},
    "max_id not an ID": {"lat": "0", "lng": "0", "max_id": "abc"},
}


@pytest.mark.parametrize("case", list(BAD_PLACES))
def test_a_place_search_off_the_globe_or_too_wide_is_refused(member, case):
    refused(member.get(PLACE_ROUTE, params=BAD_PLACES[case]), 400, "validation_failed")


# Tags: empty, overlong, or not one tag (tests/tags/test_tags.py has more).
NOT_TAGS = {
    "empty": "",
    "only a #": "#",
    "only underscores": "__",
    "a hyphen": "a-b",
    "a NUL": "a\x00b",
    "too long": "a" * 101,
    "far too long": "a" * 3000,
}


@pytest.mark.parametrize("case", list(NOT_TAGS))
def test_a_search_for_what_is_no_tag_is_refused(member, case):
    refused(member.get("/tags/search", params={"q": NOT_TAGS[case]}), 400, "validation_failed")


@pytest.mark.parametrize("case", [case for case in NOT_TAGS if NOT_TAGS[case]])
def test_a_tag_page_of_what_is_no_tag_is_refused(member, case):
    name = quote(NOT_TAGS[case], safe="")
    refused(member.get(f"/tags/{name}/media"), 400, "validation_failed")


@pytest.mark.parametrize("path", PAGE_ROUTES)
@pytest.mark.parametrize("case", list(BAD_PAGE_QUERIES))
def test_a_bad_page_query_is_refused(member, photo, path, case):
    url = path.format(user_id=member.id, media_id=photo["id"])

    refused(member.get(url, params=BAD_PAGE_QUERIES[case]), 400, "validation_failed")


@pytest.mark.parametrize("path", PAGE_ROUTES)
@pytest.mark.parametrize("cursor", ["0_0", "1_1", "99999999999999999_9999999999999999999"])
def test_a_made_up_but_well_formed_cursor_gives_a_page(member, photo, path, cursor):
    url = path.format(user_id=member.id, media_id=photo["id"])

    response = member.get(url, params={"cursor": cursor, "count": 50})

    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("case", list(BAD_EXPLORE_QUERIES))
def test_a_bad_explore_query_is_refused(member, case):
    refused(member.get("/explore", params=BAD_EXPLORE_QUERIES[case]), 400, "validation_failed")


@pytest.mark.parametrize(
    "cursor",
    ["0000000000000000_0", "7ff8000000000000_1", "fff0000000000000_0", "7ff0000000000000_1"],
)
def test_a_made_up_but_well_formed_explore_cursor_gives_a_page(member, cursor):
    """Any score (NaN and infinities too) names a place in the ranking."""
    response = member.get("/explore", params={"cursor": cursor, "count": 50})

    assert response.status_code == 200, response.text
    assert set(response.json()) == {"items", "next_cursor", "partial"}


@pytest.mark.parametrize("case", list(BAD_SEARCH_QUERIES))
def test_a_bad_search_is_refused(member, case):
    response = member.get("/users/search", params=BAD_SEARCH_QUERIES[case])

    refused(response, 400, "validation_failed")


# Media: what refused media input must leave as it was


def media_writes(clients, settings, member, photo: dict) -> dict:
    """What refused media input must not change: the member's media, likes and comments
    (on any shard), the photo's counters, likes, comments and tags."""
    return {
        "media": media_rows(clients, member.id),
        "written": written_by(clients, settings, member.id),
        "counted": counted(clients, photo["id"]),
        "tags": hashtags(clients, photo["id"]),
    }


# Uploads. Each case: what to change in a valid upload body.
TOO_LONG = {
    "caption": LIMITS.max_caption_chars + 1,
    "alt_text": LIMITS.max_alt_text_chars + 1,
    "place_name": MAX_PLACE_NAME_CHARS + 1,
}


def _at(location: object) -> Callable[[dict], dict]:
    return lambda body: body | {"location": location}


def _without(field: str) -> Callable[[dict], dict]:
    return lambda body: {k: v for k, v in body.items() if k != field}


BAD_LOCATIONS: dict[str, dict] = {
    "latitude 91": {"latitude": 91, "longitude": 0},
    "latitude -90.5": {"latitude": -90.5, "longitude": 0},
    "longitude 181": {"latitude": 0, "longitude": 181},
    "longitude -180.01": {"latitude": 0, "longitude": -180.01},
    "latitude 'NaN'": {"latitude": "NaN", "longitude": 0},
    "longitude 'Infinity'": {"latitude": 0, "longitude": "Infinity"},
    "latitude '-inf'": {"latitude": "-inf", "longitude": 0},
    "latitude as a numeric string": {"latitude": "45", "longitude": 0},
    "latitude as a boolean": {"latitude": True, "longitude": 0},
    "latitude null": {"latitude": None, "longitude": 0},
    "no longitude": {"latitude": 0},
    "a place name too long": {
        "latitude": 0,
        "longitude": 0,
        "place_name": "p" * TOO_LONG["place_name"],
    },
    "a place name with a NUL": {"latitude": 0, "longitude": 0, "place_name": "Pa\x00ris"},
    "a place name with an escape": {"latitude": 0, "longitude": 0, "place_name": "\x1b[2J"},
    "an unknown location field": {"latitude": 0, "longitude": 0, "altitude": 30},
}
BAD_UPLOADS: dict[str, Callable[[dict], dict]] = {
    "an unknown field": lambda body: body | {"status": "ready"},
    "an owner named": lambda body: body | {"owner_id": "1"},
    "no content type": _without("content_type"),
    "a GIF": lambda body: body | {"content_type": "image/gif"},
    "image/jpg, which is no type": lambda body: body | {"content_type": "image/jpg"},
    "a type that is not an image": lambda body: body | {"content_type": "text/html"},
    "a numeric content type": lambda body: body | {"content_type": 5},
    "no byte size": _without("byte_size"),
    "a byte size of 0": lambda body: body | {"byte_size": 0},
    "a negative byte size": lambda body: body | {"byte_size": -1},
    "a byte size above the limit": lambda body: body | {"byte_size": LIMITS.max_upload_bytes + 1},
    "a byte size of 2**70": lambda body: body | {"byte_size": 2**70},
    "a fractional byte size": lambda body: body | {"byte_size": 1.5},
    "a byte size in a string": lambda body: body | {"byte_size": "100"},
    "a boolean byte size": lambda body: body | {"byte_size": True},
    "a null byte size": lambda body: body | {"byte_size": None},
    "a caption too long": lambda body: body | {"caption": "c" * TOO_LONG["caption"]},
    "an alt text too long": lambda body: body | {"alt_text": "a" * TOO_LONG["alt_text"]},
    "a caption with a NUL": lambda body: body | {"caption": "nice\x00 #tag"},
    "a caption with an escape": lambda body: body | {"caption": "\x1b[31mred"},
    "an alt text with a NUL": lambda body: body | {"alt_text": "\x00"},
    "an alt text with a DEL": lambda body: body | {"alt_text": "a\x7f"},
    "a null caption": lambda body: body | {"caption": None},
    "a numeric caption": lambda body: body | {"caption": 5},
    "a location as a string": _at("Paris"),
    **{f"a location with {case}": _at(location) for case, location in BAD_LOCATIONS.items()},
}


@pytest.fixture(scope="module")
def uploader(sign_up):
    """Who sends refused uploads."""
    return sign_up()


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_a_refused_upload_leaves_no_media(clients, uploader, case):
    body = BAD_UPLOADS[case](upload_body(caption="#never"))
    before = media_rows(clients, uploader.id)

    refused(uploader.post("/media/uploads", json=body), 400, "validation_failed")

    assert media_rows(clients, uploader.id) == before


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_location_with_a_bare_non_finite_number_is_malformed_json(clients, uploader, constant):
    before = media_rows(clients, uploader.id)
    data = (
        b'{"content_type": "image/jpeg", "byte_size": 10, '
        b'"location": {"latitude": ' + constant + b', "longitude": 0}}'
    )

    route = ("POST", "/media/uploads")

    response = _send(uploader.http, uploader, route[1], route, data, "application/json")

    refused(response, 400, "malformed_json")
    assert media_rows(clients, uploader.id) == before


def test_the_largest_allowed_upload_fields_are_accepted(sign_up):
    longest = {
        "caption": "c" * LIMITS.max_caption_chars,
        "alt_text": "line one\n\tline two" + "a" * (LIMITS.max_alt_text_chars - 18),
        "location": {"latitude": -90, "longitude": 180, "place_name": "p" * MAX_PLACE_NAME_CHARS},
    }
    body = upload_body(**longest) | {"byte_size": LIMITS.max_upload_bytes}

    response = sign_up().post("/media/uploads", json=body)

    assert response.status_code == 201, response.text
    assert {key: response.json()["media"][key] for key in longest} == longest


# Media edits. Each case: a body the media's owner sends.
BAD_MEDIA_EDITS: dict[str, dict] = {
    "an unknown field": {"status": "deleted"},
    "a counter": {"like_count": 1000},
    "an owner": {"owner": {"id": "1"}},
    "a null caption": {"caption": None},
    "a null alt text": {"alt_text": None},
    "a caption too long": {"caption": "c" * TOO_LONG["caption"]},
    "an alt text too long": {"alt_text": "a" * TOO_LONG["alt_text"]},
    "a caption with a NUL": {"caption": "#new\x00"},
    "an alt text with an escape": {"alt_text": "\x1b[31m"},
    "a location as a list": {"location": [1, 2]},
    **{
        f"a location with {case}": {"location": location}
        for case, location in BAD_LOCATIONS.items()
    },
    "a good field beside a bad one": {"caption": "#new", "alt_text": "a" * TOO_LONG["alt_text"]},
}


@pytest.mark.parametrize("case", list(BAD_MEDIA_EDITS))
def test_a_refused_media_edit_leaves_the_media_as_it_was(
    clients, settings, member, poster, photo, case
):
    before = poster.get(f"/media/{photo['id']}").json()
    written_at = _media_updated_at(clients, photo["id"])
    written = media_writes(clients, settings, poster, photo)

    response = poster.patch(f"/media/{photo['id']}", json=BAD_MEDIA_EDITS[case])

    refused(response, 400, "validation_failed")
    assert poster.get(f"/media/{photo['id']}").json() == before
    assert _media_updated_at(clients, photo["id"]) == written_at
    assert media_writes(clients, settings, poster, photo) == written


def _media_updated_at(clients, media_id: str):
    def read(conn, s):
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("SELECT updated_at FROM {}.media WHERE id = %s").format(s), [int(media_id)]
            )
            return cursor.fetchone()[0]

    return clients.router.run_for_id(int(media_id), read)


# Comments. Each case: the body of a comment the member sends on the photo.
BAD_COMMENTS: dict[str, object] = {
    "an empty body": {"body": ""},
    "a body of only whitespace": {"body": " \n\t "},
    "a body too long": {"body": "b" * (LIMITS.max_comment_chars + 1)},
    "a body with a NUL": {"body": "hi\x00"},
    "a body with an escape": {"body": "\x1b[2J"},
    "a body with a lone surrogate": {"body": "\ud800"},
    "a null body": {"body": None},
    "a numeric body": {"body": 5},
    "a body in a list": {"body": ["hi"]},
    "no body": {},
    "an unknown field": {"body": "hi", "reply_to": "1"},
}


@pytest.mark.parametrize("case", list(BAD_COMMENTS))
def test_a_refused_comment_leaves_no_comment(clients, settings, member, photo, case):
    written = media_writes(clients, settings, member, photo)

    response = member.post(f"/media/{photo['id']}/comments", json=BAD_COMMENTS[case])

    if response.status_code == 201:  # taken by mistake: other tests read the photo's lists
        member.delete(f"/media/{photo['id']}/comments/{response.json()['id']}")
    refused(response, 400, "validation_failed")
    assert media_writes(clients, settings, member, photo) == written


def test_the_longest_allowed_comment_is_accepted(sign_up, photo):
    body = "line one\n\tline two" + "b" * (LIMITS.max_comment_chars - 18)
    author = sign_up()

    response = author.post(f"/media/{photo['id']}/comments", json={"body": body})

    assert response.status_code == 201, response.text
    assert response.json()["body"] == body
    # The photo keeps no comment (other tests read its empty lists).
    gone = author.delete(f"/media/{photo['id']}/comments/{response.json()['id']}")
    assert gone.status_code == 204


# Media and comment IDs in paths


def _body_for(route: tuple[str, str]) -> dict | None:
    """A valid body for the route: a bad ID, not the body, is what is refused."""
    return {
        ("PATCH", "/media/{media_id}"): {"caption": "changed"},
        ("POST", "/media/{media_id}/comments"): {"body": "hello"},
    }.get(route)


@pytest.mark.parametrize("route", MEDIA_ID_ROUTES, ids=_route_id)
@pytest.mark.parametrize("media_id", NOT_IDS, ids=lambda value: value[:12])
def test_a_media_id_that_is_not_an_id_is_refused(member, route, media_id):
    response = member.http.request(
        route[0], _url(route, media_id=media_id), headers=member.headers, json=_body_for(route)
    )

    refused(response, 400, "validation_failed")


@pytest.mark.parametrize("route", MEDIA_ID_ROUTES, ids=_route_id)
@pytest.mark.parametrize("nobody", list(NOBODYS_IDS))
def test_a_media_id_naming_no_media_is_not_found_and_writes_nothing(
    clients, settings, member, photo, route, nobody
):
    url = _url(route, media_id=NOBODYS_IDS[nobody])
    written = media_writes(clients, settings, member, photo)

    response = member.http.request(route[0], url, headers=member.headers, json=_body_for(route))

    refused(response, 404, "not_found")
    assert media_writes(clients, settings, member, photo) == written


@pytest.mark.parametrize("device_id", NOT_IDS, ids=lambda value: value[:12])
def test_a_device_id_that_is_not_an_id_is_refused(member, device_id):
    refused(member.delete(f"/devices/{device_id}"), 400, "validation_failed")


@pytest.mark.parametrize("nobody", list(NOBODYS_IDS))
def test_a_device_id_naming_no_device_is_not_found(member, nobody):
    refused(member.delete(f"/devices/{NOBODYS_IDS[nobody]}"), 404, "not_found")


@pytest.mark.parametrize("comment_id", NOT_IDS, ids=lambda value: value[:12])
def test_a_comment_id_that_is_not_an_id_is_refused(poster, photo, comment_id):
    refused(poster.delete(f"/media/{photo['id']}/comments/{comment_id}"), 400, "validation_failed")


@pytest.mark.parametrize("nobody", list(NOBODYS_IDS))
def test_a_comment_id_naming_no_comment_is_not_found(poster, photo, nobody):
    response = poster.delete(f"/media/{photo['id']}/comments/{NOBODYS_IDS[nobody]}")

    refused(response, 404, "not_found")
