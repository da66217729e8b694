"""Followers and following counts: cached in Redis, rebuilt from PostgreSQL, never losing
an increment to a rebuild that read before it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from chalicelib import redis_keys
from chalicelib.graph import store as graph_store
from chalicelib.graph.service import Graph
from chalicelib.users.counters import COUNTS_TTL_SECONDS, FIELDS, Counters, Counts
from tests.answers import follow_rows


def cached_counts(clients, user_id: int) -> dict[str, int]:
    stored = clients.redis.hgetall(redis_keys.counts(user_id))
    return {name.decode(): int(value) for name, value in stored.items()}


def follower_counts(profile: dict) -> dict[str, int]:
    return {name: profile["counts"][name] for name in ("followers", "following")}


class CountingAround:
    """A router through which a writer acts right before, or right after, each count a
    rebuild makes: between the rebuild's marker and its store."""

    def __init__(self, router, writer: Callable[[], None], before: bool) -> None:
        self._router = router
        self._writer = writer
        self._before = before

    def run_for_id(self, object_id: int, work):
        if self._before:
            self._writer()
        counted = self._router.run_for_id(object_id, work)
        if not self._before:
            self._writer()
        return counted


class CountingLate:
    """Counters for a slow writer: it announces its writes on time, but the changes it
    committed reach Redis only at `catch_up`."""

    def __init__(self, counters: Counters) -> None:
        self._counters = counters
        self._late: list[tuple[list[int], list[tuple[int, str, int]]]] = []

    @contextmanager
    def changing(self, user_ids) -> Iterator[list[tuple[int, str, int]]]:
        users = list(user_ids)
        changes: list[tuple[int, str, int]] = []
        self._counters.announce(users)
        yield changes
        self._late.append((users, changes))

    def catch_up(self) -> None:
        for users, changes in self._late:
            self._counters.settle(users, changes)
        self._late.clear()


@pytest.fixture
def counters(clients) -> Counters:
    return Counters(clients.redis, clients.router)


def test_profile_counts_match_the_database_after_follows(clients, sign_up):
    # GIVEN two follows of `star` and one by it
    star, fan, other = sign_up(), sign_up(), sign_up()
    for follower, followed in ((fan, star), (other, star), (star, fan)):
        assert follower.post(f"/users/{followed.id}/follow").status_code == 200

    # WHEN anyone looks at its profile
    seen_by_others = follower_counts(fan.get(f"/users/{star.id}").json())
    seen_by_itself = follower_counts(star.get("/users/me").json())

    # THEN the counts are the rows
    assert seen_by_others == seen_by_itself == {"followers": 2, "following": 1}
    assert follow_rows(clients.router, star.id) == seen_by_itself


def test_unfollowing_takes_the_count_back_down(clients, sign_up):
    star, fan = sign_up(), sign_up()
    fan.post(f"/users/{star.id}/follow")

    assert fan.delete(f"/users/{star.id}/follow").status_code == 200

    assert follower_counts(fan.get(f"/users/{star.id}").json()) == {"followers": 0, "following": 0}
    assert follower_counts(fan.get("/users/me").json()) == {"followers": 0, "following": 0}
    assert follow_rows(clients.router, star.id)["followers"] == 0


def test_counts_are_rebuilt_from_postgresql_once_their_key_is_gone(clients, sign_up):
    # GIVEN cached counts that miss a follower row written behind their back
    star, fan = sign_up(), sign_up()
    fan.post(f"/users/{star.id}/follow")
    clients.router.run_for_id(
        star.id,
        lambda conn, schema: graph_store.add(conn, schema, "followers", star.id, 12345),
    )
    assert star.get("/users/me").json()["counts"]["followers"] == 1  # Redis answers

    # WHEN the cached counts are deleted
    assert clients.redis.delete(redis_keys.counts(star.id)) == 1

    # THEN the next read counts the rows again, and caches what it counted
    assert star.get("/users/me").json()["counts"]["followers"] == 2
    assert cached_counts(clients, star.id) == {"media": 0, "followers": 2, "following": 0}
    assert 0 < clients.redis.ttl(redis_keys.counts(star.id)) <= COUNTS_TTL_SECONDS


def test_a_rebuild_nobody_interrupts_stores_every_counter(clients, counters, sign_up):
    member = sign_up()
    clients.redis.delete(redis_keys.counts(member.id))

    counts = counters.get(member.id)

    assert counts == Counts(media=0, followers=0, following=0)
    assert set(cached_counts(clients, member.id)) == set(FIELDS)
    assert not clients.redis.exists(redis_keys.counts_rebuild(member.id))


def test_an_increment_with_no_counts_cached_leaves_them_to_the_next_rebuild(
    clients, counters, sign_up
):
    member = sign_up()
    clients.redis.delete(redis_keys.counts(member.id))

    counters.add([(member.id, "followers", +1)])

    assert not clients.redis.exists(redis_keys.counts(member.id))


@pytest.mark.parametrize("before", [True, False], ids=["before-the-count", "after-the-count"])
def test_a_follow_during_a_rebuild_is_never_lost(clients, counters, sign_up, before):
    # GIVEN a user with no counts cached, and a rebuild of them during which someone
    # follows the user (committed and counted, right before or right after the count)
    star, fan = sign_up(), sign_up()
    clients.redis.delete(redis_keys.counts(star.id))
    graph = Graph(clients.router, counters)
    follow = CountingAround(clients.router, lambda: graph.follow(fan.id, star.id), before)
    rebuilding = Counters(clients.redis, follow)

    # WHEN the rebuild finishes
    rebuilding.get(star.id)

    # THEN what it left in Redis is right, or it left nothing; and every read is right
    truth = follow_rows(clients.router, star.id)
    assert truth == {"followers": 1, "following": 0}
    cached = cached_counts(clients, star.id)
    assert cached in ({}, {"media": 0, **truth})
    assert counters.get(star.id) == Counts(media=0, **truth)
    assert star.get("/users/me").json()["counts"]["followers"] == 1


def test_a_follow_committed_before_a_rebuilds_count_but_counted_after_its_store_counts_once(
    clients, counters, sign_up
):
    # GIVEN a user with no counts cached, and a slow writer whose follow commits right
    # before a rebuild counts the rows, but whose increment reaches Redis only after the
    # rebuild stored what it counted (a GC pause, a Redis retry: no process dies)
    star, fan = sign_up(), sign_up()
    clients.redis.delete(redis_keys.counts(star.id))
    slow = CountingLate(counters)
    follow = CountingAround(
        clients.router, lambda: Graph(clients.router, slow).follow(fan.id, star.id), before=True
    )
    Counters(clients.redis, follow).get(star.id)

    # WHEN the writer's increment arrives
    slow.catch_up()

    # THEN the follow is counted once: the rebuild's count already held it
    assert follow_rows(clients.router, star.id)["followers"] == 1
    assert cached_counts(clients, star.id) in ({}, {"media": 0, "followers": 1, "following": 0})
    assert star.get("/users/me").json()["counts"]["followers"] == 1
