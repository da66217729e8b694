"""A follow, unfollow, block or approval whose second write (on the other user's shard)
really fails: the next attempt of the operation finishes it, and so does
`photofeed graph repair`, which says what it changed and then finds nothing left to do.

The second write is made to fail by a trigger, created by the test on the second user's
shard and dropped in a `finally`, that refuses that user's rows only (others sharing the
stack are not disturbed). Most tests run on two logical shards of their own, one on each
database, under a shard map of this module's own, so a repair's counts are exact.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg2
import pytest
from click.testing import CliRunner
from psycopg2 import sql

from chalicelib.graph.repair import RepairReport, repair_graph
from chalicelib.graph.service import Graph
from chalicelib.ops.cli import cli
from chalicelib.shards.ids import MAX_SHARDS, shard_of
from chalicelib.shards.migrations import load_migrations, migrate_shard
from chalicelib.shards.routing import Router
from chalicelib.shards.schema import schema, schema_name
from chalicelib.shards.shard_map import CachedShardMap, ShardMap, ShardMapStore
from chalicelib.users.counters import Counters
from tests.answers import follow_rows
from tests.graph.test_graph import stored

# Logical shards far above the stack's and those tests/shards hands out (7000..7599):
# a test takes one on db0 and its partner, 100 higher, on db1.
PRIVATE_SHARDS = range(7800, 7900)
PARTNER = 100
CHANGES = ("followers_added", "followers_removed", "follows_removed", "requests_removed")
SUMMARY = re.compile(
    r"(\d+) follows and (\d+) follower rows checked; (\d+) follower rows added, (\d+) removed, "
    r"(\d+) follows across a block removed, (\d+) stale requests removed\."
)


# Failing the second write


@contextmanager
def failing(router: Router, user_id: int, table: str, column: str) -> Iterator[None]:
    """While open, the user's shard refuses to insert or delete rows of `table` whose
    `column` is the user: the second half of a graph write fails there, for real."""
    function = sql.Identifier(f"test_refuse_{uuid.uuid4().hex[:12]}")

    def create(conn, s: sql.Identifier) -> None:
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL(
                    "CREATE FUNCTION {s}.{f}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    "DECLARE named bigint; BEGIN "
                    "IF TG_OP = 'DELETE' THEN named := OLD.{c}; ELSE named := NEW.{c}; END IF; "
                    "IF named = TG_ARGV[0]::bigint THEN "
                    "RAISE EXCEPTION 'test: this write fails on purpose'; END IF; "
                    "IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $$"
                ).format(s=s, f=function, c=sql.Identifier(column))
            )
            cursor.execute(
                sql.SQL(
                    "CREATE TRIGGER {f} BEFORE INSERT OR DELETE ON {s}.{t} "
                    "FOR EACH ROW EXECUTE FUNCTION {s}.{f}({user})"
                ).format(s=s, f=function, t=sql.Identifier(table), user=sql.Literal(str(user_id)))
            )

    def drop(conn, s: sql.Identifier) -> None:
        with conn.cursor() as cursor:
            cursor.execute(sql.SQL("DROP FUNCTION IF EXISTS {}.{}() CASCADE").format(s, function))

    try:
        router.run_for_id(user_id, create)
        yield
    finally:
        router.run_for_id(user_id, drop)


# Two shards of the test's own


@dataclass
class Isolated:
    """Two fresh logical shards on different databases, and the graph over them."""

    router: Router
    counters: Counters
    graph: Graph
    shards: list[int]
    map_table: str

    def user(self, shard: int, private: bool = False) -> int:
        """A new user on `shard` (one of self.shards); their ID."""
        name = f"repair_{uuid.uuid4().hex[:12]}"

        def insert(conn, s: sql.Identifier) -> int:
            with conn.cursor() as cursor:
                cursor.execute(
                    sql.SQL(
                        "INSERT INTO {}.users (username, email, is_private) "
                        "VALUES (%s, %s, %s) RETURNING id"
                    ).format(s),
                    [name, f"{name}@example.com", private],
                )
                return cursor.fetchone()[0]

        return self.router.run(shard, insert)

    def repair(self, grace_seconds: float = 0) -> RepairReport:
        return repair_graph(self.router, self.counters, self.shards, grace_seconds)


def _home(shard: int) -> str:
    """Where the private map puts a logical shard (few ranges: the map loads fast)."""
    partners = range(PRIVATE_SHARDS.start + PARTNER, PRIVATE_SHARDS.stop + PARTNER)
    return "db1" if shard in partners else "db0"


def _schema_exists(clients, shard: int) -> bool:
    for database in clients.databases.names:
        with clients.databases.connection(database) as conn, conn, conn.cursor() as cursor:
            cursor.execute("SELECT to_regnamespace(%s)", [schema_name(shard)])
            if cursor.fetchone()[0] is not None:
                return True
    return False


@pytest.fixture(scope="module")
def private_map(clients, settings) -> Iterator[str]:
    """A shard-map table of this module's own (see _home)."""
    name = f"test-graph-repair-{uuid.uuid4().hex[:8]}"
    clients.dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    homes = tuple(_home(shard) for shard in range(MAX_SHARDS))
    ShardMapStore(name, settings.region, settings.endpoint_url).create(ShardMap(1, homes))
    yield name
    clients.dynamodb.delete_table(TableName=name)


