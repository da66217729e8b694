"""GET /feed as members read it: what a page holds, in what order, and who sees what.

Media are made ready in PostgreSQL and fanned out by the test (tests.feed.feeds), so
each test controls when, and in which order, pushes happen.
"""

from __future__ import annotations

import pytest

from chalicelib import redis_keys
from tests.answers import error_of, problem_fields
from tests.feed.feeds import (
    all_pages,
    feed_ids,
    feed_page,
    follow,
    insert_ready_media,
    load_media,
    newest_first,
    post_ready,
    read_all,
    stored_feed,
)


@pytest.fixture
def fan(fanning):
    """Fan-out with the stack's settings."""
    return fanning()


def _post(clients, fan, member, count: int = 1) -> list[int]:
    """`count` posts by `member`, each fanned out as it becomes ready; newest first."""
    made = []
    for _ in range(count):
        media = post_ready(clients, member)
        fan.ready(media)
        made.append(media.id)
    return made[::-1]


def _interleaved(clients, fan, authors, rounds: int) -> list[int]:
    """Each member posts once a round; every ID, newest first."""
    return sorted(
        (i for _ in range(rounds) for m in authors for i in _post(clients, fan, m)), reverse=True
    )


# --- own posts, rebuilds ---------------------------------------------------------------


def test_own_posts_appear_in_a_feed_that_was_never_read(clients, fan, sign_up):
    owner = sign_up()
    posted = _post(clients, fan, owner, 3)

    assert feed_ids(owner) == posted


def test_a_new_users_first_read_rebuilds_their_feed_from_the_graph(clients, fan, members):
    # GIVEN two members who posted before a new user arrived
    ada, bob, newcomer = members(3)
    posted = _interleaved(clients, fan, [ada, bob], rounds=3)
    # AND the new user follows them (no feed of theirs exists yet)
    follow(newcomer, ada)
    follow(newcomer, bob)
    assert not clients.redis.exists(redis_keys.feed(newcomer.id))

    # WHEN the new user reads
    page = feed_ids(newcomer)

    # THEN the page is everything they posted, and the feed is now built in Redis
    assert page == posted
    assert stored_feed(clients, newcomer.id) == posted


def test_following_someone_brings_their_earlier_posts_into_an_existing_feed(clients, fan, members):
    # GIVEN a reader whose feed is built, and someone who posted before being followed
    reader, author = members(2)
    assert feed_ids(reader) == []
    earlier = _post(clients, fan, author, 2)

    # WHEN the reader follows them
    follow(reader, author)

    # THEN the reader's feed shows their earlier posts, as a rebuilt feed would
    assert feed_ids(reader) == earlier


# --- order and paging --------------------------------------------------------------------


def test_an_older_media_fanned_out_after_a_newer_one_takes_its_place_in_time_order(
    clients, fan, members
):
    author, reader = members(2)
    follow(reader, author)
    assert feed_ids(reader) == []
    media = [post_ready(clients, author) for _ in range(5)]

    # WHEN their events arrive newest first (each older one after the newer ones)
    for item in reversed(media):
        fan.ready(item)

    expected = [m.id for m in reversed(media)]
    assert stored_feed(clients, reader.id) == expected
    assert all_pages(reader, count=2) == [expected[:2], expected[2:4], expected[4:]]


def test_a_late_event_of_an_old_media_never_puts_a_page_out_of_order(clients, fan, members):
    author, reader = members(2)
    follow(reader, author)
    assert feed_ids(reader) == []
    late = post_ready(clients, author)
    on_time = _post(clients, fan, author, 6)

    fan.ready(late)

    pages = all_pages(reader, count=4)
    assert [i for page in pages for i in page] == [*on_time, late.id]
    assert all(newest_first(page) for page in pages)


def test_pages_split_the_feed_without_duplicates_or_gaps(clients, fan, members):
    ada, bob, reader = members(3)
    follow(reader, ada)
    follow(reader, bob)
    assert feed_ids(reader) == []
    posted = _interleaved(clients, fan, [ada, bob, reader], rounds=3)

    for count in (1, 5, 50):
        assert read_all(reader, count=count) == posted, count


def test_paging_with_max_id_is_stable_while_new_posts_arrive(clients, fan, members):
    # GIVEN a reader half way through their feed
    author, reader = members(2)
    follow(reader, author)
    assert feed_ids(reader) == []
    before = _post(clients, fan, author, 9)
    first = feed_page(reader, count=4)

    # WHEN new posts arrive between pages
    newer = _post(clients, fan, author, 3)
    second = feed_page(reader, count=4, max_id=first["next_max_id"])
    newer += _post(clients, fan, author, 2)
    third = feed_page(reader, count=4, max_id=second["next_max_id"])

    # THEN the pages carry on where they were, without duplicates or gaps
    pages = [[int(item["id"]) for item in p["items"]] for p in (first, second, third)]
    assert [i for page in pages for i in page] == before
    assert third["next_max_id"] is None
    # AND a fresh read starts with the new posts
    assert feed_ids(reader, count=20) == sorted(newer, reverse=True) + before


# --- who sees what -----------------------------------------------------------------------


