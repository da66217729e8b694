"""Moving a logical shard: nothing lost, no ID changed, other shards never disturbed,
and a move stopped at any step can be finished or undone."""

from __future__ import annotations

import threading
import time

import psycopg2.errors
import pytest
from psycopg2 import sql

from chalicelib.errors import Conflict, InvalidInput
from chalicelib.shards.ids import decode
from chalicelib.shards.migrations import Migration, applied_version, load_migrations
from chalicelib.shards.moves import (
    READ_ONLY_TRIGGER,
    ROLLING_BACK,
    STEPS,
    MoveInterrupted,
    ShardMove,
)
from chalicelib.shards.schema import schema
from chalicelib.shards.shard_map import Move
from tests.shards.conftest import add_user


def _mover(private, shard: int, target: str = "db1", **kwargs) -> ShardMove:
    return ShardMove(
        databases=private.databases,
        store=private.store,
        migrations=load_migrations(),
        shard=shard,
        target=target,
        **kwargs,
    )


def _add_comment(conn, schema, body: str) -> int:
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "INSERT INTO {}.comments (media_id, author_id, body) VALUES (%s, %s, %s)"
                " RETURNING id"
            ).format(schema),
            [1, 2, body],
        )
        return cursor.fetchone()[0]


def _seed(private, shard: int) -> dict[str, list[tuple]]:
    """A user, their media, likes and comments on `shard`; the rows as they are."""

    def work(conn, schema):
        user_id = add_user(conn, schema, f"user{shard}")
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("INSERT INTO {}.media (owner_id, caption) VALUES (%s, 'hello')").format(
                    schema
                ),
                [user_id],
            )
            cursor.execute(
                sql.SQL("INSERT INTO {}.likes (media_id, user_id) SELECT g, %s FROM"
                        " generate_series(1, 300) g").format(schema),
                [user_id],
            )  # fmt: skip
        for n in range(50):
            _add_comment(conn, schema, f"comment {n}")

    private.router.run(shard, work)
    return {
        name: private.rows("db0", shard, name) for name in ("users", "media", "likes", "comments")
    }


def test_a_move_copies_every_row_keeps_every_id_and_flips_the_map(private):
    # GIVEN a shard with rows on db0
    shard = private.shards[0]
    before = _seed(private, shard)
    version = private.store.load().version

    # WHEN it is moved to db1
    report = _mover(private, shard).run()

    # THEN the map points at db1, the move is over, and the old copy is gone
    shard_map = private.store.load()
    assert shard_map.database_of(shard) == "db1"
    assert shard_map.moves == {}
    assert shard_map.version > version
    assert not private.has_schema("db0", shard)
    # AND every row is on db1 exactly as it was, IDs included, verified table by table
    for name, rows in before.items():
        assert private.rows("db1", shard, name) == rows, name
    checked = {check.name: check.rows for check in report.tables}
    assert checked["likes"] == 300
    assert checked["comments"] == 50
    assert 0 < report.read_only_seconds < 5
    # AND IDs made on the new home come after every ID made on the old one
    new_id = private.router.run(shard, lambda conn, schema: _add_comment(conn, schema, "new"))
    assert new_id > max(row[0] for row in before["comments"])
    assert decode(new_id).shard == shard


