"""Failed logins, counted per account and per source address, in fixed windows.

The account is named by the caller: its user ID when the login names one (so its
username and e-mail address share one count), else the login as typed, lower-cased, so
an unknown name answers exactly like a known one: the throttle reveals no accounts.
Each count and its window's expiry are set in one script. Redis being down
lets logins through (logged): a guessing attacker cannot take Redis down, and refusing
every login while it restarts would lock everyone out.
"""

from __future__ import annotations

import logging
import math

import redis

from chalicelib import redis_keys
from chalicelib.errors import RateLimited
from chalicelib.redis_client import REDIS_ERRORS, run_scripts

_log = logging.getLogger(__name__)
# KEYS: a counter. ARGV: the window. The window starts at the first failure; a counter
# can never be left without its expiry.
_FAILED = """
local failures = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return failures
"""


class LoginThrottle:
    """Refuses logins for an account or address that failed too often lately."""

    def __init__(
        self,
        cache: redis.Redis,
        per_account: int,
        per_address: int,
        window_seconds: int,
    ) -> None:
        self._cache = cache
        self._failed = cache.register_script(_FAILED)
        self._window = window_seconds
        self._limits = {"account": per_account, "address": per_address}

    def check(self, account: str, address: str) -> None:
        """RateLimited (with the seconds to wait) if either counter is at its limit."""
        keys = self._keys(account, address)
        try:
            with self._cache.pipeline(transaction=False) as pipe:
                for key in keys.values():
                    pipe.get(key)
                    pipe.pttl(key)
                replies = pipe.execute()
        except REDIS_ERRORS:
            _log.warning("login throttle unavailable; letting the attempt through", exc_info=True)
            return
        for index, (scope, limit) in enumerate(self._limits.items()):
            failures, pttl = replies[2 * index], replies[2 * index + 1]
            if failures is not None and int(failures) >= limit:
                retry_after = max(1, math.ceil(pttl / 1000)) if pttl > 0 else self._window
                raise RateLimited(
                    f"too many failed logins for this {scope}; retry later", retry_after
                )

    def failed(self, account: str, address: str) -> None:
        """Count a failed attempt against both the account and the address."""
        try:
            keys = self._keys(account, address).values()
            run_scripts(self._cache, [(self._failed, [key], [self._window]) for key in keys])
        except REDIS_ERRORS:
            _log.warning("login throttle unavailable; failure not counted", exc_info=True)

    def succeeded(self, account: str) -> None:
        """Forget the account's failures (the address's stay counted)."""
        try:
            self._cache.delete(redis_keys.login_failures_by_account(account.lower()))
        except REDIS_ERRORS:
            _log.warning("login throttle unavailable; failures not cleared", exc_info=True)

    def _keys(self, account: str, address: str) -> dict[str, str]:
        return {
            "account": redis_keys.login_failures_by_account(account.lower()),
            "address": redis_keys.login_failures_by_address(address),
        }
