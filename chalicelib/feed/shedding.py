"""Load shedding for feed reads: a switch operators flip without a deploy.

While on, feed pages are shorter and skip pulling celebrities' media (their followers
see those again once it is off). The switch is a Redis key (`photofeed feed shedding
on|off`); each process reads it at most every few seconds. A flushed Redis turns it off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from chalicelib import redis_keys
from chalicelib.redis_client import REDIS_ERRORS

READ_EVERY_SECONDS = 5.0
_log = logging.getLogger(__name__)


class LoadShedding:
    """The switch, as this process last read it."""

    def __init__(self, cache: redis.Redis, clock: Callable[[], float] = time.monotonic) -> None:
        self._cache = cache
        self._clock = clock
        self._read_at = float("-inf")
        self._on = False

    def on(self) -> bool:
        """Whether feed reads shed now."""
        now = self._clock()
        if now - self._read_at >= READ_EVERY_SECONDS:
            try:
                self._on = self._cache.get(redis_keys.feed_shedding()) == b"on"
            except REDIS_ERRORS:
                _log.warning("load-shedding switch unreadable; keeping the last value")
            self._read_at = now
        return self._on

    def set(self, on: bool) -> None:
        """Flip the switch (processes follow within READ_EVERY_SECONDS)."""
        if on:
            self._cache.set(redis_keys.feed_shedding(), "on")
        else:
            self._cache.delete(redis_keys.feed_shedding())
        self._read_at = float("-inf")
