"""IDs: encode/decode as properties, and next_id() in PostgreSQL never repeating, even in bursts.

The database tests make a probe table `shard_NNNN.id_probe` whose IDs come from the shard's
real next_id(), on the shard's current home, and drop it afterwards.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg2 import sql

from chalicelib.shards.ids import (
    EPOCH_MS,
    MAX_SEQUENCE,
    MAX_SHARDS,
    MAX_TIME,
    DecodedId,
    InvalidId,
    decode,
    encode,
)
from chalicelib.shards.schema import schema, table

PROBE_SHARD = 7
PROBE_TABLE = "id_probe"
BURST_ROWS = 200_000
IDS_PER_MILLISECOND = MAX_SEQUENCE + 1
# sql/0001_ids.sql never runs ahead of the clock.
MS_AHEAD = 0
# PostgreSQL's clock_ms() floors a double: it may read a millisecond below Python's clock.
MS_ROUNDING = 1
SESSIONS = 4
# 10,000 rows a session caught a shared ID in about one run of four here; 50,000 in every run.
ROWS_PER_SESSION = 50_000
ROWS_PER_BATCH = 500

times = st.integers(EPOCH_MS, EPOCH_MS + MAX_TIME)
shards = st.integers(0, MAX_SHARDS - 1)
sequences = st.integers(0, MAX_SEQUENCE)
parts = st.tuples(times, shards, sequences).filter(lambda p: p != (EPOCH_MS, 0, 0))


# --- encode / decode ------------------------------------------------------------------


@given(parts)
def test_decode_gives_back_the_parts_encode_took(p):
    assert decode(encode(*p)) == DecodedId(*p)


@given(st.integers(1, (1 << 63) - 1))
def test_every_positive_63_bit_number_decodes_and_encodes_back_to_itself(value):
    d = decode(value)
    assert encode(d.unix_ms, d.shard, d.sequence) == value


@given(st.one_of(st.integers(max_value=EPOCH_MS - 1), st.integers(EPOCH_MS + MAX_TIME + 1)))
def test_encode_refuses_a_time_outside_the_ids_range(unix_ms):
    with pytest.raises(InvalidId):
        encode(unix_ms, 1, 1)


@given(st.one_of(st.integers(max_value=-1), st.integers(MAX_SHARDS)))
def test_encode_refuses_a_shard_outside_0_to_8191(shard):
    with pytest.raises(InvalidId):
        encode(EPOCH_MS + 1, shard, 1)


@given(st.one_of(st.integers(max_value=-1), st.integers(MAX_SEQUENCE + 1)))
def test_encode_refuses_a_sequence_outside_0_to_1023(sequence):
    with pytest.raises(InvalidId):
        encode(EPOCH_MS + 1, 1, sequence)


def test_encode_refuses_the_all_zero_id():
    with pytest.raises(InvalidId):
        encode(EPOCH_MS, 0, 0)


@given(st.one_of(st.integers(max_value=0), st.integers(1 << 63)))
def test_decode_refuses_numbers_that_are_not_positive_signed_64_bit(value):
    with pytest.raises(InvalidId):
        decode(value)


@given(parts, parts)
def test_ids_compare_like_their_time_shard_sequence_tuples(a, b):
    assert (encode(*a) < encode(*b)) == (a < b)
    assert (encode(*a) == encode(*b)) == (a == b)
    assert (decode(encode(*a)) < decode(encode(*b))) == (a < b)


# --- next_id() in PostgreSQL ------------------------------------------------------------


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Probe:
    """A probe table on one shard's home: `id` from the shard's next_id(), and `n`."""

    shard: int
    home: str
    dsn: str

    @property
    def table(self) -> sql.Identifier:
        return table(self.shard, PROBE_TABLE)

    def insert_series(self) -> sql.Composed:
        """Rows 1..%s in one statement; every ID from next_id()."""
        return sql.SQL("INSERT INTO {} (n) SELECT g FROM generate_series(1, %s) g").format(
            self.table
        )

    def insert_one(self) -> sql.Composed:
        return sql.SQL("INSERT INTO {} (n) VALUES (0) RETURNING id").format(self.table)


def _run(clients, home: str, statement: sql.Composable, params: list | None = None) -> None:
    with clients.databases.connection(home) as conn, conn, conn.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture
def probes(clients, settings) -> Iterator[Callable[[int], Probe]]:
    """Makes a probe table on a shard's current home; drops every one made at the end."""
    made: list[Probe] = []

    def make(shard: int) -> Probe:
        home = clients.shard_map_store.load().database_of(shard)
        probe = Probe(shard, home, str(settings.databases[home]))
        _run(
            clients,
            home,
            sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY DEFAULT {}.next_id(), n int)").format(
                probe.table, schema(shard)
            ),
        )
        made.append(probe)
        return probe

    try:
        yield make
    finally:
        for probe in made:
            _run(clients, probe.home, sql.SQL("DROP TABLE IF EXISTS {}").format(probe.table))