def test_a_move_under_concurrent_writers_loses_no_row_and_other_shards_never_fail(private):
    # GIVEN writers on the moving shard and on another shard of the same database
    moving, other = private.shards[0], private.shards[1]
    written: dict[int, list[int]] = {moving: [], other: []}
    failures: dict[int, list[str]] = {moving: [], other: []}
    stop = threading.Event()

    def writer(shard: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                new_id = private.router.run(
                    shard, lambda conn, schema, n=n: _add_comment(conn, schema, f"w{n}")
                )
            except Exception as exc:
                failures[shard].append(repr(exc))
            else:
                written[shard].append(new_id)

    threads = [threading.Thread(target=writer, args=(s,)) for s in (moving, other)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)

    # WHEN the shard moves while they write
    report = _mover(private, moving).run()
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join()

    # THEN no writer saw a failure, and both kept writing
    assert failures == {moving: [], other: []}
    assert len(written[moving]) > 20
    assert len(written[other]) > 20
    # AND every acknowledged row of the moved shard is on its new home, with its ID
    on_db1 = {row[0] for row in private.rows("db1", moving, "comments", "id")}
    assert set(written[moving]) == on_db1
    assert {row[0] for row in private.rows("db0", other, "comments", "id")} == set(written[other])
    assert report.read_only_seconds < 2


@pytest.mark.parametrize("step", STEPS[:-1])
def test_a_move_interrupted_after_any_step_is_finished_by_running_it_again(private, step):
    # GIVEN a move stopped right after `step`
    shard = private.shards[0]
    before = _seed(private, shard)
    with pytest.raises(MoveInterrupted):
        _mover(private, shard, halt_after=step).run()
    assert private.store.load().moves[shard].phase == step

    # WHEN the same move runs again
    _mover(private, shard).run()

    # THEN it is finished, as if never stopped
    shard_map = private.store.load()
    assert shard_map.database_of(shard) == "db1"
    assert shard_map.moves == {}
    assert not private.has_schema("db0", shard)
    for name, rows in before.items():
        assert private.rows("db1", shard, name) == rows, name
    private.router.run(shard, lambda conn, schema: _add_comment(conn, schema, "after"))


@pytest.mark.parametrize("step", ["recorded", "read_only", "copied"])
def test_a_move_interrupted_before_the_flip_can_be_rolled_back(private, step):
    # GIVEN a move stopped right after `step`
    shard = private.shards[0]
    before = _seed(private, shard)
    with pytest.raises(MoveInterrupted):
        _mover(private, shard, halt_after=step).run()

    # WHEN it is rolled back
    message = _mover(private, shard).rollback()

    # THEN the shard is home, writable, untouched, and the target holds nothing of it
    assert "rolled back" in message
    shard_map = private.store.load()
    assert shard_map.database_of(shard) == "db0"
    assert shard_map.moves == {}
    assert not private.has_schema("db1", shard)
    for name, rows in before.items():
        assert private.rows("db0", shard, name) == rows, name
    private.router.run(shard, lambda conn, schema: _add_comment(conn, schema, "after"))


def test_while_read_only_the_shard_refuses_writes_and_other_shards_take_them(private):
    # GIVEN a move stopped while its shard is read-only
    moving, other = private.shards[0], private.shards[1]
    with pytest.raises(MoveInterrupted):
        _mover(private, moving, halt_after="read_only").run()

    # THEN a write to it is refused with SQLSTATE 25006, by the move's trigger
    with (
        private.databases.connection("db0") as conn,
        pytest.raises(psycopg2.errors.ReadOnlySqlTransaction),
    ):
        _add_comment(conn, schema(moving), "x")
    # AND reads still work, and the shard next to it takes writes
    assert private.rows("db0", moving, "comments") == []
    private.router.run(other, lambda conn, schema: _add_comment(conn, schema, "fine"))
    with private.databases.connection("db0") as conn, conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND t.tgname = %s",
            [f"shard_{moving:04d}", READ_ONLY_TRIGGER],
        )
        assert cursor.fetchone()[0] >= 9  # every table of the shard
    _mover(private, moving).rollback()


def test_rolling_back_after_the_flip_is_refused_and_running_again_finishes(private):
    shard = private.shards[0]
    with pytest.raises(MoveInterrupted):
        _mover(private, shard, halt_after="flipped").run()

    with pytest.raises(Conflict):
        _mover(private, shard).rollback()
    _mover(private, shard).run()
    assert private.store.load().database_of(shard) == "db1"


def test_a_move_to_its_own_home_or_an_unknown_database_is_refused(private):
    shard = private.shards[0]
    with pytest.raises(InvalidInput, match="already"):
        _mover(private, shard, target="db0").run()
    with pytest.raises(InvalidInput, match="no physical database"):
        _mover(private, shard, target="db7").run()
    assert private.store.load().moves == {}


def test_a_second_move_of_a_moving_shard_elsewhere_is_refused(private):
    shard = private.shards[0]
    with pytest.raises(MoveInterrupted):
        _mover(private, shard, halt_after="recorded").run()
    with pytest.raises(Conflict, match="being moved"):
        # db0 is its home, but the move under way goes to db1
        ShardMove(
            databases=private.databases,
            store=private.store,
            migrations=load_migrations(),
            shard=shard,
            target="db0",
        ).run()
    _mover(private, shard).rollback()