@pytest.fixture
def isolated(clients, settings, private_map) -> Iterator[Isolated]:
    first = random.choice(PRIVATE_SHARDS)
    while _schema_exists(clients, first) or _schema_exists(clients, first + PARTNER):
        first = random.choice(PRIVATE_SHARDS)
    shards = [first, first + PARTNER]
    migrations = load_migrations()
    for shard in shards:
        with clients.databases.connection(_home(shard)) as conn:
            migrate_shard(conn, shard, migrations)
    store = ShardMapStore(private_map, settings.region, settings.endpoint_url)
    router = Router(clients.databases, CachedShardMap(store, ttl_seconds=60))
    counters = Counters(clients.redis, router)
    try:
        yield Isolated(router, counters, Graph(router, counters), shards, private_map)
    finally:
        for shard in shards:
            with clients.databases.connection(_home(shard)) as conn, conn, conn.cursor() as cursor:
                cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema(shard)))


# The operations, each with where its second write goes and what it leaves


def _counts(followers: int, following: int) -> dict[str, int]:
    return {"followers": followers, "following": following}


@dataclass(frozen=True)
class HalfDone:
    """An operation of `a` towards `b` whose second write, on b's shard, fails."""

    name: str
    b_private: bool
    setup: Callable[[Graph, int, int], object]
    operation: Callable[[Graph, int, int], object]
    refused: tuple[str, str]  # the (table, column naming b) whose write fails
    half: tuple[list[str], list[str]]  # stored(a -> b), stored(b -> a) after the failure
    done: tuple[list[str], list[str]]  # ... once finished
    repaired: dict[str, int]  # what a repair changes (the others: 0)
    counts: tuple[dict[str, int], dict[str, int]]  # a's and b's counters once finished


def _follow_both_ways(graph: Graph, a: int, b: int) -> None:
    graph.follow(a, b)
    graph.follow(b, a)


HALF_DONE = {
    case.name: case
    for case in [
        HalfDone(
            "follow",
            b_private=False,
            setup=lambda graph, a, b: None,
            operation=lambda graph, a, b: graph.follow(a, b),
            refused=("followers", "target_id"),
            half=(["follows"], []),
            done=(["followers", "follows"], []),
            repaired={"followers_added": 1},
            counts=(_counts(0, 1), _counts(1, 0)),
        ),
        HalfDone(
            "unfollow",
            b_private=False,
            setup=lambda graph, a, b: graph.follow(a, b),
            operation=lambda graph, a, b: graph.unfollow(a, b),
            refused=("followers", "target_id"),
            half=(["followers"], []),
            done=([], []),
            repaired={"followers_removed": 1},
            counts=(_counts(0, 0), _counts(0, 0)),
        ),
        HalfDone(
            # a blocks b, who follows a (and whom a follows): b's side of the block fails,
            # leaving b's follow of a, and the index of a's follow of b
            "block",
            b_private=False,
            setup=_follow_both_ways,
            operation=lambda graph, a, b: graph.block(a, b),
            refused=("followers", "target_id"),
            half=(["blocks", "followers"], ["follows"]),
            done=(["blocks"], []),
            repaired={"follows_removed": 1, "followers_removed": 1},
            counts=(_counts(0, 0), _counts(0, 0)),
        ),
        HalfDone(
            # b (private) approves a's request: the follow is made, the request stays, the
            # follower row is missing
            "approve",
            b_private=True,
            setup=lambda graph, a, b: graph.follow(a, b),
            operation=lambda graph, a, b: graph.approve(b, a),
            refused=("followers", "target_id"),
            half=(["follow_requests", "follows"], []),
            done=(["followers", "follows"], []),
            repaired={"followers_added": 1, "requests_removed": 1},
            counts=(_counts(0, 1), _counts(1, 0)),
        ),
    ]
}


