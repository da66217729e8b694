"""Activity lists in Redis: a sorted set per user, entries scored by time, capped.

A sorted set rather than a list (the feed's shape): entries are not integers that sort
by themselves, and a member names its event, so ZADD deduplicates a repeated push and
keeps the order by time whatever order pushes arrive in, with no scan in Lua.

As with feeds (chalicelib.feed.lists): pushes go only to lists that exist (a missing
list is rebuilt from PostgreSQL at its next read), and a rebuild stores its result only
if no push found the list missing since the rebuild began (such a push deletes the
rebuild's marker). Each script touches a list and its marker, which share a hash tag.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import redis

from chalicelib import redis_keys
from chalicelib.activity.entries import Entry, decode
from chalicelib.redis_client import run_scripts

# Entries a list keeps: a few pages; under Redis's listpack limit for sorted sets (128).
CAP = 100
# An unread list goes after a week (it is rebuilt when read again); each read renews it.
LIST_SECONDS = 7 * 86400
# Longer than any rebuild's reads (statements time out within seconds).
REBUILD_MARK_SECONDS = 30
# What an empty but built list holds, so that it exists (scored 0: trimmed first).
_PLACEHOLDER = "0"

# KEYS: list, marker. ARGV: cap, score, member. 1 stored, -1 no list.
_PUSH = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  return -1
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[1]) + 1))
return 1
"""
# KEYS: list, marker. ARGV: token, ttl seconds, then score, member pairs.
_STORE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DEL', KEYS[2])
  return 0
end
redis.call('DEL', KEYS[2])
redis.call('ZADD', KEYS[1], 0, '0')
if #ARGV > 2 then
  redis.call('ZADD', KEYS[1], unpack(ARGV, 3))
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


class ActivityLists:
    """Users' activity entries in Redis."""

    def __init__(self, cache: redis.Redis) -> None:
        self._cache = cache
        self._push = cache.register_script(_PUSH)
        self._store = cache.register_script(_STORE)

    def push(self, user_id: int, entry: Entry) -> bool:
        """Add an entry to the user's list if it exists; whether it did."""
        keys = [redis_keys.activity(user_id), redis_keys.activity_rebuild(user_id)]
        (result,) = run_scripts(
            self._cache, [(self._push, keys, [CAP, entry.micros, entry.member])]
        )
        return int(result) > 0

    def read(self, user_id: int) -> list[Entry] | None:
        """Every entry of the user's list, newest first (its expiry renewed); None if the
        list is missing. One round trip."""
        key = redis_keys.activity(user_id)
        with self._cache.pipeline(transaction=False) as pipe:
            pipe.zrevrange(key, 0, -1, withscores=True)
            pipe.expire(key, LIST_SECONDS)
            members, _ = pipe.execute()
        if not members:
            return None
        found = (decode(member, score) for member, score in members)
        return [entry for entry in found if entry is not None]

    def begin_rebuild(self, user_id: int) -> str:
        """Mark a rebuild of the user's list as started; its token."""
        token = uuid.uuid4().hex
        self._cache.set(redis_keys.activity_rebuild(user_id), token, ex=REBUILD_MARK_SECONDS)
        return token

    def store(self, user_id: int, token: str, entries: Sequence[Entry]) -> bool:
        """Store a rebuilt list unless a push or another rebuild came between."""
        pairs = [value for e in entries[:CAP] for value in (e.micros, e.member)]
        keys = [redis_keys.activity(user_id), redis_keys.activity_rebuild(user_id)]
        return bool(self._store(keys=keys, args=[token, LIST_SECONDS, *pairs]))