def _held_by_someone_else(private, shard: int, phase: str = "read_only") -> None:
    shard_map = private.store.load()
    move = Move("db1", phase, owner="another-mover", heartbeat=time.time())
    private.store.replace(shard_map, shard_map.with_move(shard, move))


def test_a_move_held_by_a_live_mover_is_refused_unless_taken_over(private):
    # GIVEN another mover holds the shard's move, and was heard from just now
    shard = private.shards[0]
    before = _seed(private, shard)
    _held_by_someone_else(private, shard, phase="recorded")

    # THEN neither a second run nor a rollback may touch it
    with pytest.raises(Conflict, match="another mover"):
        _mover(private, shard).run()
    with pytest.raises(Conflict, match="another mover"):
        _mover(private, shard).rollback()

    # AND taking it over (the other is known to be dead) finishes the move
    _mover(private, shard, take_over=True).run()
    assert private.store.load().database_of(shard) == "db1"
    for name, rows in before.items():
        assert private.rows("db1", shard, name) == rows, name


def test_a_mover_whose_move_is_taken_over_stops_before_its_next_step(private):
    # GIVEN a mover that, once its shard is read-only, loses the move to another
    shard = private.shards[0]
    before = _seed(private, shard)

    def lose_the_move(step: str) -> None:
        if step == "read_only":
            _held_by_someone_else(private, shard)

    mover = _mover(private, shard, progress=lose_the_move)

    # WHEN it goes on THEN it stops, having copied nothing and dropped nothing
    with pytest.raises(Conflict, match="taken over"):
        mover.run()
    assert not private.has_schema("db1", shard)
    assert private.rows("db0", shard, "comments") == before["comments"]
    assert private.store.load().moves[shard].owner == "another-mover"


def test_an_interrupted_rollback_is_finished_by_rolling_back_again(private):
    # GIVEN a move stopped while read-only, and a rollback that died half-way
    shard = private.shards[0]
    with pytest.raises(MoveInterrupted):
        _mover(private, shard, halt_after="read_only").run()
    shard_map = private.store.load()
    interrupted = Move("db1", ROLLING_BACK, owner="a-dead-rollback", heartbeat=0)
    private.store.replace(shard_map, shard_map.with_move(shard, interrupted))

    # THEN running the move is refused, and rolling back again finishes the rollback
    with pytest.raises(Conflict, match="roll it back again"):
        _mover(private, shard).run()
    assert "rolled back" in _mover(private, shard).rollback()
    assert private.store.load().moves == {}
    private.router.run(shard, lambda conn, schema: _add_comment(conn, schema, "writable"))


def test_a_move_copies_at_the_originals_version_then_brings_the_copy_up_to_date(private):
    # GIVEN a shard at the current version, and a mover that knows one migration more
    shard = private.shards[0]
    before = _seed(private, shard)
    newer = Migration(
        version=len(load_migrations()) + 1,
        name="users_extra",
        text="ALTER TABLE {schema}.users ADD COLUMN extra integer",
    )
    mover = ShardMove(private.databases, private.store, [*load_migrations(), newer], shard, "db1")

    # WHEN it moves the shard
    mover.run()

    # THEN the rows came over as they were, and the new home is at the newer version
    assert private.rows("db1", shard, "comments") == before["comments"]
    assert private.rows("db1", shard, "users", "id, username, extra") == [
        (row[0], row[1], None) for row in before["users"]
    ]
    with private.databases.connection("db1") as conn:
        assert applied_version(conn, shard) == newer.version


def test_rollback_with_nothing_recorded_leaves_no_trace_of_a_move(private):
    # GIVEN leftovers of a move whose record is gone: triggers at home, a copy on db1
    shard = private.shards[0]
    with pytest.raises(MoveInterrupted):
        _mover(private, shard, halt_after="copied").run()
    shard_map = private.store.load()
    private.store.replace(shard_map, shard_map.with_move(shard, None))

    # WHEN it is rolled back
    message = _mover(private, shard).rollback()

    # THEN the home takes writes again and the stray copy is gone
    assert "no move under way" in message
    private.router.run(shard, lambda conn, schema: _add_comment(conn, schema, "writable"))
    assert not private.has_schema("db1", shard)
