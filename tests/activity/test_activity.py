"""GET /activity on the local stack: what happened to me, newest first, paged, rebuilt
from PostgreSQL when its Redis list is gone, never across a block."""

from __future__ import annotations

import pytest

from chalicelib import redis_keys
from chalicelib.activity.lists import CAP
from tests.answers import refused
from tests.feed.feeds import post_ready

ENTRY_KEYS = {"id", "kind", "actor", "media_id", "comment_id", "created_at"}


def activity(member, **params) -> dict:
    response = member.get("/activity", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    for item in body["items"]:
        assert set(item) == ENTRY_KEYS
    return body


def seen(member, **params) -> list[tuple[str, int, int | None]]:
    """(kind, actor, media) of each entry of the first page, newest first."""
    return [
        (i["kind"], int(i["actor"]["id"]), int(i["media_id"]) if i["media_id"] else None)
        for i in activity(member, **params)["items"]
    ]


def all_pages(member, count: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        body = activity(member, count=count, **({"cursor": cursor} if cursor else {}))
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def ok(response, status: int = 200) -> None:
    assert response.status_code == status, response.text


def forget(clients, member) -> None:
    clients.redis.delete(redis_keys.activity(member.id))


@pytest.fixture(params=["pushed", "rebuilt"])
def built(request, clients):
    """Read the list as pushes left it, or after its Redis key is gone (a rebuild)."""

    def prepare(member) -> None:
        if request.param == "pushed":
            activity(member)  # built before the events, so they are pushed
        else:
            forget(clients, member)

    prepare.rebuilt = request.param == "rebuilt"
    return prepare


def test_each_kind_reaches_the_right_user_newest_first(sign_up, clients):
    owner, fan, asker = sign_up(), sign_up(), sign_up()
    private = sign_up(private=True)
    activity(owner), activity(fan), activity(asker), activity(private)  # lists exist
    photo = post_ready(clients, owner)

    ok(fan.post(f"/users/{owner.id}/follow"))
    ok(fan.post(f"/media/{photo.id}/like"))
    ok(fan.post(f"/media/{photo.id}/comments", json={"body": "nice"}), 201)
    ok(asker.post(f"/users/{private.id}/follow"))
    ok(owner.post(f"/users/{private.id}/follow"))
    ok(private.post(f"/me/follow-requests/{owner.id}/approve"), 204)

    assert seen(owner) == [
        ("follow_approved", private.id, None),
        ("comment", fan.id, photo.id),
        ("like", fan.id, photo.id),
        ("follow", fan.id, None),
    ]
    assert seen(private) == [("follow", owner.id, None), ("follow_request", asker.id, None)]
    assert seen(fan) == []


def test_rebuild_after_the_key_is_gone_gives_the_same_entries(sign_up, clients):
    owner, fan, other = sign_up(), sign_up(), sign_up()
    private = sign_up(private=True)
    activity(owner), activity(private)
    photo = post_ready(clients, owner)
    ok(fan.post(f"/users/{owner.id}/follow"))
    ok(other.post(f"/media/{photo.id}/like"))
    ok(fan.post(f"/media/{photo.id}/comments", json={"body": "first"}), 201)
    ok(owner.post(f"/users/{private.id}/follow"))
    ok(private.post(f"/me/follow-requests/{owner.id}/approve"), 204)
    ok(fan.post(f"/users/{private.id}/follow"))
    pushed = {m.id: activity(m)["items"] for m in (owner, private)}

    for member in (owner, private):
        forget(clients, member)
        assert activity(member)["items"] == pushed[member.id]
        assert clients.redis.exists(redis_keys.activity(member.id))


def test_my_own_likes_and_comments_are_not_activity(sign_up, clients, built):
    owner = sign_up()
    built(owner)
    photo = post_ready(clients, owner)
    ok(owner.post(f"/media/{photo.id}/like"))
    ok(owner.post(f"/media/{photo.id}/comments", json={"body": "me"}), 201)

    assert seen(owner) == []


def test_a_repeated_like_shows_once(sign_up, clients, built):
    owner, fan = sign_up(), sign_up()
    built(owner)
    photo = post_ready(clients, owner)
    for _ in range(3):
        ok(fan.post(f"/media/{photo.id}/like"))
        ok(fan.post(f"/users/{owner.id}/follow"))

    assert seen(owner) == [("follow", fan.id, None), ("like", fan.id, photo.id)]
    assert clients.redis.zcard(redis_keys.activity(owner.id)) <= 3  # + the placeholder


def test_undone_events_disappear(sign_up, clients, built):
    owner, fan, asker = sign_up(), sign_up(), sign_up()
    private = sign_up(private=True)
    built(owner), built(private)
    photo = post_ready(clients, owner)
    ok(fan.post(f"/users/{owner.id}/follow"))
    ok(fan.post(f"/media/{photo.id}/like"))
    comment = fan.post(f"/media/{photo.id}/comments", json={"body": "gone soon"}).json()
    ok(asker.post(f"/users/{private.id}/follow"))

    ok(fan.delete(f"/media/{photo.id}/like"))
    ok(fan.delete(f"/media/{photo.id}/comments/{comment['id']}"), 204)
    ok(fan.delete(f"/users/{owner.id}/follow"))
    ok(private.post(f"/me/follow-requests/{asker.id}/deny"), 204)

    assert seen(owner) == []
    assert seen(private) == []


def test_a_deleted_medias_entries_disappear(sign_up, clients, built):
    owner, fan = sign_up(), sign_up()
    built(owner)
    kept, deleted = post_ready(clients, owner), post_ready(clients, owner)
    for photo in (kept, deleted):
        ok(fan.post(f"/media/{photo.id}/like"))
        ok(fan.post(f"/media/{photo.id}/comments", json={"body": "hi"}), 201)

    ok(owner.delete(f"/media/{deleted.id}"), 204)

    assert seen(owner) == [("comment", fan.id, kept.id), ("like", fan.id, kept.id)]


@pytest.mark.parametrize("who_blocks", ["me", "them"])
def test_a_block_hides_entries_both_ways(sign_up, clients, built, who_blocks):
    owner, fan, bystander = sign_up(), sign_up(), sign_up()
    built(owner)
    photo = post_ready(clients, owner)
    ok(fan.post(f"/media/{photo.id}/like"))
    ok(fan.post(f"/media/{photo.id}/comments", json={"body": "hi"}), 201)
    ok(bystander.post(f"/media/{photo.id}/like"))

    blocker, blocked = (owner, fan) if who_blocks == "me" else (fan, owner)
    ok(blocker.post(f"/users/{blocked.id}/block"))

    assert seen(owner) == [("like", bystander.id, photo.id)]


def test_pages_cover_the_list_without_gaps_or_duplicates(sign_up, clients, built):
    owner = sign_up()
    built(owner)
    followers = [sign_up() for _ in range(7)]
    for fan in followers:
        ok(fan.post(f"/users/{owner.id}/follow"))

    whole = [item["id"] for item in activity(owner, count=50)["items"]]
    pages = all_pages(owner, count=3)

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [entry for page in pages for entry in page] == whole
    assert [int(i["actor"]["id"]) for i in activity(owner)["items"]] == [
        fan.id for fan in reversed(followers)
    ]


def test_the_list_keeps_only_the_newest_entries(sign_up, clients):
    owner, fan = sign_up(), sign_up()
    activity(owner)
    photos = [post_ready(clients, owner) for _ in range(CAP + 2)]
    for photo in photos:
        ok(fan.post(f"/media/{photo.id}/like"))

    liked = [e for page in all_pages(owner, count=50) for e in page]
    assert len(liked) == CAP
    newest = seen(owner, count=1)
    assert newest == [("like", fan.id, photos[-1].id)]


def test_an_empty_activity_is_an_empty_page(sign_up, clients, built):
    member = sign_up()
    built(member)
    assert activity(member) == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "abc"},
        {"cursor": "1_"},
        {"count": "0"},
        {"count": "51"},
        {"count": "x"},
        {"max_id": "1"},
    ],
)
def test_bad_queries_are_refused(sign_up, params):
    refused(sign_up().get("/activity", params=params), 400, "validation_failed")


def test_without_a_session_it_is_unauthorized(http):
    refused(http.get("/activity"), 401, "unauthorized")
