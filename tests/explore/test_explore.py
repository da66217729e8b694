"""GET /explore on the local stack: recently liked public media, best first, paged by
cursor, rebuilt from PostgreSQL when its Redis set is gone, never private, blocked,
deleted or the caller's own media.

The set is shared by every test of the session: tests look at their own media's
places in it, not at the whole of it."""

from __future__ import annotations

import time

import pytest
from psycopg2 import sql

from chalicelib import redis_keys
from chalicelib.explore.index import HALF_LIFE_SECONDS, ExploreIndex, exponent, oldest_id
from tests.answers import refused
from tests.feed.feeds import post_ready


def explore(member, **params) -> dict:
    response = member.get("/explore", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "next_cursor", "partial"}
    return body


def all_pages(member, count: int = 50) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        body = explore(member, count=count, **({"cursor": cursor} if cursor else {}))
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def all_items(member, count: int = 50) -> list[dict]:
    return [item for page in all_pages(member, count) for item in page]


def page_ids(member, count: int = 50) -> list[list[int]]:
    return [[int(item["id"]) for item in page] for page in all_pages(member, count)]


def ranked(member, among) -> list[int]:
    """The places of these media in the whole of explore, as `member` reads it."""
    wanted = {m.id for m in among}
    return [int(i["id"]) for i in all_items(member) if int(i["id"]) in wanted]


def ok(response, status: int = 200) -> None:
    assert response.status_code == status, response.text


def like(media, *fans) -> None:
    for fan in fans:
        ok(fan.post(f"/media/{media.id}/like"))


def forget(clients) -> None:
    clients.redis.delete(redis_keys.explore())


def score(clients, media) -> float | None:
    return clients.redis.zscore(redis_keys.explore(), media.id)


@pytest.fixture(params=["pushed", "rebuilt"])
def built(request, clients, sign_up):
    """Read explore as likes left it, or after its Redis key is gone (a rebuild)."""

    def prepare() -> None:
        if request.param == "pushed":
            explore(sign_up())  # the set exists before the likes, so they are pushed
        else:
            forget(clients)

    return prepare


@pytest.fixture(scope="module")
def fans(sign_up):
    return [sign_up() for _ in range(3)]


def test_media_are_ranked_by_their_likes(sign_up, clients, built, fans):
    owner, reader = sign_up(), sign_up()
    built()
    one, three, two = (post_ready(clients, owner) for _ in range(3))
    like(one, fans[0])
    like(three, *fans)
    like(two, *fans[:2])

    assert ranked(reader, [one, two, three]) == [three.id, two.id, one.id]


def test_items_are_shaped_as_media_with_my_like(sign_up, clients, fans):
    owner, reader = sign_up(), sign_up()
    photo = post_ready(clients, owner)
    like(photo, fans[0], reader)

    (item,) = [i for i in all_items(reader) if int(i["id"]) == photo.id]
    assert int(item["owner"]["id"]) == owner.id
    assert (item["status"], item["like_count"], item["liked"]) == ("ready", 2, True)


def test_newer_likes_outweigh_older_ones(sign_up, clients, fans):
    """Two likes a day old (worth 2/16 now) rank below one fresh like."""
    owner, reader = sign_up(), sign_up()
    old, fresh = post_ready(clients, owner), post_ready(clients, owner)
    like(old, *fans[:2])
    like(fresh, fans[2])
    _age_likes(clients, old, days=1)
    forget(clients)

    assert ranked(reader, [old, fresh]) == [fresh.id, old.id]


def test_a_rebuild_scores_as_the_likes_did(sign_up, clients, fans):
    owner = sign_up()
    explore(owner)
    photos = [post_ready(clients, owner) for _ in range(2)]
    like(photos[0], *fans)
    like(photos[1], fans[0])
    pushed = [score(clients, p) for p in photos]

    forget(clients)
    explore(owner)

    rebuilt = [score(clients, p) for p in photos]
    assert rebuilt == pytest.approx(pushed, abs=1e-3)
    assert pushed[0] == pytest.approx(pushed[1] + 1.585, abs=1e-2)  # log2(3)


def test_a_repeated_like_counts_once(sign_up, clients, fans):
    owner = sign_up()
    explore(owner)
    photo = post_ready(clients, owner)
    like(photo, fans[0])
    once = score(clients, photo)
    like(photo, fans[0])
    assert score(clients, photo) == once


def test_an_unlike_is_ignored_until_a_rebuild(sign_up, clients, fans):
    owner, reader = sign_up(), sign_up()
    explore(owner)
    photo = post_ready(clients, owner)
    like(photo, fans[0])
    ok(fans[0].delete(f"/media/{photo.id}/like"))
    assert photo.id in ranked(reader, [photo])

    forget(clients)
    assert ranked(reader, [photo]) == []


