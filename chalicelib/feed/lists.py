"""Capped lists of media IDs in Redis, newest first: home feeds and recent-media lists.

IDs sort by time, so each list is kept in ID order whatever order events arrive in:
a push inserts at its place (at the head, almost always), never twice, and trims to
the cap. Entries are integers, which Redis packs into listpacks (a few bytes each).

A list exists only once built: pushes go only to lists that exist (a missing list is
rebuilt from PostgreSQL when read), and a rebuild stores its result only if no push
found the list missing since the rebuild began (such a push deletes the rebuild's
marker): an item is never lost between a rebuild's read and its write. Every script
touches one list and its marker, which share a hash tag: fine on Redis Cluster.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import redis

from chalicelib.redis_client import run_scripts

# Lua numbers are doubles: 64-bit IDs would lose their low bits (IDs of one millisecond
# would compare equal). IDs are compared as decimal strings: shorter is smaller.
_LESS = """
local function less(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
"""
# KEYS: list, rebuild marker. ARGV: id, cap. 1 pushed, 0 already there, -1 no list.
# A new media is newer than the head almost always: that case reads one entry, not the
# list (the scan below is for late events).
_PUSH = (
    _LESS
    + """
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then
  redis.call('DEL', KEYS[2])
  return -1
end
local id = ARGV[1]
local cap = tonumber(ARGV[2])
if head == id then return 0 end
if less(head, id) then
  redis.call('LPUSH', KEYS[1], id)
  redis.call('LTRIM', KEYS[1], 0, cap - 1)
  return 1
end
local items = redis.call('LRANGE', KEYS[1], 0, cap - 1)
for i, item in ipairs(items) do
  if item == id then return 0 end
  if less(item, id) then
    redis.call('LINSERT', KEYS[1], 'BEFORE', item, id)
    redis.call('LTRIM', KEYS[1], 0, cap - 1)
    return 1
  end
end
if #items < cap then
  redis.call('RPUSH', KEYS[1], id)
  return 1
end
return 0
"""
)
# KEYS: list, rebuild marker. ARGV: token, ttl seconds, ids (newest first)...
_STORE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DEL', KEYS[2])
  return 0
end
redis.call('DEL', KEYS[2])
if #ARGV > 2 then
  redis.call('RPUSH', KEYS[1], unpack(ARGV, 3))
else
  redis.call('RPUSH', KEYS[1], 0)
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
# KEYS: list. ARGV: max id (exclusive), count, ttl (0: leave it). Up to `count` IDs
# below max id, read in growing windows from the head (a first page reads a little more
# than a page); nil if the list is missing. The placeholder 0 is never returned.
_PAGE = (
    _LESS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
local max_id = ARGV[1]
local count = tonumber(ARGV[2])
local found = {}
local start = 0
local window = count + 1
while true do
  local items = redis.call('LRANGE', KEYS[1], start, start + window - 1)
  for _, item in ipairs(items) do
    if item ~= '0' and less(item, max_id) then
      found[#found + 1] = item
      if #found == count then return found end
    end
  end
  if #items < window then return found end
  start = start + window
  window = window * 2
end
"""
)
# Longer than any rebuild's reads (statements time out within seconds).
REBUILD_MARK_SECONDS = 30
EMPTY = 0  # what an empty but built list holds, so that it exists


class IdLists:
    """Sorted, capped, deduplicated ID lists with guarded rebuilds."""

    def __init__(self, cache: redis.Redis) -> None:
        self._cache = cache
        self._push = cache.register_script(_PUSH)
        self._store = cache.register_script(_STORE)
        self._page = cache.register_script(_PAGE)

    def push_many(self, targets: Iterable[tuple[str, str]], item: int, cap: int) -> list[int]:
        """Push `item` onto each (list, marker) that exists, pipelined: per list, 1 pushed,
        0 there already, -1 missing."""
        return self.push_each([(key, marker, item) for key, marker in targets], cap)

    def push_items(self, key: str, marker: str, items: Iterable[int], cap: int) -> int:
        """Push several IDs onto one list, if it exists, pipelined; how many went in."""
        return sum(1 for r in self.push_each([(key, marker, i) for i in items], cap) if r > 0)

    def push_each(self, pushes: Iterable[tuple[str, str, int]], cap: int) -> list[int]:
        """Push each (list, marker, ID), onto lists that exist, in one pipeline: per push,
        1 pushed, 0 there already, -1 missing."""
        calls = [(self._push, [key, marker], [str(item), cap]) for key, marker, item in pushes]
        return [int(result) for result in run_scripts(self._cache, calls)]

    def page(
        self, key: str, max_id: int, count: int, ttl_seconds: int | None = None
    ) -> list[int] | None:
        """Up to `count` IDs below `max_id`, newest first; None if the list is missing.
        With `ttl_seconds`, the list's expiry is pushed back too. One round trip."""
        found = self._page(keys=[key], args=[str(max_id), count, ttl_seconds or 0])
        return None if found is None else [int(item) for item in found]

    def begin_rebuild(self, marker: str) -> str:
        """Mark a rebuild as started; its token."""
        token = uuid.uuid4().hex
        self._cache.set(marker, token, ex=REBUILD_MARK_SECONDS)
        return token

    def store_empty_many(self, targets: Sequence[tuple[str, str]], ttl_seconds: int) -> int:
        """Build empty lists at once, as rebuilds that found nothing would (two pipelines);
        how many were stored (a list that exists is left as it is)."""
        tokens = [uuid.uuid4().hex for _ in targets]
        with self._cache.pipeline(transaction=False) as pipe:
            for (_, marker), token in zip(targets, tokens, strict=True):
                pipe.set(marker, token, ex=REBUILD_MARK_SECONDS)
            pipe.execute()
        calls = [
            (self._store, [key, marker], [token, ttl_seconds])
            for (key, marker), token in zip(targets, tokens, strict=True)
        ]
        return sum(int(result) for result in run_scripts(self._cache, calls))

    def store(
        self, key: str, marker: str, token: str, ids: Sequence[int], ttl_seconds: int
    ) -> bool:
        """Store a rebuilt list (newest first) unless a push or another rebuild came between."""
        return bool(self._store(keys=[key, marker], args=[token, ttl_seconds, *ids]))
