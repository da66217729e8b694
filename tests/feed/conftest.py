"""Fixtures of the feed tests: fan-out with feed settings of the test's choosing."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib.config import FeedSettings
from tests.feed.fanning import Fanning

# The API's password hashing uses both cores of a small machine.
SIGN_UPS_AT_ONCE = 3


@pytest.fixture
def fanning(clients, settings) -> Callable[..., Fanning]:
    """`fanning(chunk_size=100, ...)`: fan-out over the stack, the stack's feed settings
    but for those given."""

    def make(**feed: int) -> Fanning:
        return Fanning(clients, FeedSettings(**{**settings.feed.model_dump(), **feed}))

    return make


@pytest.fixture(scope="session")
def members(sign_up) -> Callable[[int], list[Any]]:
    """`members(count)`: that many new members, signed up side by side (password hashing
    is most of a sign-up's time)."""

    def make(count: int) -> list[Any]:
        with ThreadPoolExecutor(max_workers=SIGN_UPS_AT_ONCE) as pool:
            return list(pool.map(lambda _: sign_up(), range(count)))

    return make
