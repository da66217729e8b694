"""Load shedding of feed reads: with the switch on, pages hold at most 10 items and
celebrities' media are not pulled; with it off again, pages are whole."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from chalicelib.config import FeedSettings
from chalicelib.feed.reader import SHED_PAGE
from chalicelib.feed.shedding import READ_EVERY_SECONDS, LoadShedding
from tests.feed.fanning import (
    Fanning,
    add_followers,
    made_up_user_ids,
    reader_pages,
    reader_with,
)
from tests.feed.feeds import feed_ids, feed_page, follow, post_ready


@pytest.fixture(scope="module")
def busy_feed(clients, settings, members) -> tuple[object, list[int], list[int]]:
    """A reader following an author (14 posts, pushed) and a celebrity (4 posts, pulled);
    the tests only read it."""
    feed = FeedSettings(**{**settings.feed.model_dump(), "celebrity_followers": 2})
    fan = Fanning(clients, feed)
    author, celebrity, reader = members(3)
    follow(reader, author)
    follow(reader, celebrity)
    add_followers(clients, celebrity.id, made_up_user_ids(1))
    assert feed_ids(reader) == []
    pushed, pulled = [], []
    for round_ in range(14):
        media = post_ready(clients, author)
        fan.ready(media)
        pushed.insert(0, media.id)
        if round_ % 4 == 0:
            media = post_ready(clients, celebrity)
            fan.ready(media)
            pulled.insert(0, media.id)
    return reader, pushed, pulled


def test_while_shedding_a_page_holds_at_most_ten_items(clients, settings, busy_feed):
    reader, pushed, _ = busy_feed
    shedding = reader_with(clients, settings, shedding=lambda: True)

    page = shedding.page(reader.id, None, 50)

    assert page.shed
    assert [item.media.id for item in page.items] == pushed[:SHED_PAGE]
    assert page.next_max_id == pushed[SHED_PAGE - 1]


def test_while_shedding_celebrity_media_are_not_pulled(clients, settings, busy_feed):
    reader, pushed, pulled = busy_feed

    shed = reader_pages(reader_with(clients, settings, shedding=lambda: True), reader.id, 50)
    whole = reader_pages(reader_with(clients, settings), reader.id, 50)

    assert [i for page in shed for i in page] == pushed
    assert [len(page) for page in shed] == [10, 4]
    assert whole == [sorted(pushed + pulled, reverse=True)]


@pytest.fixture
def switch(clients, busy_feed) -> Iterator[LoadShedding]:
    """The operators' switch; off again after the test, and the API whole again."""
    shedding = LoadShedding(clients.redis)
    yield shedding
    shedding.set(False)
    _page_sizes_until(busy_feed[0], lambda size: size > SHED_PAGE, READ_EVERY_SECONDS + 2)


def _page_sizes_until(member, wanted, within: float) -> list[int]:
    """Sizes of 50-item pages read until `wanted(size)` holds (or time is up)."""
    sizes = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        sizes.append(len(feed_page(member, count=50)["items"]))
        if wanted(sizes[-1]):
            break
        time.sleep(0.25)
    return sizes


def test_the_api_sheds_within_seconds_of_the_switch_and_stops_when_it_is_off(
    clients, busy_feed, switch
):
    reader, pushed, _ = busy_feed
    assert len(feed_page(reader, count=50)["items"]) > SHED_PAGE

    # WHEN operators turn shedding on
    switch.set(True)
    on = _page_sizes_until(reader, lambda size: size <= SHED_PAGE, READ_EVERY_SECONDS + 2)

    # THEN within seconds, the API answers pages of at most 10 items, which page on
    assert on[-1] == SHED_PAGE
    shed = feed_page(reader, count=50)
    assert [int(i["id"]) for i in shed["items"]] == pushed[:SHED_PAGE]
    assert int(shed["next_max_id"]) == pushed[SHED_PAGE - 1]

    # AND once it is off again, whole pages come back (the celebrity's media too, once
    # the API's copy of the celebrity set, trusted for 30 s, has them)
    switch.set(False)
    off = _page_sizes_until(reader, lambda size: size > SHED_PAGE, READ_EVERY_SECONDS + 2)
    assert off[-1] >= len(pushed)
