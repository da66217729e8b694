"""Redis as the domain uses it (chalicelib.redis_client): pipelined scripts survive a
server that forgot them, the AUTH token comes from its secret and follows a rotation,
and a cluster that cannot be reached is a Redis error like any other."""

from __future__ import annotations

import pytest
from redis.exceptions import AuthenticationError, ConnectionError

from chalicelib import redis_keys
from chalicelib.accounts.throttle import LoginThrottle
from chalicelib.feed.lists import EMPTY, IdLists
from chalicelib.redis_client import REDIS_ERRORS, LazyCluster, SecretToken, run_scripts
from tests.feed.fanning import made_up_user_ids


@pytest.fixture
def feeds(clients):
    """Three built, empty feeds of made-up users; removed after."""
    users = made_up_user_ids(3)
    pairs = [(redis_keys.feed(u), redis_keys.feed_rebuild(u)) for u in users]
    lists = IdLists(clients.redis)
    for key, marker in pairs:
        assert lists.store(key, marker, lists.begin_rebuild(marker), [], ttl_seconds=60)
    yield lists, pairs
    clients.redis.delete(*(k for pair in pairs for k in pair))


def _held(clients, key: str) -> list[int]:
    """The IDs a list holds, without the marker of a built empty list."""
    return [int(i) for i in clients.redis.lrange(key, 0, -1) if int(i) != EMPTY]


def test_pipelined_scripts_run_once_each_and_in_order_after_the_server_forgot_them(clients, feeds):
    # GIVEN a server that lost its scripts (a restart, a failover, a new node)
    lists, pairs = feeds
    clients.redis.script_flush()

    # WHEN one pipeline pushes two IDs onto three feeds, the second push a duplicate
    first = lists.push_many(pairs, 7, cap=10)
    again = lists.push_many(pairs, 7, cap=10)

    # THEN each push ran exactly once, and the duplicate was refused
    assert first == [1, 1, 1]
    assert again == [0, 0, 0]
    assert [_held(clients, key) for key, _ in pairs] == [[7]] * 3


def test_a_script_forgotten_mid_batch_keeps_the_batchs_order(clients, feeds):
    # GIVEN one list and a batch of pushes of newer and newer IDs onto it
    lists, pairs = feeds
    key, marker = pairs[0]
    clients.redis.script_flush()

    # WHEN they run in one batch whose script the server does not know
    results = run_scripts(
        clients.redis, [(lists._push, [key, marker], [str(i), 10]) for i in (1, 2, 3)]
    )

    # THEN all ran, once, in order: newest first
    assert results == [1, 1, 1]
    assert _held(clients, key) == [3, 2, 1]


def test_failed_logins_are_counted_after_the_server_forgot_the_script(clients):
    throttle = LoginThrottle(clients.redis, per_account=3, per_address=100, window_seconds=60)
    name = f"forgot-{made_up_user_ids(1)[0]}"
    clients.redis.script_flush()

    for _ in range(3):
        throttle.failed(name, "192.0.2.7")

    failures = clients.redis.get(redis_keys.login_failures_by_account(name))
    assert int(failures) == 3


def test_the_auth_token_is_read_once_then_again_after_its_time_to_live():
    tokens = iter(["first", "rotated"])
    reads = []

    def read() -> str:
        reads.append(1)
        return next(tokens)

    provider = SecretToken(read, ttl_seconds=0.05)

    assert provider.get_credentials() == ("first",)
    assert provider.get_credentials() == ("first",)
    assert len(reads) == 1
    __import__("time").sleep(0.06)
    assert provider.get_credentials() == ("rotated",)


def test_an_unreadable_auth_secret_is_a_redis_error_that_names_no_secret():
    def read() -> str:
        raise KeyError("s3cr3t-value")

    with pytest.raises(AuthenticationError) as raised:
        SecretToken(read).get_credentials()

    assert isinstance(raised.value, REDIS_ERRORS)
    assert "s3cr3t" not in str(raised.value)


def test_a_cluster_that_cannot_be_built_is_a_connection_error_at_its_first_command():
    def connect():
        raise RuntimeError("secrets manager unreachable")

    cluster = LazyCluster(connect)
    script = cluster.register_script("return 1")  # no connection needed

    assert len(script.sha) == 40
    with pytest.raises(ConnectionError):
        cluster.ping()
