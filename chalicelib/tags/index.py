"""Hashtag indexes in Redis, rebuilt from PostgreSQL when missing.

- `tag:{name}`: the tag's media IDs, newest first, capped (an IdLists list: pushes are
  idempotent and go only to lists that exist; a rebuild races no push). Pages past the
  cap are read from PostgreSQL. Nothing is ever taken out: what a page must not show
  (deleted, hidden, untagged since) is filtered when it is read.
- `tags:{names}`: every tag of a ready media, a sorted set of names (scores 0) searched
  by prefix with ZRANGEBYLEX; added to as tags are pushed, rebuilt when missing.
- `tag:{name}:count`: the tag's count of ready media, as PostgreSQL last counted it,
  kept COUNT_SECONDS (so a search shows counts up to that far behind).

A rebuild reads every logical shard with one statement per physical database.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis

from chalicelib import redis_keys
from chalicelib.feed.lists import IdLists
from chalicelib.redis_client import run_scripts
from chalicelib.shards.routing import Router
from chalicelib.tags import queries

# Media a tag list keeps (most readers stay on a tag's first pages); older pages come
# from PostgreSQL.
TAG_CAP = 1_000
# A tag list nobody reads for this long expires (each read pushes it back).
TAG_TTL_SECONDS = 7 * 86400
# How long a tag's count is trusted: search shows counts at most this far behind.
COUNT_SECONDS = 300
# Names written per round trip while the search index is rebuilt.
NAMES_BATCH = 1_000
# Names read per search, beyond those answered, so that tags whose media are all gone
# (count 0, left out) need no second read.
NAMES_SLACK = 10
# The rebuild marker of the names index lives as long as a list's (chalicelib.feed.lists).
REBUILD_MARK_SECONDS = 30
# What an empty but built names index holds, so that it exists (no tag is empty).
_PLACEHOLDER = ""

# KEYS: names, marker. ARGV: tags... Add the tags if the index exists; otherwise a
# rebuild in progress must not store what it read before these tags were there.
_ADD_NAMES = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  return -1
end
for _, name in ipairs(ARGV) do redis.call('ZADD', KEYS[1], 0, name) end
return #ARGV
"""
# KEYS: names, marker, building. ARGV: token. The gathered names become the index
# unless a push or another rebuild came between.
_STORE_NAMES = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DEL', KEYS[2], KEYS[3])
  return 0
