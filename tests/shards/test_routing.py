"""The router: work goes to a shard's home, follows a moved shard, queries many shards at once."""

from __future__ import annotations

import pytest
from psycopg2 import sql

from chalicelib.errors import DependencyUnavailable
from chalicelib.shards.connections import Databases
from chalicelib.shards.ids import MAX_SHARDS, decode
from chalicelib.shards.migrations import load_migrations
from chalicelib.shards.moves import MoveInterrupted, ShardMove
from chalicelib.shards.routing import DatabaseUnavailable, Router, ShardUnavailable
from chalicelib.shards.shard_map import CachedShardMap, ShardMap, ShardMapStore
from devstack.processes import free_port
from tests.shards.conftest import add_user


def _insert_like(media_id: int, user_id: int):
    def work(conn, schema):
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("INSERT INTO {}.likes (media_id, user_id) VALUES (%s, %s)").format(schema),
                [media_id, user_id],
            )

    return work


def _add_user(name: str):
    return lambda conn, schema: add_user(conn, schema, name)


def _move(private, shard: int, target: str, **kwargs) -> ShardMove:
    return ShardMove(private.databases, private.store, load_migrations(), shard, target, **kwargs)


def test_work_runs_on_the_shards_home_and_is_committed(private):
    shard = private.shards[0]
    user_id = private.router.run(shard, _add_user("ada"))

    assert decode(user_id).shard == shard
    assert private.rows("db0", shard, "users", "id") == [(user_id,)]


def test_work_for_an_id_goes_to_the_shard_the_id_names(private):
    shard = private.shards[1]
    user_id = private.router.run(shard, _add_user("bob"))

    def read(conn, schema):
        with conn.cursor() as cursor:
            cursor.execute(sql.SQL("SELECT username FROM {}.users WHERE id = %s").format(schema),
                           [user_id])  # fmt: skip
            return cursor.fetchone()[0]

    assert private.router.run_for_id(user_id, read) == "bob"


def test_work_that_fails_is_rolled_back(private):
    shard = private.shards[0]

    def half_then_fail(conn, schema):
        _insert_like(1, 1)(conn, schema)
        raise RuntimeError("the caller's own error")

    with pytest.raises(RuntimeError):
        private.router.run(shard, half_then_fail)
    assert private.rows("db0", shard, "likes") == []


def test_one_query_reads_many_shards_on_both_databases(private):
    # GIVEN rows on two shards of db0 and one shard moved to db1
    first, second, third = private.shards
    for shard in private.shards:
        private.router.run(shard, _insert_like(shard, 1))
    _move(private, third, "db1").run()

    # WHEN one call asks all three shards
    rows = private.router.query_shards(
        private.shards,
        lambda shard, schema: (
            sql.SQL("SELECT %s::int, media_id FROM {}.likes").format(schema),
            [shard],
        ),
    )

    # THEN every shard answered, wherever it lives
    assert sorted(rows) == [(first, first), (second, second), (third, third)]


def test_work_follows_a_shard_that_moved_behind_a_stale_map(private):
    # GIVEN a router whose copy of the map is fresh for a minute
    shard = private.shards[0]
    router = private.router
    router.run(shard, _insert_like(1, 1))

    # WHEN the shard moves under it (its old schema is dropped)
    _move(private, shard, "db1").run()

    # THEN its next work finds the schema gone, reads the map again and goes to db1
    router.run(shard, _insert_like(2, 1))
    assert private.rows("db1", shard, "likes", "media_id") == [(1,), (2,)]


def test_work_on_a_shard_that_stays_read_only_gives_up_as_unavailable(private, clients):
    # GIVEN a move stopped while its shard is read-only
    shard = private.shards[0]
    with pytest.raises(MoveInterrupted):
        _move(private, shard, "db1", halt_after="read_only").run()
    impatient = Router(clients.databases, CachedShardMap(private.store, 60), retry_seconds=0.3)

    # WHEN work keeps finding it read-only THEN it gives up with ShardUnavailable (503)
    with pytest.raises(ShardUnavailable):
        impatient.run(shard, _insert_like(1, 1))
    # AND a shard beside it takes the same work at once
    impatient.run(private.shards[1], _insert_like(1, 1))
    _move(private, shard, "db1").rollback()


def test_query_shards_of_nothing_is_no_rows(private):
    assert private.router.query_shards([], lambda shard, schema: (sql.SQL("SELECT 1"), [])) == []


def test_a_database_that_is_down_fails_its_work_and_leaves_its_shards_out_of_partial_reads(
    settings, map_table_name
):
    # GIVEN shard 1 on a database that refuses connections, shards 0 and 2 on db0
    homes = ["db0"] * MAX_SHARDS
    homes[1] = "db1"
    store = ShardMapStore(map_table_name, settings.region, settings.endpoint_url)
    store.create(ShardMap(version=1, homes=tuple(homes)))
    down = f"postgresql://photofeed@127.0.0.1:{free_port()}/none"
    databases = Databases({"db0": str(settings.databases["db0"]), "db1": down})
    router = Router(databases, CachedShardMap(store, ttl_seconds=60))

    def query(shard, schema):
        return sql.SQL("SELECT %s::int"), [shard]

    # WHEN a read that may be partial asks all three THEN db0's shards answer
    reached = router.query_reachable_shards([0, 1, 2], query)
    assert sorted(reached.rows) == [(0,), (2,)]
    assert reached.unreached == {1}
    # AND work or a whole query touching shard 1 fails as a dependency down (a 503)
    with pytest.raises(DatabaseUnavailable) as failed:
        router.query_shards([0, 1, 2], query)
    assert isinstance(failed.value, DependencyUnavailable)
    assert failed.value.details == {"database": "db1"}
    with pytest.raises(DatabaseUnavailable):
        router.run(1, lambda conn, schema: None)
    databases.close()
