"""Accounts built in-process on the stack's real tables and Redis, with clocks tests hold.

The API's own objects (chalicelib.api.deps) live in the API process; these are built the
same way, so that a test can stop time, shrink a limit or log in from an address of its
own while reading and writing the very tables and keys the API uses.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator

import pytest

from chalicelib import redis_keys
from chalicelib.accounts.claims import NameClaims
from chalicelib.accounts.service import Accounts, name_holder
from chalicelib.accounts.sessions import Sessions
from chalicelib.accounts.throttle import LoginThrottle
from chalicelib.users.activity import Activity

Clock = Callable[[], float]


@pytest.fixture(scope="session")
def claims_at(settings, clients) -> Callable[[Clock], NameClaims]:
    """`claims_at(clock)`: the name-claims table, as seen by a process with that clock."""

    def make(clock: Clock) -> NameClaims:
        return NameClaims(
            settings.name_claims_table,
            settings.region,
            settings.endpoint_url,
            name_holder(clients.router),
            clock=clock,
        )

    return make


@pytest.fixture(scope="session")
def claims(claims_at) -> NameClaims:
    return claims_at(time.time)


@pytest.fixture(scope="session")
def sessions_at(settings, clients) -> Callable[..., Sessions]:
    """`sessions_at(clock, ttl_seconds=...)`: the sessions table and cache, on that clock."""

    def make(clock: Clock, ttl_seconds: float | None = None) -> Sessions:
        return Sessions(
            settings.sessions_table,
            settings.region,
            settings.endpoint_url,
            clients.redis,
            ttl_seconds=ttl_seconds or settings.auth.session_ttl_days * 86400,
            cache_seconds=settings.auth.session_cache_seconds,
            clock=clock,
        )

    return make


@pytest.fixture(scope="session")
def accounts_with(settings, clients, claims, sessions_at) -> Callable[[LoginThrottle], Accounts]:
    """`accounts_with(throttle)`: the API's Accounts, with a throttle of the test's."""

    def make(throttle: LoginThrottle) -> Accounts:
        activity = Activity(clients.redis, settings.auth.active_window_days * 86400)
        return Accounts(clients.router, claims, sessions_at(time.time), throttle, activity)

    return make


@pytest.fixture
def made_up_address(clients) -> Iterator[str]:
    """A source address of this test's alone (IPv6 documentation range), never 127.0.0.1:
    every HTTP request of every test comes from there, and tripping its limit would lock
    everyone on the shared stack out of POST /sessions."""
    address = f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}:{secrets.token_hex(2)}"
    yield address
    clients.redis.delete(redis_keys.login_failures_by_address(address))
