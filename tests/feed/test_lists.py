"""The capped, sorted, deduplicated ID lists of chalicelib.feed.lists, on the stack's Redis.

IDs here are 64-bit: many that differ only in their low bits are the same number to Lua
(doubles), so the lists must compare them as decimal strings.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from chalicelib import redis_keys
from chalicelib.feed.lists import EMPTY, IdLists
from tests.feed.fanning import made_up_user_ids

CAP = 5
# Doubles are 2**10 apart up here: these ten IDs are one number to Lua.
CLOSE = [2**62 + k for k in range(10)]


@pytest.fixture
def lists(clients) -> IdLists:
    return IdLists(clients.redis)


@pytest.fixture
def key(clients) -> Iterator[tuple[str, str]]:
    """A list and its rebuild marker, of a made-up user; removed after."""
    user = made_up_user_ids(1)[0]
    pair = (redis_keys.feed(user), redis_keys.feed_rebuild(user))
    yield pair
    clients.redis.delete(*pair)


def _built(lists: IdLists, key: tuple[str, str], ids: list[int]) -> None:
    token = lists.begin_rebuild(key[1])
    assert lists.store(key[0], key[1], token, ids, ttl_seconds=60)


def _held(clients, key: tuple[str, str]) -> list[int]:
    return [int(item) for item in clients.redis.lrange(key[0], 0, -1)]


def test_ids_lua_cannot_tell_apart_are_kept_in_order_and_once(clients, lists, key):
    _built(lists, key, [])
    scrambled = random.Random(7).sample(CLOSE, len(CLOSE))

    first = [lists.push_many([key], item, 50)[0] for item in scrambled]
    again = [lists.push_many([key], item, 50)[0] for item in scrambled]

    assert first == [1] * 10
    assert again == [0] * 10
    assert _held(clients, key) == [*sorted(CLOSE, reverse=True), EMPTY]


def test_ids_of_different_lengths_are_ordered_as_numbers(clients, lists, key):
    _built(lists, key, [])
    ids = [999, 1000, 10**17, 9 * 10**16, 2**63 - 1, 123_456_789]

    for item in ids:
        lists.push_many([key], item, 50)

    assert _held(clients, key) == [*sorted(ids, reverse=True), EMPTY]


def test_a_page_below_max_id_holds_the_next_older_ids_only(lists, key):
    _built(lists, key, sorted(CLOSE, reverse=True))

    page = lists.page(key[0], max_id=CLOSE[5], count=3)

    assert page == [CLOSE[4], CLOSE[3], CLOSE[2]]


def test_an_empty_built_list_exists_pages_nothing_and_takes_pushes(lists, key):
    _built(lists, key, [])
    assert lists.page(key[0], max_id=2**63 - 1, count=10) == []

    assert lists.push_many([key], 42, CAP) == [1]
    assert lists.page(key[0], max_id=2**63 - 1, count=10) == [42]


def test_a_push_to_a_missing_list_is_refused_and_leaves_it_missing(clients, lists, key):
    assert lists.push_many([key], 42, CAP) == [-1]

    assert not clients.redis.exists(key[0])
    assert lists.page(key[0], max_id=2**63 - 1, count=10) is None


def test_a_rebuild_raced_by_a_push_is_not_stored(clients, lists, key):
    # GIVEN a rebuild that read the database before a new item was pushed
    token = lists.begin_rebuild(key[1])
    assert lists.push_many([key], 43, CAP) == [-1]  # the list is missing: the push is lost

    # WHEN the rebuild stores what it read (without that item)
    stored = lists.store(key[0], key[1], token, [42], ttl_seconds=60)

    # THEN it is refused: the next read rebuilds again, item included
    assert not stored
    assert not clients.redis.exists(key[0])


def test_a_rebuild_is_not_stored_over_a_list_built_meanwhile(clients, lists, key):
    late = lists.begin_rebuild(key[1])
    _built(lists, key, [44, 43])

    assert not lists.store(key[0], key[1], late, [42], ttl_seconds=60)
    assert _held(clients, key) == [44, 43]


def test_a_full_list_drops_its_oldest_and_refuses_older_ids(clients, lists, key):
    _built(lists, key, [])
    for item in range(1, 8):
        lists.push_many([key], item, CAP)
    assert _held(clients, key) == [7, 6, 5, 4, 3]

    assert lists.push_many([key], 2, CAP) == [0]
    assert lists.push_many([key], 8, CAP) == [1]
    assert _held(clients, key) == [8, 7, 6, 5, 4]