def test_private_accounts_media_never_enter(sign_up, clients, built, fans):
    private = sign_up(private=True)
    follower = sign_up()
    ok(follower.post(f"/users/{private.id}/follow"))
    ok(private.post(f"/me/follow-requests/{follower.id}/approve"), 204)
    built()
    photo = post_ready(clients, private)
    like(photo, follower)

    assert score(clients, photo) is None
    assert ranked(follower, [photo]) == []


def test_an_account_gone_private_leaves_explore(sign_up, clients, built, fans):
    owner, reader = sign_up(), sign_up()
    built()
    photo = post_ready(clients, owner)
    like(photo, fans[0])
    assert ranked(reader, [photo]) == [photo.id]

    ok(owner.patch("/users/me", json={"is_private": True}))

    assert ranked(reader, [photo]) == []


@pytest.mark.parametrize("who_blocks", ["reader", "owner"])
def test_a_block_hides_media_both_ways(sign_up, clients, built, fans, who_blocks):
    owner, reader, bystander = sign_up(), sign_up(), sign_up()
    built()
    photo = post_ready(clients, owner)
    like(photo, fans[0])

    blocker, blocked = (reader, owner) if who_blocks == "reader" else (owner, reader)
    ok(blocker.post(f"/users/{blocked.id}/block"))

    assert ranked(reader, [photo]) == []
    assert ranked(bystander, [photo]) == [photo.id]


def test_deleted_media_disappear(sign_up, clients, built, fans):
    owner, reader = sign_up(), sign_up()
    built()
    kept, deleted = post_ready(clients, owner), post_ready(clients, owner)
    like(kept, fans[0])
    like(deleted, fans[0])

    ok(owner.delete(f"/media/{deleted.id}"), 204)

    assert ranked(reader, [kept, deleted]) == [kept.id]


def test_my_own_media_are_not_shown_to_me(sign_up, clients, fans):
    owner = sign_up()
    photo = post_ready(clients, owner)
    like(photo, fans[0])
    assert ranked(owner, [photo]) == []
    assert ranked(fans[1], [photo]) == [photo.id]


def test_pages_cover_the_ranking_without_gaps_or_duplicates(sign_up, clients, fans):
    owner, reader = sign_up(), sign_up()
    photos = [post_ready(clients, owner) for _ in range(7)]
    for photo in photos:
        like(photo, fans[0])

    whole = [i for page in page_ids(reader) for i in page]
    pages = page_ids(reader, count=3)

    assert [i for page in pages for i in page] == whole
    assert all(len(page) == 3 for page in pages[:-1])
    assert len(whole) == len(set(whole))
    # Liked one after the other, each later like weighs more: newest first.
    assert ranked(reader, photos) == [p.id for p in reversed(photos)]


def test_media_past_the_window_are_not_added_and_are_trimmed(sign_up, clients):
    reader = sign_up()
    explore(reader)
    index = ExploreIndex(clients.redis, clients.router)
    too_old = oldest_id(time.time()) - 1
    index.liked(too_old)
    assert clients.redis.zscore(redis_keys.explore(), too_old) is None

    clients.redis.zadd(redis_keys.explore(), {str(too_old): exponent(time.time()) + 100})
    explore(reader, count=1)
    assert clients.redis.zscore(redis_keys.explore(), too_old) is None


def test_likes_during_a_rebuild_are_kept(sign_up, clients, fans):
    owner = sign_up()
    photo = post_ready(clients, owner)
    forget(clients)
    clients.redis.set(redis_keys.explore_rebuild(), "someone", ex=60)
    like(photo, fans[0])  # the set is missing and being rebuilt: pending

    assert clients.redis.zscore(redis_keys.explore_pending(), photo.id) is not None
    ExploreIndex(clients.redis, clients.router).rebuild()

    # Read by the rebuild and pending: counted twice (a like in flight may be).
    assert score(clients, photo) == pytest.approx(exponent(time.time()) + 1, abs=1e-2)
    assert not clients.redis.exists(redis_keys.explore_pending())


def test_past_the_last_item_the_page_is_empty(sign_up):
    bottom = "fff0000000000000_0"  # -inf
    assert explore(sign_up(), cursor=bottom) == {"items": [], "next_cursor": None, "partial": False}


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "abc"},
        {"cursor": "1_2"},
        {"cursor": "3ff0000000000000_"},
        {"count": "0"},
        {"count": "51"},
        {"count": "x"},
        {"max_id": "1"},
    ],
)
def test_bad_queries_are_refused(sign_up, params):
    refused(sign_up().get("/explore", params=params), 400, "validation_failed")


def test_without_a_session_it_is_unauthorized(http):
    refused(http.get("/explore"), 401, "unauthorized")


def _age_likes(clients, media, days: float) -> None:
    def move(conn, schema) -> None:
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL(
                    "UPDATE {s}.likes SET created_at = created_at - make_interval(secs => %s) "
                    "WHERE media_id = %s"
                ).format(s=schema),
                [days * 86400, media.id],
            )

    clients.router.run_for_id(media.id, move)


assert HALF_LIFE_SECONDS == 6 * 3600  # test_newer_likes_outweigh_older_ones assumes it
