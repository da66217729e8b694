"""The shard map: its layout, its one compact DynamoDB item with conditional writes, and
each process's cached copy."""

from __future__ import annotations

import pytest

from chalicelib.shards.ids import MAX_SHARDS
from chalicelib.shards.shard_map import (
    MAP_KEY,
    CachedShardMap,
    Move,
    ShardMap,
    ShardMapConflict,
    ShardMapMissing,
    ShardMapStore,
)

TTL_SECONDS = 5.0


class CountingStore(ShardMapStore):
    """The real store (moto), counting how often the map is read."""

    def __init__(self, table_name: str, region: str, host: str | None) -> None:
        super().__init__(table_name, region, host)
        self.loads = 0

    def load(self) -> ShardMap:
        self.loads += 1
        return super().load()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def table_name(map_table_name) -> str:
    return map_table_name


@pytest.fixture
def store(settings, table_name) -> CountingStore:
    return CountingStore(table_name, settings.region, settings.endpoint_url)


def _raw_item(clients, table_name: str) -> dict:
    answer = clients.dynamodb.get_item(
        TableName=table_name, Key={"pk": {"S": MAP_KEY}}, ConsistentRead=True
    )
    return answer["Item"]


def _five_moved() -> ShardMap:
    """16 shards on db0 except shard 5, which moved to db1; shard 9 is on its way there."""
    return (
        ShardMap.spread(16, ["db0"])
        .with_home(5, "db1")
        .with_move(9, Move(target="db1", phase="copied"))
    )


# --- layout -----------------------------------------------------------------------------


def test_spread_gives_each_database_a_contiguous_equal_range():
    shard_map = ShardMap.spread(8, ["db0", "db1"])

    assert shard_map == ShardMap(version=1, homes=("db0",) * 4 + ("db1",) * 4)
    assert shard_map.logical_shards == 8
    assert shard_map.moves == {}


def test_spread_gives_ranges_that_differ_by_at_most_one_shard():
    assert ShardMap.spread(10, ["a", "b", "c"]).homes == ("a",) * 4 + ("b",) * 3 + ("c",) * 3
    # and never leaves a database empty
    assert ShardMap.spread(9, ["a", "b", "c", "d"]).homes == tuple("aaabbccdd")


def test_spread_keeps_the_databases_in_the_order_given():
    assert ShardMap.spread(4, ["db1", "db0"]).homes == ("db1", "db1", "db0", "db0")


def test_spread_takes_every_shard_an_id_can_name():
    assert ShardMap.spread(MAX_SHARDS, ["db0", "db1"]).logical_shards == MAX_SHARDS


@pytest.mark.parametrize(
    ("logical_shards", "databases"),
    [(0, ["db0"]), (-1, ["db0"]), (MAX_SHARDS + 1, ["db0"]), (8, [])],
)
def test_spread_refuses_no_shards_too_many_shards_or_no_databases(logical_shards, databases):
    with pytest.raises(ValueError, match="logical shards"):
        ShardMap.spread(logical_shards, databases)


def test_database_of_and_shards_on_read_the_layout():
    shard_map = _five_moved()

    assert shard_map.database_of(5) == "db1"
    assert shard_map.database_of(15) == "db0"
    assert shard_map.shards_on("db1") == [5]
    assert shard_map.shards_on("db0") == [n for n in range(16) if n != 5]
    assert shard_map.shards_on("nowhere") == []


@pytest.mark.parametrize("shard", [-1, 16, MAX_SHARDS])
def test_database_of_a_shard_outside_the_map_is_a_key_error(shard):
    with pytest.raises(KeyError, match="no logical shard"):
        ShardMap.spread(16, ["db0", "db1"]).database_of(shard)


def test_with_home_returns_a_new_map_and_leaves_the_original_alone():
    original = ShardMap.spread(4, ["db0", "db1"])

    changed = original.with_home(0, "db1")

    assert changed.homes == ("db1", "db0", "db1", "db1")
    assert changed.version == original.version  # the store numbers versions
    assert original.homes == ("db0", "db0", "db1", "db1")


def test_with_move_records_and_clears_a_move_and_leaves_the_original_alone():
    original = ShardMap.spread(4, ["db0", "db1"])
    move = Move(target="db1", phase="recorded")

    recorded = original.with_move(1, move)
    cleared = recorded.with_move(1, None)

    assert recorded.moves == {1: move}
    assert cleared.moves == {}
    assert original.moves == {}
    assert recorded.homes == original.homes


