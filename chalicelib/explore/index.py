"""The explore ranking in Redis: `explore`, one sorted set of media IDs.

Score. A like at time t is worth 2^((t - now) / HALF_LIFE): it halves every six hours.
Ranking by the sum of those is ranking by the sum of 2^((t - EPOCH) / HALF_LIFE) (the
factor 2^((EPOCH - now) / HALF_LIFE) is common to all), which never needs rescoring as
time passes. That sum overflows a double within a year, so the set keeps its base-2
logarithm, x = (t - EPOCH) / HALF_LIFE for one like (about 1,460 a year), and a like
adds by log-sum-exp: log2(2^a + 2^b) = max + log2(1 + 2^(min - max)), which stays exact
and finite for any a, b. Scores only grow: an unlike is ignored (it ends when the media
leaves the window or at a rebuild), so a page cursor (score, ID) never shows an item
twice; a media liked past the cursor moves above it and is not shown again (a gap).

Entry. Only ready media of public owners, younger than WINDOW_SECONDS (by ID time),
enter; the set keeps the CAP best (ZREMRANGEBYRANK). Readers filter again (an owner may
go private, a media be deleted) and take out media past the window.

Rebuild. A missing set is rebuilt from PostgreSQL (one statement per physical database,
the same score computed there). While a rebuild runs (its marker is set), likes go to
`pending` and are added in when the rebuilt set is stored: a like both read by the
rebuild and pending counts twice, which a like in flight may; none is lost.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable

import redis

from chalicelib import redis_keys
from chalicelib.explore import queries
from chalicelib.redis_client import run_scripts
from chalicelib.shards.ids import EPOCH_MS, SEQUENCE_BITS, SHARD_BITS
from chalicelib.shards.routing import Router

# A like's worth halves every six hours: a day-old like counts 1/16 of a new one.
HALF_LIFE_SECONDS = 6 * 3600
EPOCH_SECONDS = EPOCH_MS / 1000
# Explore shows media posted this recently (Instagram's is about a week).
WINDOW_SECONDS = 7 * 86400
# Media the set keeps: far more than anyone pages through, a few hundred kB of Redis.
CAP = 10_000
# How long a rebuild may take before its marker (and pending likes) expire.
REBUILD_MARK_SECONDS = 60
# Items read beyond a page: the cursor's own item and its ties come back too.
TIE_SLACK = 10
# What a built but empty set holds, so that it exists; never a media ID.
PLACEHOLDER = "0"

# Position of an item in the ranking: (score, member), highest first.
Ranked = tuple[float, str]

_LOG_SUM = """
local function add(key, member, x)
  local current = redis.call('ZSCORE', key, member)
  if current then
    local c = tonumber(current)
    local high, low = math.max(c, x), math.min(c, x)
    x = high + math.log(1 + 2 ^ (low - high)) / math.log(2)
  end
  redis.call('ZADD', key, x, member)
end
local function trim(key, cap)
  local extra = redis.call('ZCARD', key) - cap
  if extra > 0 then redis.call('ZREMRANGEBYRANK', key, 0, extra - 1) end
end
"""
# KEYS: set, marker, pending. ARGV: media, x, cap. Into the set if it exists, into
# pending while a rebuild runs, else nowhere (the next read rebuilds, with this like).
_LIKED = (
    _LOG_SUM
    + """
local x = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 1 then
  add(KEYS[1], ARGV[1], x)
  trim(KEYS[1], tonumber(ARGV[3]))
  return 1
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  add(KEYS[3], ARGV[1], x)
  redis.call('EXPIRE', KEYS[3], redis.call('TTL', KEYS[2]))
  return 0