def test_after_unfollowing_none_of_their_media_appear_on_any_page(clients, fan, members):
    ada, bob, reader = members(3)
    follow(reader, ada)
    follow(reader, bob)
    assert feed_ids(reader) == []
    _interleaved(clients, fan, [ada, bob], rounds=6)

    assert reader.delete(f"/users/{ada.id}/follow").status_code == 200

    pages = all_pages(reader, count=4)
    owners = {load_media(clients, i).owner_id for page in pages for i in page}
    assert owners == {bob.id}
    assert sum(len(page) for page in pages) == 6


def test_after_blocking_someone_none_of_their_media_appear(clients, fan, members):
    ada, bob, reader = members(3)
    follow(reader, ada)
    follow(reader, bob)
    assert feed_ids(reader) == []
    posted = _interleaved(clients, fan, [ada, bob], rounds=4)
    adas = {i for i in posted if load_media(clients, i).owner_id == ada.id}

    assert reader.post(f"/users/{ada.id}/block").status_code == 200

    assert read_all(reader, count=3) == [i for i in posted if i not in adas]


def test_after_being_blocked_none_of_their_media_appear(clients, fan, members):
    ada, bob, reader = members(3)
    follow(reader, ada)
    follow(reader, bob)
    assert feed_ids(reader) == []
    posted = _interleaved(clients, fan, [ada, bob], rounds=4)
    adas = {i for i in posted if load_media(clients, i).owner_id == ada.id}

    assert ada.post(f"/users/{reader.id}/block").status_code == 200

    assert read_all(reader, count=3) == [i for i in posted if i not in adas]


def test_a_deleted_media_never_appears(clients, fan, members):
    author, reader = members(2)
    follow(reader, author)
    assert feed_ids(reader) == []
    posted = _post(clients, fan, author, 5)
    assert feed_ids(reader) == posted  # hydrated: the media cache holds them now

    for media_id in posted[1::2]:
        assert author.delete(f"/media/{media_id}").status_code == 204

    kept = posted[::2]
    assert read_all(reader, count=2) == kept
    assert read_all(author, count=2) == kept
    clients.redis.delete(redis_keys.feed(reader.id))
    assert read_all(reader, count=2) == kept  # rebuilt from the database


def test_a_private_accounts_media_appear_only_to_approved_followers(clients, fan, sign_up, members):
    # GIVEN a private account with an approved follower, a pending one and a stranger
    private = sign_up(private=True)
    approved, pending, stranger = members(3)
    for asking in (approved, pending):
        assert asking.post(f"/users/{private.id}/follow").json()["requested"] is True
    answer = private.post(f"/me/follow-requests/{approved.id}/approve")
    assert answer.status_code == 204
    for reader in (approved, pending, stranger):
        assert feed_ids(reader) == []

    # WHEN the account posts
    posted = _post(clients, fan, private, 3)

    # THEN only the approved follower sees the posts, even in feeds rebuilt from scratch
    assert read_all(approved) == posted
    assert read_all(pending) == read_all(stranger) == []
    clients.redis.delete(*(redis_keys.feed(r.id) for r in (approved, pending, stranger)))
    assert read_all(approved) == posted
    assert read_all(pending) == read_all(stranger) == []


# --- the cap -----------------------------------------------------------------------------


def test_a_feed_never_holds_more_than_the_cap(clients, settings, fan, members):
    # GIVEN an author with more ready media than a feed holds, followed by a new reader
    cap = settings.feed.cap
    author, reader = members(2)
    history = insert_ready_media(clients, author.id, cap + 5)
    follow(reader, author)

    # WHEN the reader's feed is rebuilt, and then one more media is fanned out
    first = read_all(reader)
    newest = post_ready(clients, author)
    fan.ready(newest)

    # THEN the feed held the newest `cap` media, and still holds `cap`
    assert first == history[:cap]
    assert clients.redis.llen(redis_keys.feed(reader.id)) == cap
    assert stored_feed(clients, reader.id) == [newest.id, *history[: cap - 1]]
    assert feed_ids(reader, count=3) == [newest.id, *history[:2]]


# --- bad input ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def member(sign_up):
    return sign_up()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"max_id": "0"}, "max_id"),
        ({"max_id": "-1"}, "max_id"),
        ({"max_id": str(2**63)}, "max_id"),
        ({"max_id": "abc"}, "max_id"),
        ({"max_id": ""}, "max_id"),
        ({"count": "0"}, "count"),
        ({"count": "51"}, "count"),
        ({"count": "ten"}, "count"),
        ({"since": "1"}, "since"),
    ],
)
def test_a_bad_query_is_refused_with_the_field_named(member, params, field):
    answer = member.get("/feed", params=params)

    assert problem_fields(error_of(answer, 400)) == [["query", field]]


def test_a_feed_read_without_a_token_is_refused(http):
    assert error_of(http.get("/feed"), 401)["code"] == "unauthorized"


def test_a_feed_read_with_an_unknown_token_is_refused(http):
    answer = http.get("/feed", headers={"Authorization": "Bearer not-a-session"})

    assert error_of(answer, 401)["code"] == "unauthorized"
