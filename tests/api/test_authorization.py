"""Who may do what: every protected route, called by each role an account's world holds,
answers exactly the role's status, and its 2xx answers show nothing the caller may not see.

An owner (private, and separately public) and, towards them: a stranger, an approved
follower (whom the owner follows back), a pending requester (private owners only: going
public approves every request), a user the owner blocked, a user who blocked the owner,
and the owner themselves. Each role acts on the owner (or, for approving and denying, on
the owner's requester; for media routes, on the owner's media). Routes that change the
graph get a world of their own; within a world each role changes only its own relation
to the owner, so calls do not interfere. Each media route has a media of its own.
Nothing any answer carries to a role that may not see the owner's media mentions it.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import requests

from app import api
from tests.media.helpers import (
    COMMENT_KEYS,
    MEDIA_KEYS,
    a_failed_media,
    a_pending_media,
    ids,
    upload_all,
    upload_body,
)
from tests.places.helpers import at

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
    """An owner and the members standing towards them in each role; in shared worlds,
    the owner's media, by what they are for (see stock_media)."""

    private: bool
    people: dict[str, object]
    media: dict[str, str] = field(default_factory=dict)
    # In every caption and comment of the world: what must never reach a caller who
    # may not see the owner's media.
    secret: str = field(default_factory=lambda: f"secret-{uuid.uuid4().hex}")
    # The owner's device, registered by the first call naming it (see _the_owners_device).
    device: str | None = None

    @property
    def owner(self):
        return self.people["owner"]

    @property
    def tag(self) -> str:
        """The tag of the owner's "read" media (a tag holds no '-': the secret's hex)."""
        return "t" + self.secret.removeprefix("secret-")

    @property
    def spot(self) -> tuple[float, float]:
        """Where the owner's "read" media was taken: a point of its own, from the secret."""
        number = int(self.secret.removeprefix("secret-"), 16)
        return (number % 120_000) / 1000 - 60, (number // 120_000 % 340_000) / 1000 - 170

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


def finds_the_owner_unless_a_block_stands_between(world: World, role: str, response) -> None:
    """Search finds a private owner as a public one; a block, either way, hides them."""
    found = [] if role in ("blocked", "blocker") else [world.owner]
    lists_only(lambda _: found)(world, role, response)


def lists_the_callers_own_requests(world: World, role: str, response) -> None:
    asked = [world.people["requester"]] if world.private and role == "owner" else []
    lists_only(lambda _: asked)(world, role, response)


def feeds_only_what_the_caller_may_see(world: World, role: str, response) -> None:
    """A feed holds the caller's own media and their followees': the owner's media reach
    only the owner and approved followers (never a secret of theirs to anyone else)."""
    body = response.json()
    assert set(body) == {"items", "next_max_id", "partial"}
    owners = {item["owner"]["id"] for item in body["items"]}
    if role not in ("owner", "follower"):
        assert str(world.owner.id) not in owners
        assert world.secret not in response.text


def shows_only_the_callers_activity(world: World, role: str, response) -> None:
    """Activity is the caller's own: never an entry from across a block, never a secret."""
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    actors = {item["actor"]["id"] for item in body["items"]}
    if role in ("blocked", "blocker"):
        assert str(world.owner.id) not in actors
    assert world.secret not in response.text


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


# The owner's media (shared worlds only): one for each media route, so that routes do
# not interfere, and one pending and one failed, which nobody but the owner may see.
MEDIA_FOR = (
    "read",
    "edit",
    "delete",
    "like",
    "unlike",
    "likers",
    "comment",
    "comments",
    "uncomment",
)
# Who may see the owner's media (a block hides it; a private account's is for followers).
SEES_MEDIA = {"private": {"follower", "owner"}, "public": {"stranger", "follower", "owner"}}


def _may_see_media(world: World, role: str) -> bool:
    return role in SEES_MEDIA["private" if world.private else "public"]


def stock_media(world: World) -> World:
    """Upload the owner's media; like and comment on them as the media routes' checks
    expect (the follower first, then the owner)."""
    owner, follower = world.owner, world.people["follower"]
    made = upload_all(
        [
            (
                owner,
                {
                    "caption": f"{name} {world.secret}" + _tagged(world, name),
                    **_placed(world, name),
                },
            )
            for name in MEDIA_FOR
        ]
    )
    assert [m["status"] for m in made] == ["ready"] * len(MEDIA_FOR), made
    world.media = dict(zip(MEDIA_FOR, ids(made), strict=True))
    world.media["pending"] = a_pending_media(owner, caption=world.secret)["id"]
    world.media["failed"] = a_failed_media(owner, caption=world.secret)["id"]
    for name, likers in (("read", [follower]), ("unlike", [follower, owner])):
        for member in likers:
            _ok(member.post(f"/media/{world.media[name]}/like"))
    for role in ("follower", "owner"):
        member = world.people[role]
        _ok(member.post(f"/media/{world.media['likers']}/like"))
        body = {"body": f"{role} {world.secret}"}
        _ok(member.post(f"/media/{world.media['comments']}/comments", json=body), 201)
    _wait_until_placed(world)
    return world


def _placed(world: World, name: str) -> dict:
    return at(*world.spot) if name == "read" else {}


def _search_near(world: World) -> str:
    lat, lng = world.spot
    return f"/media/search?lat={lat}&lng={lng}&distance=100"


def _wait_until_placed(world: World) -> None:
    """Fan-out indexes places after the media is ready: the owner of a public world
    finds it once it has (nobody finds a private owner's, indexed or not)."""
    if world.private:
        return
    deadline = time.monotonic() + 10
    while ids(world.owner.get(_search_near(world)).json()["items"]) != [world.media["read"]]:
        assert time.monotonic() < deadline, "the read media never reached the place index"
        time.sleep(0.1)


def places_only_public_media_without_a_block(world: World, role: str, response) -> None:
    body = response.json()
    shown = [world.media["read"]] if not world.private and _may_see_media(world, role) else []
    assert body == {"items": body["items"], "next_max_id": None, "partial": False}
    assert ids(body["items"]) == shown


def _tagged(world: World, name: str) -> str:
    return f" #{world.tag}" if name == "read" else ""


def tags_only_what_the_caller_may_see(world: World, role: str, response) -> None:
    body = response.json()
    assert set(body) == {"tag", "items", "next_max_id", "partial"}
    shown = [world.media["read"]] if _may_see_media(world, role) else []
    assert (body["tag"], ids(body["items"]), body["next_max_id"]) == (world.tag, shown, None)


def explores_only_what_the_caller_may_see(world: World, role: str, response) -> None:
    """Explore shows the liked media of a public owner to those the owner does not block
    nor is blocked by, never to the owner; a private owner's to nobody. The ranking is
    shared by every world: the caller pages on until the media turns up."""
    body = response.json()
    assert set(body) == {"items", "next_cursor", "partial"}
    owner = str(world.owner.id)
    if world.private or role in ("blocked", "blocker", "owner"):
        assert owner not in {item["owner"]["id"] for item in body["items"]}
        assert world.secret not in response.text
        return
    member, seen = world.people[role], ids(body["items"])
    while world.media["read"] not in seen and body["next_cursor"]:
        body = member.get("/explore", params={"cursor": body["next_cursor"]}).json()
        seen += ids(body["items"])
    assert world.media["read"] in seen


def finds_the_tag_with_its_count(world: World, role: str, response) -> None:
    # Counts are of every ready media, whoever may see them (as Instagram's are).
    assert response.json() == {"items": [{"name": world.tag, "media_count": 1}]}


def _read(member, media_id: str) -> requests.Response:
    return member.get(f"/media/{media_id}")


def reserves_the_callers_own_upload(world: World, role: str, response) -> None:
    caller = world.people[role]
    body = response.json()
    media = body["media"]
    assert set(body) == {"media", "upload"}
    assert set(media) == MEDIA_KEYS
    assert media["owner"]["id"] == str(caller.id)
    assert (media["status"], media["failure_reason"]) == ("pending", None)
    assert media["caption"] == f"{role}'s upload"
    # A pending upload is its owner's alone.
    someone_else = world.people["follower" if role == "owner" else "owner"]
    assert _read(someone_else, media["id"]).status_code == 404


def shows_the_media(world: World, role: str, response) -> None:
    body = response.json()
    assert set(body) == MEDIA_KEYS
    assert body["id"] == world.media["read"]
    assert body["owner"]["id"] == str(world.owner.id)
    assert set(body["owner"]) == SUMMARY_KEYS
    assert (body["status"], body["failure_reason"]) == ("ready", None)
    assert (body["like_count"], body["liked"]) == (1, role == "follower")


def edits_the_owners_media(world: World, role: str, response) -> None:
    assert response.json()["caption"] == "owner was here"
    assert _read(world.people["follower"], world.media["edit"]).json()["caption"] == (
        "owner was here"
    )


def deletes_the_owners_media(world: World, role: str, response) -> None:
    assert response.content == b""
    assert _read(world.owner, world.media["delete"]).status_code == 404


def lists_the_owners_ready_media(world: World, role: str, response) -> None:
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    items = body["items"]
    ready = [world.media[name] for name in MEDIA_FOR]
    present = [m for m in ready if _read(world.owner, m).status_code == 200]
    assert ids(items) == sorted(present, key=int, reverse=True)
    assert all(set(item) == MEDIA_KEYS for item in items)
    assert {(item["status"], item["failure_reason"]) for item in items} == {("ready", None)}
    liked = {item["id"]: item["liked"] for item in items}
    assert liked[world.media["read"]] is (role == "follower")


def _liking(liked: bool, name: str) -> Callable:
    def check(world: World, role: str, response) -> None:
        seen_by_owner = _read(world.owner, world.media[name]).json()
        assert response.json() == {"liked": liked, "like_count": seen_by_owner["like_count"]}
        assert _read(world.people[role], world.media[name]).json()["liked"] is liked

    return check


def comments_as_the_caller(world: World, role: str, response) -> None:
    body = response.json()
    assert set(body) == COMMENT_KEYS
    assert body["media_id"] == world.media["comment"]
    assert body["author"]["id"] == str(world.people[role].id)
    assert set(body["author"]) == SUMMARY_KEYS
    assert body["body"] == f"{role} says hi"


def lists_the_comments(world: World, role: str, response) -> None:
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    assert all(set(item) == COMMENT_KEYS for item in body["items"])
    assert [(c["author"]["id"], c["body"]) for c in body["items"]] == [
        (str(world.owner.id), f"owner {world.secret}"),
        (str(world.people["follower"].id), f"follower {world.secret}"),
    ]


def deletes_the_comment(world: World, role: str, response) -> None:
    assert response.content == b""
    comment_id = response.request.url.rsplit("/", 1)[1]
    listed = world.owner.get(f"/media/{world.media['uncomment']}/comments", params={"count": 50})
    assert comment_id not in ids(listed.json()["items"])


def registers_the_callers_own_device(world: World, role: str, response) -> None:
    assert set(response.json()) == {"id", "platform", "created_at"}
    assert response.json()["platform"] == "apns"


def deletes_the_owners_device(world: World, role: str, response) -> None:
    assert response.content == b""
    _ok(world.owner.delete(f"/devices/{world.device}"), 404)


def shows_the_callers_muted_kinds(world: World, role: str, response) -> None:
    assert set(response.json()) == {"muted"}
    assert set(response.json()["muted"]) <= {"like", "comment", "follow", "follow_request"}


def mutes_only_for_the_caller(world: World, role: str, response) -> None:
    assert response.json() == {"muted": ["like"]}
    if role != "owner":  # the owner, last, has not muted anything yet
        assert world.owner.get("/users/me/notifications").json() == {"muted": []}


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


def _media(path: str, name: str) -> Callable[[World], str]:
    return lambda world: path.format(media=world.media[name])


def _the_owners_device(world: World) -> str:
    """The owner's device, registered at the first call (the owner, last, deletes it)."""
    if world.device is None:
        token = secrets.token_hex(32)
        made = world.owner.post("/devices", json={"platform": "apns", "token": token})
        _ok(made, 201)
        world.device = made.json()["id"]
    return f"/devices/{world.device}"


def _a_new_comment(world: World) -> str:
    """A comment by the follower, made for the one call that deletes it."""
    media_id = world.media["uncomment"]
    made = world.people["follower"].post(
        f"/media/{media_id}/comments", json={"body": f"to delete {world.secret}"}
    )
    _ok(made, 201)
    return f"/media/{media_id}/comments/{made.json()['id']}"


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
    ("GET", "/users/search"): Row(
        _owner("/users/search?q={name}"), finds_the_owner_unless_a_block_stands_between
    ),
    ("GET", "/feed"): Row(_me("/feed"), feeds_only_what_the_caller_may_see),
    ("GET", "/activity"): Row(_me("/activity"), shows_only_the_callers_activity),
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
    ("POST", "/media/uploads"): Row(
        _me("/media/uploads"),
        reserves_the_callers_own_upload,
        body=lambda role: upload_body(caption=f"{role}'s upload"),
    ),
    ("GET", "/media/{media_id}"): Row(_media("/media/{media}", "read"), shows_the_media),
    ("PATCH", "/media/{media_id}"): Row(
        _media("/media/{media}", "edit"),
        edits_the_owners_media,
        body=lambda role: {"caption": f"{role} was here"},
    ),
    ("DELETE", "/media/{media_id}"): Row(
        _media("/media/{media}", "delete"), deletes_the_owners_media
    ),
    ("GET", "/users/{user_id}/media"): Row(
        _owner("/users/{owner}/media"), lists_the_owners_ready_media
    ),
    ("POST", "/media/{media_id}/like"): Row(
        _media("/media/{media}/like", "like"), _liking(True, "like")
    ),
    ("DELETE", "/media/{media_id}/like"): Row(
        _media("/media/{media}/like", "unlike"), _liking(False, "unlike")
    ),
    ("GET", "/media/{media_id}/likes"): Row(
        _media("/media/{media}/likes", "likers"),
        lists_only(lambda world: [world.owner, world.people["follower"]]),
    ),
    ("POST", "/media/{media_id}/comments"): Row(
        _media("/media/{media}/comments", "comment"),
        comments_as_the_caller,
        body=lambda role: {"body": f"{role} says hi"},
    ),
    ("GET", "/media/{media_id}/comments"): Row(
        _media("/media/{media}/comments", "comments"), lists_the_comments
    ),
    ("DELETE", "/media/{media_id}/comments/{comment_id}"): Row(_a_new_comment, deletes_the_comment),
    ("GET", "/tags/{name}/media"): Row(
        lambda world: f"/tags/{world.tag}/media", tags_only_what_the_caller_may_see
    ),
    ("GET", "/tags/search"): Row(
        lambda world: f"/tags/search?q={world.tag}", finds_the_tag_with_its_count
    ),
    ("GET", "/media/search"): Row(_search_near, places_only_public_media_without_a_block),
    ("GET", "/explore"): Row(lambda world: "/explore", explores_only_what_the_caller_may_see),
    ("POST", "/devices"): Row(
        _me("/devices"),
        registers_the_callers_own_device,
        body=lambda role: {"platform": "apns", "token": secrets.token_hex(32)},
    ),
    ("DELETE", "/devices/{device_id}"): Row(_the_owners_device, deletes_the_owners_device),
    ("GET", "/users/me/notifications"): Row(
        _me("/users/me/notifications"), shows_the_callers_muted_kinds
    ),
    ("PATCH", "/users/me/notifications"): Row(
        _me("/users/me/notifications"),
        mutes_only_for_the_caller,
        body=lambda role: {"muted": ["like"]},
        mutates=True,
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
    ("GET", "/users/search"):                           "200    200    200    200    200    200",
    ("GET", "/feed"):                                   "200    200    200    200    200    200",
    ("GET", "/activity"):                               "200    200    200    200    200    200",
    ("POST", "/users/{user_id}/follow"):                "200    200    200    404    409    422",
    ("DELETE", "/users/{user_id}/follow"):              "200    200    200    404    200    422",
    ("POST", "/users/{user_id}/block"):                 "200    200    200    200    200    422",
    ("DELETE", "/users/{user_id}/block"):               "200    200    200    200    200    422",
    ("POST", "/me/follow-requests/{user_id}/approve"):  "404    404    404    404    404    204",
    ("POST", "/me/follow-requests/{user_id}/deny"):     "204    204    204    204    204    204",
    ("DELETE", "/sessions/current"):                    "204    204    204    204    204    204",
    ("POST", "/media/uploads"):                         "201    201    201    201    201    201",
    ("GET", "/media/{media_id}"):                       "404    200    404    404    404    200",
    ("PATCH", "/media/{media_id}"):                     "404    403    404    404    404    200",
    ("DELETE", "/media/{media_id}"):                    "404    403    404    404    404    204",
    ("GET", "/users/{user_id}/media"):                  "403    200    403    404    404    200",
    ("POST", "/media/{media_id}/like"):                 "404    200    404    404    404    200",
    ("DELETE", "/media/{media_id}/like"):               "404    200    404    404    404    200",
    ("GET", "/media/{media_id}/likes"):                 "404    200    404    404    404    200",
    ("POST", "/media/{media_id}/comments"):             "404    201    404    404    404    201",
    ("GET", "/media/{media_id}/comments"):              "404    200    404    404    404    200",
    ("DELETE", "/media/{media_id}/comments/{comment_id}"):
                                                        "404    204    404    404    404    204",
    ("GET", "/tags/{name}/media"):                      "200    200    200    200    200    200",
    ("GET", "/tags/search"):                            "200    200    200    200    200    200",
    ("GET", "/media/search"):                           "200    200    200    200    200    200",
    ("GET", "/explore"):                                "200    200    200    200    200    200",
    ("POST", "/devices"):                               "201    201    201    201    201    201",
    ("DELETE", "/devices/{device_id}"):                 "404    404    404    404    404    204",
    ("GET", "/users/me/notifications"):                 "200    200    200    200    200    200",
    ("PATCH", "/users/me/notifications"):               "200    200    200    200    200    200",
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
    ("GET", "/users/search"):                           "200    200    -      200    200    200",
    ("GET", "/feed"):                                   "200    200    -      200    200    200",
    ("GET", "/activity"):                               "200    200    -      200    200    200",
    ("POST", "/users/{user_id}/follow"):                "200    200    -      404    409    422",
    ("DELETE", "/users/{user_id}/follow"):              "200    200    -      404    200    422",
    ("POST", "/users/{user_id}/block"):                 "200    200    -      200    200    422",
    ("DELETE", "/users/{user_id}/block"):               "200    200    -      200    200    422",
    ("POST", "/me/follow-requests/{user_id}/approve"):  "404    404    -      404    404    404",
    ("POST", "/me/follow-requests/{user_id}/deny"):     "204    204    -      204    204    204",
    ("DELETE", "/sessions/current"):                    "204    204    -      204    204    204",
    ("POST", "/media/uploads"):                         "201    201    -      201    201    201",
    ("GET", "/media/{media_id}"):                       "200    200    -      404    404    200",
    ("PATCH", "/media/{media_id}"):                     "403    403    -      404    404    200",
    ("DELETE", "/media/{media_id}"):                    "403    403    -      404    404    204",
    ("GET", "/users/{user_id}/media"):                  "200    200    -      404    404    200",
    ("POST", "/media/{media_id}/like"):                 "200    200    -      404    404    200",
    ("DELETE", "/media/{media_id}/like"):               "200    200    -      404    404    200",
    ("GET", "/media/{media_id}/likes"):                 "200    200    -      404    404    200",
    ("POST", "/media/{media_id}/comments"):             "201    201    -      404    404    201",
    ("GET", "/media/{media_id}/comments"):              "200    200    -      404    404    200",
    ("DELETE", "/media/{media_id}/comments/{comment_id}"):
                                                        "403    204    -      404    404    204",
    ("GET", "/tags/{name}/media"):                      "200    200    -      200    200    200",
    ("GET", "/tags/search"):                            "200    200    -      200    200    200",
    ("GET", "/media/search"):                           "200    200    -      200    200    200",
    ("GET", "/explore"):                                "200    200    -      200    200    200",
    ("POST", "/devices"):                               "201    201    -      201    201    201",
    ("DELETE", "/devices/{device_id}"):                 "404    404    -      404    404    204",
    ("GET", "/users/me/notifications"):                 "200    200    -      200    200    200",
    ("PATCH", "/users/me/notifications"):               "200    200    -      200    200    200",
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
    """A shared world per kind of owner (with the owner's media), and one per route
    that changes the graph."""
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
        worlds = dict(zip(keys, pool.map(relate, built), strict=True))
        list(pool.map(stock_media, [worlds[kind, "shared"] for kind in ("private", "public")]))
        return worlds


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
        if not _may_see_media(world, role):
            assert world.secret not in response.text
        if response.status_code != status:
            continue
        if status >= 400:
            _assert_error_body(response)
        else:
            row.check(world, role, response)

    assert answered == expected


@pytest.mark.parametrize("state", ["pending", "failed"])
@pytest.mark.parametrize("kind", ["private", "public"])
def test_a_media_not_ready_is_found_by_its_owner_alone(worlds, kind, state):
    world = worlds[(kind, "shared")]

    answered = {}
    for role in _roles(world.private):
        response = _read(world.people[role], world.media[state])
        answered[role] = response.status_code
        if role != "owner":
            assert world.secret not in response.text
        elif response.status_code == 200:
            # Only the owner reads why processing failed.
            assert response.json()["status"] == state
            reason = response.json()["failure_reason"]
            if state == "pending":
                assert reason is None
            else:
                assert isinstance(reason, str)
                assert reason

    assert answered == {role: 200 if role == "owner" else 404 for role in _roles(world.private)}


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
    url = route[1].format(
        user_id=someone.id,
        username=someone.username,
        media_id=someone.id,
        comment_id=1,
        name="t",
        device_id=1,
    )
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
