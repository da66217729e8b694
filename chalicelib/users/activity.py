"""Who is active: users who made an authenticated request within the active window.

Fan-out pushes only to active followers (a returning user's feed is rebuilt instead).
Each user's mark is a Redis key that expires with the window; a process refreshes a
user's mark at most every REFRESH_SECONDS, so a busy user costs no write per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import redis

from chalicelib import redis_keys
from chalicelib.redis_client import REDIS_ERRORS

REFRESH_SECONDS = 300.0
# Bounds the memory of recent marks in a long-lived process.
_MAX_REMEMBERED = 100_000
_log = logging.getLogger(__name__)


class Activity:
    """Marks users active and answers which are."""

    def __init__(
        self,
        cache: redis.Redis,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache = cache
        self._window = int(window_seconds)
        self._clock = clock
        self._marked: dict[int, float] = {}

    def mark(self, user_id: int, *, surely: bool = False) -> None:
        """Record that the user is active now (cheaply, if it was recorded lately; with
        `surely`, written whatever this process remembers: Redis may have lost it)."""
        now = self._clock()
        last = self._marked.get(user_id)
        if not surely and last is not None and now - last < REFRESH_SECONDS:
            return
        try:
            self._cache.set(redis_keys.active(user_id), 1, ex=self._window)
        except REDIS_ERRORS:
            _log.warning("activity not recorded: Redis unavailable", exc_info=True)
            return
        if len(self._marked) >= _MAX_REMEMBERED:
            self._marked.clear()
        self._marked[user_id] = now

    def mark_many(self, user_ids: Iterable[int]) -> None:
        """Record that these users are active now, in one pipeline (`photofeed seed`)."""
        with self._cache.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.set(redis_keys.active(user_id), 1, ex=self._window)
            pipe.execute()

    def active_among(self, user_ids: Iterable[int]) -> set[int]:
        """Which of the users are active (one pipelined round trip)."""
        wanted = list(user_ids)
        with self._cache.pipeline(transaction=False) as pipe:
            for user_id in wanted:
                pipe.exists(redis_keys.active(user_id))
            found = pipe.execute()
        return {user_id for user_id, exists in zip(wanted, found, strict=True) if exists}