@pytest.fixture
def probe(probes) -> Probe:
    return probes(PROBE_SHARD)


def _insert_one(clients, probe: Probe) -> tuple[int, int, int]:
    """One row in its own transaction: (id, wall-clock ms before, wall-clock ms after)."""
    before = _now_ms()
    with clients.databases.connection(probe.home) as conn, conn, conn.cursor() as cursor:
        cursor.execute(probe.insert_one())
        new_id = cursor.fetchone()[0]
    return new_id, before, _now_ms()


def test_200000_ids_in_one_statement_on_one_shard_are_distinct_and_on_time(clients, probe):
    # WHEN one statement asks shard 7 for 200,000 IDs as fast as the database makes them
    with clients.databases.connection(probe.home) as conn, conn, conn.cursor() as cursor:
        before = _now_ms()
        cursor.execute(
            sql.Composed([probe.insert_series(), sql.SQL(" RETURNING id")]),
            [BURST_ROWS],
        )
        after = _now_ms()
        ids = [row[0] for row in cursor.fetchall()]
    decoded = [decode(i) for i in ids]
    per_ms: dict[int, list[int]] = defaultdict(list)
    for d in decoded:
        per_ms[d.unix_ms].append(d.sequence)
    rate = BURST_ROWS / max(after - before, 1)

    # THEN no ID repeats, every one names shard 7, and none runs off the clock
    assert len(ids) == BURST_ROWS
    assert len(set(ids)) == BURST_ROWS
    assert {d.shard for d in decoded} == {PROBE_SHARD}
    assert before - MS_ROUNDING <= min(per_ms), (min(per_ms), before)
    assert max(per_ms) <= after + MS_AHEAD, (max(per_ms) - after, f"{rate:.0f} ids/ms")
    # AND within any one millisecond no sequence value comes twice
    repeated = {ms: len(s) - len(set(s)) for ms, s in per_ms.items() if len(set(s)) != len(s)}
    assert repeated == {}
    # AND no millisecond holds more IDs than its 1024 sequence values
    fullest = max(len(s) for s in per_ms.values())
    assert fullest <= IDS_PER_MILLISECOND, (fullest, f"{rate:.0f} ids/ms")