def _edges(router: Router, a: int, b: int) -> tuple[list[str], list[str]]:
    return stored(router, a, b), stored(router, b, a)


def _changes(report: RepairReport) -> dict[str, int]:
    return {name: getattr(report, name) for name in CHANGES}


def _break(isolated: Isolated, case: HalfDone) -> tuple[int, int]:
    """Users a and b on different databases, set up, their counters cached, and the
    case's operation stopped between its halves."""
    a = isolated.user(isolated.shards[0])
    b = isolated.user(isolated.shards[1], private=case.b_private)
    case.setup(isolated.graph, a, b)
    isolated.counters.get(a)
    isolated.counters.get(b)
    with failing(isolated.router, b, *case.refused), pytest.raises(psycopg2.Error):
        case.operation(isolated.graph, a, b)
    assert _edges(isolated.router, a, b) == case.half
    return a, b


def _assert_counts(isolated: Isolated, user_id: int, expected: dict[str, int]) -> None:
    cached = isolated.counters.get(user_id)
    assert {"followers": cached.followers, "following": cached.following} == expected
    assert follow_rows(isolated.router, user_id) == expected


@pytest.mark.parametrize("case", HALF_DONE.values(), ids=lambda case: case.name)
def test_the_next_attempt_finishes_a_half_done(isolated, case):
    a, b = _break(isolated, case)

    case.operation(isolated.graph, a, b)

    assert _edges(isolated.router, a, b) == case.done
    _assert_counts(isolated, a, case.counts[0])
    _assert_counts(isolated, b, case.counts[1])


@pytest.mark.parametrize("case", HALF_DONE.values(), ids=lambda case: case.name)
def test_repair_finishes_a_half_done(isolated, case):
    a, b = _break(isolated, case)

    report = isolated.repair()

    assert _changes(report) == {name: case.repaired.get(name, 0) for name in CHANGES}
    assert report.touched_users == {a, b}
    assert _edges(isolated.router, a, b) == case.done
    _assert_counts(isolated, a, case.counts[0])
    _assert_counts(isolated, b, case.counts[1])


@pytest.mark.parametrize("case", HALF_DONE.values(), ids=lambda case: case.name)
def test_a_second_repair_changes_nothing(isolated, case):
    a, b = _break(isolated, case)
    isolated.repair()

    again = isolated.repair()

    assert again.changes == 0
    assert again.touched_users == set()
    assert _edges(isolated.router, a, b) == case.done


def test_repair_leaves_rows_younger_than_the_grace_period(isolated):
    a, b = _break(isolated, HALF_DONE["follow"])

    report = isolated.repair(grace_seconds=60)

    assert (report.follows_checked, report.followers_checked, report.changes) == (0, 0, 0)
    assert _edges(isolated.router, a, b) == HALF_DONE["follow"].half


def test_repair_of_a_graph_that_agrees_changes_nothing(isolated):
    # GIVEN follows both ways, a pending request and a block, all written whole
    graph, (first, second) = isolated.graph, isolated.shards
    a, b, c = isolated.user(first), isolated.user(second), isolated.user(second, private=True)
    _follow_both_ways(graph, a, b)
    graph.follow(a, c)
    graph.block(c, b)

    report = isolated.repair()

    assert (report.follows_checked, report.followers_checked) == (2, 2)
    assert report.changes == 0
    assert _edges(isolated.router, a, b) == (["followers", "follows"], ["followers", "follows"])
    assert _edges(isolated.router, a, c) == (["follow_requests"], [])


FINISHERS = {
    "retry": lambda isolated, a, b: isolated.graph.block(a, b),
    "repair": lambda isolated, a, b: isolated.repair(),
}


