"""Sessions: opaque bearer tokens, durable in DynamoDB and cached in Redis.

A token is 256 random bits. Only its SHA-256 is stored: a leaked table or cache holds
no usable token, and a fast hash is enough for a secret that random. The DynamoDB item
is the truth (a Redis flush logs nobody out); Redis caches it for a few minutes.
Revoking deletes the item, then overwrites the cache entry with a tombstone that a
late cache fill (SET NX) cannot replace.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PynamoDBConnectionError
from pynamodb.models import Model

from chalicelib import redis_keys
from chalicelib.dynamo import bind, unavailable
from chalicelib.errors import DependencyUnavailable, Unauthenticated
from chalicelib.redis_client import REDIS_ERRORS

TOKEN_PREFIX = "pf_"  # noqa: S105 (a prefix that makes leaked tokens easy to scan for)
_TOKEN_BYTES = 32  # 256 bits
_TOKEN = re.compile(TOKEN_PREFIX + r"[A-Za-z0-9_-]{43}")
_REVOKED = "revoked"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Session:
    """A session as its owner sees it once, at log-in: the token is never shown again."""

    token: str
    user_id: int
    expires_at: int  # epoch seconds


def _model(table_name: str, region: str, host: str | None) -> type[Model]:
    class SessionItem(Model):
        class Meta:
            pass

        key = UnicodeAttribute(hash_key=True, attr_name="pk")  # the token's SHA-256
        user_id = NumberAttribute()
        created_at = NumberAttribute()
        expires_at = NumberAttribute()  # the table's TTL attribute

    return bind(SessionItem, table_name, region, host)


def token_digest(token: str) -> str:
    """What is stored of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """Creates, checks and revokes sessions."""

    def __init__(
        self,
        table_name: str,
        region: str,
        host: str | None,
        cache: redis.Redis,
        *,
        ttl_seconds: float,
        cache_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._model = _model(table_name, region, host)
        self._table = table_name
        self._cache = cache
        self._ttl_seconds = ttl_seconds
        self._cache_seconds = cache_seconds
        self._clock = clock

    def create(self, user_id: int) -> Session:
        """A new session for `user_id`."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)
        now = self._clock()
        expires_at = int(now + self._ttl_seconds)
        item = self._model(
            token_digest(token), user_id=user_id, created_at=int(now), expires_at=expires_at
        )
        try:
            item.save()
        except PynamoDBConnectionError as exc:
            raise unavailable(exc, self._table) from exc
        return Session(token, user_id, expires_at)

    def user_of(self, token: str) -> int:
        """The user a live session's token belongs to; Unauthenticated otherwise."""
        if not _TOKEN.fullmatch(token):
            raise Unauthenticated("the bearer token is malformed")
        digest = token_digest(token)
        cached = self._cached(digest)
        if cached == _REVOKED:
            raise _ended()
        if cached:
            user_id, expires_at = (int(part) for part in cached.split(":"))
        else:
            user_id, expires_at = self._stored(digest)
            self._fill(digest, user_id, expires_at)
        if expires_at <= self._clock():
            raise _ended()
        return user_id

    def revoke(self, token: str) -> None:
        """End a session now, everywhere."""
        digest = token_digest(token)
        try:
            self._model(digest).delete()
        except PynamoDBConnectionError as exc:
            raise unavailable(exc, self._table) from exc
        try:
            self._cache.set(redis_keys.session(digest), _REVOKED, ex=self._cache_seconds)
        except REDIS_ERRORS as exc:
            # The cached entry would outlive the item for a few minutes: make the client retry.
            raise DependencyUnavailable("the session cache did not answer; retry") from exc

    def _cached(self, digest: str) -> str | None:
        try:
            value = self._cache.get(redis_keys.session(digest))
        except REDIS_ERRORS:
            _log.warning("session cache unavailable; reading DynamoDB", exc_info=True)
            return None
        return value.decode() if value is not None else None

    def _stored(self, digest: str) -> tuple[int, int]:
        try:
            item = self._model.get(digest, consistent_read=True)
        except DoesNotExist:
            raise _ended() from None
        except PynamoDBConnectionError as exc:
            raise unavailable(exc, self._table) from exc
        return int(item.user_id), int(item.expires_at)

    def _fill(self, digest: str, user_id: int, expires_at: int) -> None:
        seconds = min(self._cache_seconds, math.ceil(expires_at - self._clock()))
        if seconds <= 0:
            return
        try:
            # NX: a revocation's tombstone, written meanwhile, wins.
            self._cache.set(
                redis_keys.session(digest), f"{user_id}:{expires_at}", nx=True, ex=seconds
            )
        except REDIS_ERRORS:
            _log.warning("session cache unavailable; not caching", exc_info=True)


def _ended() -> Unauthenticated:
    return Unauthenticated("the session has expired or was revoked")