def test_sessions_asking_faster_than_1024_ids_a_millisecond_never_get_a_repeat(clients, probe):
    # GIVEN as many sessions as this machine runs at once asking shard 7 for IDs, with no
    # table to slow them: together more than 1024 a millisecond
    home_dsn = probe.dsn
    statement = sql.SQL("SELECT {0}.next_id() FROM generate_series(1, %s)").format(
        schema(PROBE_SHARD)
    )
    start = threading.Barrier(SESSIONS, timeout=30)

    def session() -> list[int]:
        conn = psycopg2.connect(home_dsn)
        try:
            start.wait()
            with conn, conn.cursor() as cursor:
                cursor.execute(statement, [BURST_ROWS // SESSIONS])
                return [row[0] for row in cursor.fetchall()]
        finally:
            conn.close()

    # WHEN they all ask at once
    started = _now_ms()
    with ThreadPoolExecutor(SESSIONS) as pool:
        batches = list(pool.map(lambda _: session(), range(SESSIONS)))
    elapsed = max(_now_ms() - started, 1)
    ids = [i for batch in batches for i in batch]
    per_ms = Counter(decode(i).unix_ms for i in ids)

    # THEN none repeats, and no millisecond was given more than its 1024 sequence values
    assert len(set(ids)) == len(ids) == BURST_ROWS
    assert max(per_ms.values()) <= IDS_PER_MILLISECOND, (
        f"{max(per_ms.values())} IDs in one millisecond; {BURST_ROWS / elapsed:.0f} ids/ms"
    )
    assert {decode(i).shard for i in ids} == {PROBE_SHARD}


def test_concurrent_sessions_on_one_shard_never_share_an_id(probe):
    # GIVEN four sessions of their own on shard 7's home, starting together
    start = threading.Barrier(SESSIONS, timeout=30)
    statement = sql.Composed([probe.insert_series(), sql.SQL(" RETURNING id")])

    def session() -> list[int]:
        conn = psycopg2.connect(probe.dsn)
        try:
            start.wait()
            ids: list[int] = []
            for _ in range(ROWS_PER_SESSION // ROWS_PER_BATCH):
                with conn, conn.cursor() as cursor:
                    cursor.execute(statement, [ROWS_PER_BATCH])
                    ids.extend(row[0] for row in cursor.fetchall())
            return ids
        finally:
            conn.close()

    # WHEN each inserts 50,000 rows in batches of 500, all at once
    with ThreadPoolExecutor(SESSIONS) as pool:
        futures = [pool.submit(session) for _ in range(SESSIONS)]
    failures = [f.exception() for f in futures if f.exception() is not None]

    # THEN every session got all its rows in, and all 200,000 IDs differ and name shard 7
    assert failures == [], f"{len(failures)} of {SESSIONS} sessions failed: {failures[0]}"
    ids = [i for f in futures for i in f.result()]
    assert len(ids) == SESSIONS * ROWS_PER_SESSION
    assert len(set(ids)) == len(ids)
    assert {decode(i).shard for i in ids} == {PROBE_SHARD}


def test_after_a_burst_the_next_id_keeps_to_the_wall_clock(clients, probe):
    # GIVEN shard 7 has just made 200,000 IDs in one statement
    _run(clients, probe.home, probe.insert_series(), [BURST_ROWS])
    # WHEN one more row comes right after
    new_id, before, after = _insert_one(clients, probe)
    # THEN its time is the wall clock's, give or take what the generator may run ahead
    unix_ms = decode(new_id).unix_ms
    assert before - MS_ROUNDING <= unix_ms <= after + 2, (unix_ms - before, unix_ms - after)


def test_ids_of_different_shards_sort_by_creation_time_to_the_millisecond(clients, probes):
    # GIVEN probe tables on shards whose homes differ (3 and 12 on one, 40 and 60 on another)
    shard_probes = [probes(shard) for shard in (3, 40, 12, 60)]
    made: list[tuple[int, int, int]] = []

    # WHEN single rows go to them in turn, at least 2 ms apart
    for _ in range(12):
        for shard_probe in shard_probes:
            made.append(_insert_one(clients, shard_probe))
            time.sleep(0.002)

    # THEN the IDs sorted as numbers are the IDs in the order they were made
    ids = [new_id for new_id, _, _ in made]
    assert sorted(ids) == ids
    # AND each ID's time is the wall clock's at its insert, to the millisecond
    off = [
        (decode(i).unix_ms - before, decode(i).unix_ms - after)
        for i, before, after in made
        if not before - MS_ROUNDING <= decode(i).unix_ms <= after + MS_AHEAD
    ]
    assert off == []
    assert [decode(i).shard for i in ids] == [3, 40, 12, 60] * 12


def test_a_users_row_gets_an_id_of_its_shard(clients):
    # GIVEN shard 7's users table on its current home
    home = clients.shard_map_store.load().database_of(PROBE_SHARD)
    users = table(PROBE_SHARD, "users")
    name = f"idprobe_{uuid.uuid4().hex[:12]}"
    before = _now_ms()
    try:
        # WHEN a user is inserted
        with clients.databases.connection(home) as conn, conn, conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("INSERT INTO {} (username, email) VALUES (%s, %s) RETURNING id").format(
                    users
                ),
                [name, f"{name}@example.com"],
            )
            user_id = cursor.fetchone()[0]
        after = _now_ms()
        # THEN the ID names shard 7 and the time of the insert
        assert decode(user_id).shard == PROBE_SHARD
        assert before - MS_ROUNDING <= decode(user_id).unix_ms <= after + MS_AHEAD
    finally:
        _run(clients, home, sql.SQL("DELETE FROM {} WHERE username = %s").format(users), [name])


def test_a_block_whose_opener_died_holds_ids_up_for_seconds_not_for_ever(clients, probe):
    # GIVEN the next block of shard 7 closed by an opener that died before opening it
    with clients.databases.connection(probe.home) as conn, conn, conn.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT last_value FROM {}.id_seq").format(schema(PROBE_SHARD)))
        next_block = (cursor.fetchone()[0] >> 10) + 1
        cursor.execute(
            sql.SQL("SELECT setval(%s::regclass, %s)"),
            [f"shard_{PROBE_SHARD:04d}.id_gate", next_block << 41],
        )

    # WHEN rows keep coming
    started = time.monotonic()
    first, before, after = _insert_one(clients, probe)
    waited = time.monotonic() - started
    later = [_insert_one(clients, probe)[0] for _ in range(2000)]

    # THEN the first waits while the dead block is skipped, then IDs flow again, on time
    assert waited < 3.5, f"waited {waited:.1f} s"
    assert before - MS_ROUNDING <= decode(first).unix_ms <= after + 1
    ids = [first, *later]
    assert len(set(ids)) == len(ids)
    assert {decode(i).shard for i in ids} == {PROBE_SHARD}