@pytest.mark.parametrize("finisher", list(FINISHERS))
def test_a_half_done_block_leaves_no_request_once_finished_by(isolated, finisher):
    # GIVEN b (private) follows a, a asked to follow b, and a's block of b failed on
    # b's shard: b's follow of a and a's request to b are left there
    a = isolated.user(isolated.shards[0])
    b = isolated.user(isolated.shards[1], private=True)
    isolated.graph.follow(b, a)
    isolated.graph.follow(a, b)
    with failing(isolated.router, b, "follows", "source_id"), pytest.raises(psycopg2.Error):
        isolated.graph.block(a, b)
    assert _edges(isolated.router, a, b) == (["blocks", "follow_requests"], ["follows"])

    FINISHERS[finisher](isolated, a, b)

    # THEN the block is whole: nothing but the block row is left between them
    assert _edges(isolated.router, a, b) == (["blocks"], [])


# The command line


def _repair_command(*args: str, env: dict[str, str] | None = None) -> tuple[int, ...]:
    result = CliRunner().invoke(cli, ["graph", "repair", *args], env=env)
    assert result.exit_code == 0, result.output
    summary = SUMMARY.search(result.output)
    assert summary, result.output
    return tuple(int(number) for number in summary.groups())


def test_the_cli_repairs_and_reports_exactly_what_it_changed(isolated):
    a, b = _break(isolated, HALF_DONE["approve"])
    args = [f"--shard={shard}" for shard in isolated.shards] + ["--grace-seconds", "0"]
    env = {"PHOTOFEED_SHARD_MAP_TABLE": isolated.map_table}

    first = _repair_command(*args, env=env)
    second = _repair_command(*args, env=env)

    # checked: 1 follow and 1 follower row (the one added); changed: 1 added, 1 request
    assert first == (1, 1, 1, 0, 0, 1)
    assert second == (1, 1, 0, 0, 0, 0)
    assert _edges(isolated.router, a, b) == HALF_DONE["approve"].done
    _assert_counts(isolated, b, _counts(1, 0))


# Through the API, on the stack's own shards


@pytest.fixture
def apart(sign_up):
    """Two new members whose users live on different logical shards."""
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: sign_up(), range(2))
    while shard_of(second.id) == shard_of(first.id):
        second = sign_up()
    return first, second


def _counts_shown(member) -> dict[str, int]:
    shown = member.get("/users/me").json()["counts"]
    return _counts(shown["followers"], shown["following"])


def test_a_follow_whose_second_half_fails_is_a_500_and_the_retry_finishes_it(clients, apart):
    fan, star = apart
    assert _counts_shown(fan) == _counts_shown(star) == _counts(0, 0)  # cached from here on

    with failing(clients.router, star.id, "followers", "target_id"):
        response = fan.post(f"/users/{star.id}/follow")

    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "An unexpected error; it was logged.",
            "details": None,
        }
    }
    assert stored(clients.router, fan.id, star.id) == ["follows"]

    retried = fan.post(f"/users/{star.id}/follow")

    assert retried.status_code == 200, retried.text
    assert retried.json()["following"] is True
    assert stored(clients.router, fan.id, star.id) == ["followers", "follows"]
    assert _counts_shown(fan) == _counts(0, 1)
    assert _counts_shown(star) == _counts(1, 0)


def test_the_cli_repairs_a_half_done_unfollow_on_the_stacks_shards(clients, apart):
    # GIVEN a follow through the API, and an unfollow whose second half failed
    fan, star = apart
    assert fan.post(f"/users/{star.id}/follow").status_code == 200
    assert _counts_shown(star) == _counts(1, 0)
    with failing(clients.router, star.id, "followers", "target_id"):
        assert fan.delete(f"/users/{star.id}/follow").status_code == 500
    assert stored(clients.router, fan.id, star.id) == ["followers"]

    # WHEN an operator repairs the two users' shards (others may share them: at least ours)
    shards = sorted({shard_of(fan.id), shard_of(star.id)})
    summary = _repair_command(*[f"--shard={shard}" for shard in shards], "--grace-seconds=0")

    followers_removed = summary[3]
    assert followers_removed >= 1
    assert stored(clients.router, fan.id, star.id) == []
    assert _counts_shown(star) == _counts(0, 0)
    assert _counts_shown(fan) == _counts(0, 0)
