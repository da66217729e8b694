"""The shard map: logical shard -> physical database, one versioned item in DynamoDB.

The whole map is one item (ranges of logical shards per physical database), so a cold
start reads it in one request, and every change (a shard move) is one conditional
write on its version. Each process keeps a copy for a short TTL, and reads it again
early when a query finds its shard gone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.models import Model

from chalicelib.dynamo import bind, condition_failed
from chalicelib.errors import Conflict, PhotofeedError
from chalicelib.shards.ids import MAX_SHARDS

MAP_KEY = "shard-map"
_log = logging.getLogger(__name__)


class ShardMapMissing(PhotofeedError):
    """Raised when the shard map has not been created yet (run `photofeed db migrate`)."""


class ShardMapConflict(Conflict):
    """Raised when the map changed since it was read (someone else moved a shard)."""


@dataclass(frozen=True)
class Move:
    """A shard move under way: where to, how far it got, and which mover holds it (and
    when that mover last wrote, in Unix seconds)."""

    target: str
    phase: str
    owner: str = ""
    heartbeat: float = 0.0


@dataclass(frozen=True)
class ShardMap:
    """Which physical database holds each logical shard, at one version."""

    version: int
    homes: tuple[str, ...]  # homes[shard] = physical database name
    moves: dict[int, Move] = field(default_factory=dict)

    @property
    def logical_shards(self) -> int:
        return len(self.homes)

    def database_of(self, shard: int) -> str:
        """The physical database that holds `shard`."""
        if not 0 <= shard < len(self.homes):
            raise KeyError(f"no logical shard {shard} (there are {len(self.homes)})")
        return self.homes[shard]

    def shards_on(self, database: str) -> list[int]:
        """Every logical shard the physical database holds."""
        return [shard for shard, home in enumerate(self.homes) if home == database]

    def with_home(self, shard: int, database: str) -> ShardMap:
        """This map with `shard` on `database` (the store numbers the version)."""
        homes = list(self.homes)
        homes[shard] = database
        return replace(self, homes=tuple(homes))

    def with_move(self, shard: int, move: Move | None) -> ShardMap:
        """This map with `shard`'s move recorded, or cleared (the store numbers the version)."""
        moves = {k: v for k, v in self.moves.items() if k != shard}
        if move is not None:
            moves[shard] = move
        return replace(self, moves=moves)

    @classmethod
    def spread(cls, logical_shards: int, databases: list[str]) -> ShardMap:
        """A first map: contiguous, equal ranges of shards over the databases, in order."""
        if not 1 <= logical_shards <= MAX_SHARDS or not databases:
            raise ValueError("need 1..8192 logical shards and at least one database")
        count = len(databases)
        homes = tuple(databases[shard * count // logical_shards] for shard in range(logical_shards))
        return cls(version=1, homes=homes)


class _Range(MapAttribute):
    first = NumberAttribute()
    last = NumberAttribute()
    database = UnicodeAttribute()


class _Move(MapAttribute):
    shard = NumberAttribute()
    target = UnicodeAttribute()
    phase = UnicodeAttribute()
    owner = UnicodeAttribute(default="")
    heartbeat = NumberAttribute(default=0)


def _model(table_name: str, region: str, host: str | None) -> type[Model]:
    class ShardMapItem(Model):
        class Meta:
            pass

        key = UnicodeAttribute(hash_key=True, attr_name="pk")
        version = NumberAttribute()
        ranges = ListAttribute(of=_Range)
        moves = ListAttribute(of=_Move, default=list)

    return bind(ShardMapItem, table_name, region, host)


def _ranges(homes: tuple[str, ...]) -> list[dict[str, Any]]:
    """Runs of consecutive shards on the same database: the compact form of the map."""
    ranges: list[dict[str, Any]] = []
    for shard, home in enumerate(homes):
        if ranges and ranges[-1]["database"] == home:
            ranges[-1]["last"] = shard
        else:
            ranges.append({"first": shard, "last": shard, "database": home})
    return ranges


class ShardMapStore:
    """Reads and writes the one shard-map item (pynamodb)."""

    def __init__(self, table_name: str, region: str, host: str | None) -> None:
        self._model = _model(table_name, region, host)

    def load(self) -> ShardMap:
        """The current map, read consistently."""
        try:
            item = self._model.get(MAP_KEY, consistent_read=True)
        except DoesNotExist:
            raise ShardMapMissing("no shard map yet: run `photofeed db migrate`") from None
        homes: list[str] = []
        for run in item.ranges:
            homes.extend([run.database] * (int(run.last) - int(run.first) + 1))
        moves = {
            int(m.shard): Move(m.target, m.phase, m.owner or "", float(m.heartbeat or 0))
            for m in item.moves or []
        }
        return ShardMap(version=int(item.version), homes=tuple(homes), moves=moves)

    def create(self, shard_map: ShardMap) -> None:
        """Write the first map; ShardMapConflict if one exists already."""
        self._put(shard_map, self._model.key.does_not_exist())

    def replace(self, current: ShardMap, new: ShardMap) -> ShardMap:
        """Write `new` as the next version if the stored map is still `current`: one
        conditional write. Returns what was stored."""
        stored = replace(new, version=current.version + 1)
        self._put(stored, self._model.version == current.version)
        return stored

    def _put(self, shard_map: ShardMap, condition: Any) -> None:
        item = self._model(
            MAP_KEY,
            version=shard_map.version,
            ranges=[_Range(**run) for run in _ranges(shard_map.homes)],
            moves=[
                _Move(
                    shard=shard,
                    target=move.target,
                    phase=move.phase,
                    owner=move.owner,
                    heartbeat=move.heartbeat,
                )
                for shard, move in sorted(shard_map.moves.items())
            ],
        )
        try:
            item.save(condition=condition)
        except PutError as exc:
            if condition_failed(exc):
                raise ShardMapConflict("the shard map changed meanwhile; read it again") from exc
            raise


class CachedShardMap:
    """This process's copy of the map, read again after `ttl_seconds` or on demand."""

    def __init__(
        self,
        store: ShardMapStore,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._map: ShardMap | None = None
        self._read_at = 0.0

    def get(self) -> ShardMap:
        """The map, from the copy while it is fresh."""
        with self._lock:
            if self._map is None or self._clock() - self._read_at > self._ttl:
                self._reload()
            assert self._map is not None
            return self._map

    def refresh(self, at_most_every: float = 0.0) -> ShardMap:
        """Read the map now (a query found its shard gone or read-only), unless it was
        read less than `at_most_every` seconds ago."""
        with self._lock:
            if self._map is None or self._clock() - self._read_at >= at_most_every:
                self._reload()
            assert self._map is not None
            return self._map

    def _reload(self) -> None:
        try:
            self._map = self._store.load()
        except Exception:
            if self._map is None:
                raise
            # DynamoDB did not answer: keep serving the copy we have, and ask again soon.
            _log.warning("shard map reload failed; serving version %s", self._map.version)
        self._read_at = self._clock()