# --- the store --------------------------------------------------------------------------


def test_load_returns_what_was_stored_moves_and_uneven_layout_included(store):
    stored = _five_moved()

    store.create(stored)

    assert store.load() == stored


def test_a_spread_map_without_moves_round_trips(store):
    stored = ShardMap.spread(64, ["db0", "db1"])

    store.create(stored)

    assert store.load() == stored


def test_the_stored_item_holds_ranges_not_one_entry_per_shard(clients, store, table_name):
    store.create(_five_moved())

    item = _raw_item(clients, table_name)

    ranges = [
        (int(r["M"]["first"]["N"]), int(r["M"]["last"]["N"]), r["M"]["database"]["S"])
        for r in item["ranges"]["L"]
    ]
    assert ranges == [(0, 4, "db0"), (5, 5, "db1"), (6, 15, "db0")]
    assert [m["M"]["shard"]["N"] for m in item["moves"]["L"]] == ["9"]
    assert item["version"] == {"N": "1"}


def test_a_map_of_every_possible_shard_is_one_small_item(clients, store, table_name):
    store.create(ShardMap.spread(MAX_SHARDS, ["db0", "db1", "db2"]))

    item = _raw_item(clients, table_name)

    assert len(item["ranges"]["L"]) == 3
    assert store.load().logical_shards == MAX_SHARDS


def test_replace_stores_the_next_version_and_returns_it(store):
    first = ShardMap.spread(16, ["db0", "db1"])
    store.create(first)

    second = store.replace(first, first.with_home(5, "db1"))

    assert second.version == 2
    assert second.database_of(5) == "db1"
    assert store.load() == second


def test_replace_from_a_stale_map_is_a_conflict_and_changes_nothing(store):
    # GIVEN a map someone else has changed since we read it
    first = ShardMap.spread(16, ["db0", "db1"])
    store.create(first)
    theirs = store.replace(first, first.with_home(5, "db1"))

    # WHEN we write our change on top of what we read
    with pytest.raises(ShardMapConflict):
        store.replace(first, first.with_home(6, "db1"))

    # THEN their change stands
    assert store.load() == theirs


def test_replace_when_there_is_no_map_is_a_conflict(store):
    with pytest.raises(ShardMapConflict):
        store.replace(ShardMap.spread(4, ["db0"]), ShardMap.spread(4, ["db1"]))


def test_creating_a_map_twice_is_a_conflict(store):
    first = ShardMap.spread(16, ["db0", "db1"])
    store.create(first)

    with pytest.raises(ShardMapConflict):
        store.create(ShardMap.spread(16, ["db1", "db0"]))
    assert store.load() == first


def test_loading_from_an_empty_table_says_the_map_is_missing(store):
    with pytest.raises(ShardMapMissing, match="db migrate"):
        store.load()


# --- the cached copy --------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cached(store, clock) -> CachedShardMap:
    store.create(ShardMap.spread(16, ["db0", "db1"]))
    store.loads = 0
    return CachedShardMap(store, TTL_SECONDS, clock=clock)


def test_get_reads_the_store_once_within_the_ttl(cached, store, clock):
    first = cached.get()
    clock.now += TTL_SECONDS

    again = cached.get()

    assert again == first
    assert store.loads == 1


def test_get_serves_the_old_copy_within_the_ttl_even_after_a_change(cached, store, clock):
    old = cached.get()
    store.replace(old, old.with_home(0, "db1"))
    clock.now += TTL_SECONDS - 0.1

    assert cached.get() == old
    assert store.loads == 1


def test_get_reads_the_store_again_after_the_ttl(cached, store, clock):
    old = cached.get()
    new = store.replace(old, old.with_home(0, "db1"))
    clock.now += TTL_SECONDS + 0.1

    assert cached.get() == new
    assert store.loads == 2


def test_refresh_reads_the_store_at_once_and_restarts_the_ttl(cached, store, clock):
    old = cached.get()
    new = store.replace(old, old.with_home(0, "db1"))

    refreshed = cached.refresh()
    clock.now += TTL_SECONDS

    assert refreshed == new
    assert cached.get() == new
    assert store.loads == 2