end
redis.call('DEL', KEYS[2])
redis.call('ZADD', KEYS[3], 0, '')
redis.call('RENAME', KEYS[3], KEYS[1])
return 1
"""


class TagIndex:
    """Tag lists, the names index and tag counts."""

    def __init__(self, cache: redis.Redis, router: Router) -> None:
        self._cache = cache
        self._router = router
        self._lists = IdLists(cache)
        self._add_names = cache.register_script(_ADD_NAMES)
        self._store_names = cache.register_script(_STORE_NAMES)

    def media_ready(self, media_id: int) -> list[str]:
        """Index a media that became ready under each of its tags; the tags."""
        tags = self._router.run_for_id(media_id, lambda c, s: queries.tags_of_media(c, s, media_id))
        self.tagged(media_id, tags)
        return tags

    def tagged(self, media_id: int, tags: Iterable[str]) -> None:
        """Index a ready media under these tags (idempotent; lists that do not exist are
        left to their rebuild)."""
        names = sorted(set(tags))
        if not names:
            return
        targets = [(redis_keys.tag(n), redis_keys.tag_rebuild(n)) for n in names]
        self._lists.push_many(targets, media_id, TAG_CAP)
        keys = [redis_keys.tag_names(), redis_keys.tag_names_rebuild()]
        run_scripts(self._cache, [(self._add_names, keys, names)])

    def page(self, tag: str, max_id: int, count: int) -> tuple[list[int], bool]:
        """Up to `count` IDs of the tag's media below `max_id`, newest first (before
        filtering), and whether the list had to be rebuilt."""
        key = redis_keys.tag(tag)
        found = self._lists.page(key, max_id, count, ttl_seconds=TAG_TTL_SECONDS)
        rebuilt = found is None
        if found is None:
            ids = self.rebuild(tag)
            found, full = [i for i in ids if i < max_id][:count], len(ids) >= TAG_CAP
        else:
            full = len(found) < count and self._cache.llen(key) >= TAG_CAP
        if len(found) < count and full:
            below = found[-1] if found else max_id
            found = found + self._from_database(tag, below, count - len(found))
        return found, rebuilt

    def rebuild(self, tag: str) -> list[int]:
        """The tag's list from PostgreSQL (stored unless a push raced it); its IDs."""
        marker = redis_keys.tag_rebuild(tag)
        token = self._lists.begin_rebuild(marker)
        ids = self._from_database(tag, 2**63 - 1, TAG_CAP)
        self._lists.store(redis_keys.tag(tag), marker, token, ids, TAG_TTL_SECONDS)
        return ids

    def search(self, prefix: str, count: int) -> list[tuple[str, int]]:
        """Up to `count` tags starting with `prefix`, in name order, with their counts of
        ready media (tags with none left out)."""
        names = self._names_from(prefix, count + NAMES_SLACK)
        counted = self.counts(names)
        return [(name, counted[name]) for name in names if counted[name] > 0][:count]

    def counts(self, tags: list[str]) -> dict[str, int]:
        """Each tag's count of ready media: cached, or counted in PostgreSQL (then cached)."""
        if not tags:
            return {}
        with self._cache.pipeline(transaction=False) as pipe:
            for tag in tags:
                pipe.get(redis_keys.tag_count(tag))
            cached = pipe.execute()
        found = {t: int(c) for t, c in zip(tags, cached, strict=True) if c is not None}
        missing = [t for t in tags if t not in found]
        if missing:
            counted = dict.fromkeys(missing, 0)
            rows = self._router.query_shards(
                self._router.all_shards(), lambda shard, s: queries.counts(s, missing)
            )
            for tag, number in rows:
                counted[tag] += number
            with self._cache.pipeline(transaction=False) as pipe:
                for tag, number in counted.items():
                    pipe.set(redis_keys.tag_count(tag), number, ex=COUNT_SECONDS)
                pipe.execute()
            found.update(counted)
        return found

    def rebuild_names(self) -> list[str]:
        """The names index from PostgreSQL (stored unless a push raced it); the names."""
        marker = redis_keys.tag_names_rebuild()
        token = self._lists.begin_rebuild(marker)
        building = redis_keys.tag_names_building(token)
        rows = self._router.query_shards(self._router.all_shards(), lambda _, s: queries.names(s))
        names = sorted({row[0] for row in rows})
        for start in range(0, len(names), NAMES_BATCH):
            batch = names[start : start + NAMES_BATCH]
            self._cache.zadd(building, dict.fromkeys(batch, 0))
            self._cache.expire(building, REBUILD_MARK_SECONDS)
        keys = [redis_keys.tag_names(), marker, building]
        run_scripts(self._cache, [(self._store_names, keys, [token])])
        return names

    def _names_from(self, prefix: str, limit: int) -> list[str]:
        low = b"[" + prefix.encode()
        high = low + b"\xff"  # never in UTF-8: above every name with the prefix
        with self._cache.pipeline(transaction=False) as pipe:
            pipe.exists(redis_keys.tag_names())
            pipe.zrangebylex(redis_keys.tag_names(), low, high, start=0, num=limit)
            exists, found = pipe.execute()
        if exists:
            return [name.decode() for name in found if name != _PLACEHOLDER.encode()]
        # Code point order is UTF-8's byte order: the order Redis keeps.
        return [name for name in self.rebuild_names() if name.startswith(prefix)][:limit]

    def _from_database(self, tag: str, below: int, limit: int) -> list[int]:
        rows = self._router.query_shards(
            self._router.all_shards(),
            lambda _, s: queries.newest_tagged(s, tag, below, limit),
        )
        return sorted((row[0] for row in rows), reverse=True)[:limit]


def tag_index_of(clients: Any) -> TagIndex:
    """The tag index of a deployment's clients (the API's and fan-out's alike)."""
    return TagIndex(clients.redis, clients.router)
