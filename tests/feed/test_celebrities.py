"""Celebrities: owners at or above the follower threshold are not pushed; their followers'
pages merge the celebrities' recent media in at read time, in time order, once.

Fan-out runs with a threshold of 3 followers. Pages are built by a FeedReader as the API
builds it, but made by the test: the API's reader trusts its copy of the celebrity set
for 30 s, and the test's owner became a celebrity a moment ago.
"""

from __future__ import annotations

import pytest

from chalicelib import redis_keys
from tests.feed.fanning import (
    add_followers,
    made_up_user_ids,
    reader_pages,
    reader_with,
)
from tests.feed.feeds import feed_ids, follow, newest_first, post_ready, stored_feed

THRESHOLD = 3


@pytest.fixture
def fan(fanning):
    return fanning(celebrity_followers=THRESHOLD)


@pytest.fixture
def extras(clients):
    """`extras(owner, count)`: made-up followers, to lift an owner over the threshold (no
    feed of theirs exists: nothing to clean up)."""

    def add(owner, count: int) -> None:
        add_followers(clients, owner.id, made_up_user_ids(count))

    return add


@pytest.fixture
def scene(clients, members, extras):
    """A reader following a celebrity (the reader and two made-up followers) and an
    ordinary author; the reader's feed is built."""
    celebrity, author, reader = members(3)
    follow(reader, celebrity)
    follow(reader, author)
    extras(celebrity, THRESHOLD - 1)
    assert feed_ids(reader) == []
    return celebrity, author, reader


def _posts(clients, fan, rounds: int, *authors) -> dict[int, list[int]]:
    """Each author posts once a round (fanned out at once); their IDs, newest first."""
    made: dict[int, list[int]] = {a.id: [] for a in authors}
    for _ in range(rounds):
        for author in authors:
            media = post_ready(clients, author)
            fan.ready(media)
            made[author.id].insert(0, media.id)
    return made


def test_a_celebritys_media_are_merged_into_followers_pages_in_time_order(
    clients, settings, fan, scene
):
    celebrity, author, reader = scene
    made = _posts(clients, fan, 6, author, celebrity)

    pages = reader_pages(reader_with(clients, settings), reader.id, count=5)

    everything = sorted(made[author.id] + made[celebrity.id], reverse=True)
    assert [i for page in pages for i in page] == everything
    assert [len(page) for page in pages] == [5, 5, 2]
    assert all(newest_first(page) for page in pages)
    # AND nothing of the celebrity was pushed to the reader
    assert stored_feed(clients, reader.id) == made[author.id]
    assert clients.redis.sismember(redis_keys.celebrities(), celebrity.id)


def test_media_pushed_before_an_owner_became_a_celebrity_are_shown_once(
    clients, settings, fanning, members, extras
):
    # GIVEN an owner whose first posts were pushed to their one follower
    owner, reader = members(2)
    follow(reader, owner)
    assert feed_ids(reader) == []
    fan = fanning(celebrity_followers=THRESHOLD)
    pushed = _posts(clients, fan, 3, owner)[owner.id]
    assert stored_feed(clients, reader.id) == pushed
    # WHEN the owner crosses the threshold, and posts on
    extras(owner, THRESHOLD - 1)
    pulled = _posts(clients, fan, 3, owner)[owner.id]

    # THEN the reader's pages hold every post once, newest first
    pages = reader_pages(reader_with(clients, settings), reader.id, count=2)
    assert [i for page in pages for i in page] == pulled + pushed
    assert stored_feed(clients, reader.id) == pushed


def test_a_page_cursor_inside_the_celebritys_media_goes_on_where_it_was(
    clients, settings, fan, scene
):
    celebrity, author, reader = scene
    made = _posts(clients, fan, 4, author, celebrity)
    pager = reader_with(clients, settings)
    first = pager.page(reader.id, None, 3)

    # WHEN the celebrity and the author post again between pages
    newer = _posts(clients, fan, 1, celebrity, author)
    rest = reader_pages(pager, reader.id, count=3, max_id=first.next_max_id)

    older = sorted(made[author.id] + made[celebrity.id], reverse=True)
    assert [item.media.id for item in first.items] + [i for page in rest for i in page] == older
    assert not {i for page in rest for i in page} & {i for ids in newer.values() for i in ids}


def test_a_celebrity_reads_their_own_media_once(clients, settings, fan, scene):
    celebrity, _, _ = scene
    own = _posts(clients, fan, 3, celebrity)[celebrity.id]

    pages = reader_pages(reader_with(clients, settings), celebrity.id, count=50)

    assert pages == [own]


def test_after_unfollowing_a_celebrity_none_of_their_media_are_pulled(
    clients, settings, fan, scene
):
    celebrity, author, reader = scene
    made = _posts(clients, fan, 3, author, celebrity)

    assert reader.delete(f"/users/{celebrity.id}/follow").status_code == 200

    pages = reader_pages(reader_with(clients, settings), reader.id, count=4)
    assert [i for page in pages for i in page] == made[author.id]