end
return -1
"""
)
# KEYS: set, marker, pending. ARGV: token, cap, then (member, x) pairs. Store the
# rebuilt set with the pending likes added, unless another rebuild took over or the set
# exists already.
_STORE = (
    _LOG_SUM
    + """
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('ZADD', KEYS[1], '-inf', ARGV[3])
for i = 4, #ARGV, 2 do redis.call('ZADD', KEYS[1], tonumber(ARGV[i + 1]), ARGV[i]) end
local pending = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
for i = 1, #pending, 2 do add(KEYS[1], pending[i], tonumber(pending[i + 1])) end
trim(KEYS[1], tonumber(ARGV[2]))
redis.call('DEL', KEYS[2], KEYS[3])
return 1
"""
)


def exponent(unix_seconds: float) -> float:
    """The log2 score of one like at this time."""
    return (unix_seconds - EPOCH_SECONDS) / HALF_LIFE_SECONDS


def oldest_id(now: float) -> int:
    """The smallest ID a media may have to be in the window at `now`."""
    elapsed_ms = max(0, int((now - WINDOW_SECONDS) * 1000) - EPOCH_MS)
    return elapsed_ms << (SHARD_BITS + SEQUENCE_BITS)


class ExploreIndex:
    """The `explore` sorted set: likes in, ranked pages out, rebuilt when missing."""

    def __init__(
        self, cache: redis.Redis, router: Router, clock: Callable[[], float] = time.time
    ) -> None:
        self._cache = cache
        self._router = router
        self._clock = clock
        self._liked = cache.register_script(_LIKED)
        self._store = cache.register_script(_STORE)

    def liked(self, media_id: int) -> None:
        """Count a new like of a ready media of a public owner (media past the window are
        left out)."""
        now = self._clock()
        if media_id < oldest_id(now):
            return
        args = [media_id, repr(exponent(now)), CAP]
        run_scripts(self._cache, [(self._liked, _keys(), args)])

    def page(self, after: Ranked | None, limit: int) -> tuple[list[Ranked], bool]:
        """Up to `limit` items ranked below `after`, best first (before filtering), and
        whether the set had to be rebuilt."""
        top = "+inf" if after is None else _bound(after[0])
        with self._cache.pipeline(transaction=False) as pipe:
            pipe.exists(redis_keys.explore())
            pipe.zrevrangebyscore(
                redis_keys.explore(), top, "-inf", start=0, num=limit + TIE_SLACK, withscores=True
            )
            exists, found = pipe.execute()
        if exists:
            ranked = [(score, member.decode()) for member, score in found]
            return _below(ranked, after)[:limit], False
        return _below(self.rebuild(), after)[:limit], True

    def forget(self, media_ids: list[int]) -> None:
        """Take media out of the set (past the window)."""
        if media_ids:
            self._cache.zrem(redis_keys.explore(), *media_ids)

    def rebuild(self) -> list[Ranked]:
        """The set from PostgreSQL (stored unless another rebuild took over); its items,
        best first, pending likes not included."""
        token = uuid.uuid4().hex
        self._cache.set(redis_keys.explore_rebuild(), token, ex=REBUILD_MARK_SECONDS)
        oldest = oldest_id(self._clock())
        rows = self._router.query_shards(
            self._router.all_shards(),
            lambda _, s: queries.scores(
                s,
                oldest=oldest,
                epoch=EPOCH_SECONDS,
                half_life=HALF_LIFE_SECONDS,
                cap=CAP,
            ),
        )
        ranked = sorted(((float(score), str(i)) for i, score in rows), reverse=True)[:CAP]
        pairs = [value for score, member in ranked for value in (member, repr(score))]
        run_scripts(self._cache, [(self._store, _keys(), [token, CAP, PLACEHOLDER, *pairs])])
        return ranked


def _keys() -> list[str]:
    return [redis_keys.explore(), redis_keys.explore_rebuild(), redis_keys.explore_pending()]


def _bound(score: float) -> str:
    return repr(score) if math.isfinite(score) else ("+inf" if score > 0 else "-inf")


def _below(ranked: list[Ranked], after: Ranked | None) -> list[Ranked]:
    """The items ranked below `after`, placeholder left out. Redis orders equal scores by
    member, bytewise: the cursor's member breaks ties the same way."""
    return [r for r in ranked if r[1] != PLACEHOLDER and (after is None or r < after)]
