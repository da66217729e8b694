"""Latency of a 20-item GET /feed handled in-process, warm and cold, against the bare
Redis round trips a page needs; and Redis round trips and SQL statements per page.

The world, made directly on the shards: one reader (on --shard) following 200 users
spread over every logical shard, who have 2,000 ready media among them (IDs, and so
times, spread over the last three days; captions, renditions, blurhashes and some
locations as processing leaves them; the reader likes one in ten), and the reader's
feed built by Timelines.rebuild_feed. The reader's session is made with Sessions.

Requests go through chalice.test.Client on `app` (stage local), so each is the whole
API path: the middleware (with its log line and EMF metrics, written to /dev/null),
authentication (the session from Redis), query validation, FeedReader.page and the
route's shaping into JSON. Variants, each before its request:

- warm: nothing (the feed and the media cache filled by earlier requests);
- cold media cache: every media's cache entry deleted (hydration reads PostgreSQL);
- rebuild: the feed deleted (rebuilt from PostgreSQL on read), media cache warm;
- rebuild, cold: both;
- FeedReader.page alone, warm: the reader's call without the API around it;
- bare Redis: what a warm page cannot do without, timed alone on the same client:
  one pipeline of EXISTS + LRANGE 0 24 + EXPIRE on the feed, one pipeline of 25 GETs
  of media records.

Every iteration runs each variant once, in a shuffled order; figures are medians and
99th percentiles over --requests iterations. Per page it counts Redis round trips
(redis-py's Connection.send_packed_command: one per command or pipeline sent), SQL
statements (cursor.execute) and SQL transactions (Databases.connection: each also
costs a BEGIN and a COMMIT round trip, as psycopg2 sends them), and the CPU time of
the Redis server's main thread (INFO cpu before and after, less what that costs
alone). The counting wrappers are patched into redis-py and
chalicelib.shards.connections by this bench at run time.

Everything it makes (users, follows, media, likes, keys, the session) is deleted at the
end. Run it against a running stack (`make up`); settings come as for bench/ids.py;
--json PATH also writes the figures and every request's time (bench/results.py):

    .venv/bin/python bench/feed.py [--stack-env FILE] [--requests 300] [--shard 7] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2.extensions
import redis
import redis.connection
from chalice.test import Client
from psycopg2 import sql
from psycopg2.extras import execute_values

from bench.results import Result, add_json_option
from chalicelib import redis_keys
from chalicelib.accounts.sessions import Sessions, token_digest
from chalicelib.api.deps import get_clients, get_feed, get_timelines
from chalicelib.config import Settings, use_stack_env
from chalicelib.media.keys import new_rendition_token
from chalicelib.shards.connections import Databases
from chalicelib.shards.ids import decode, encode
from chalicelib.shards.routing import Router

FOLLOWEES = 200
MEDIA_PER_FOLLOWEE = 10
PAGE_SIZE = 20
PAGE_IDS = 25  # what the reader asks Redis for: a page plus media/visible.py's SLACK
LIKED_SHARE = 10  # the reader likes one media in this many
SPREAD_MS = 3 * 86_400_000  # media times: the last three days
WARM_UPS = 5
VARIANTS = ("warm", "cold media cache", "rebuild", "rebuild, cold", "reader alone", "bare Redis")
BASELINE = "bare Redis"
NOTHING = "nothing"  # two INFO calls back to back: what reading the server's CPU adds
ROOT = Path(__file__).resolve().parent.parent  # where .chalice/config.json is


def load_settings(stack_env: Path | None) -> Settings:
    """Settings from the environment, or from a stack's env file as the CLI does."""
    use_stack_env(stack_env)
    return Settings.from_env()


@dataclass
class Counts:
    """Round trips and statements of the request in progress (any thread)."""

    redis_round_trips: int = 0
    sql_statements: int = 0
    sql_transactions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)

    def taken(self) -> tuple[int, int, int]:
        """The counts so far, and zero again."""
        with self.lock:
            found = (self.redis_round_trips, self.sql_statements, self.sql_transactions)
            self.redis_round_trips = self.sql_statements = self.sql_transactions = 0
        return found


COUNTS = Counts()


class CountingCursor(psycopg2.extensions.cursor):
    """A cursor that counts the statements it sends."""

    def execute(self, query, vars=None):
        COUNTS.add("sql_statements")
        return super().execute(query, vars)


def count_round_trips() -> None:
    """Patch the counters in: redis-py's sends, chalicelib's connections and units of work."""
    send = redis.connection.AbstractConnection.send_packed_command

    def counted_send(self, command, check_health=True):
        COUNTS.add("redis_round_trips")
        return send(self, command, check_health)

    redis.connection.AbstractConnection.send_packed_command = counted_send
    connect = Databases._connect

    def counted_connect(self, name):
        conn = connect(self, name)
        conn.cursor_factory = CountingCursor
        return conn

    Databases._connect = counted_connect
    unit_of_work = Databases.connection

    @contextmanager
    def counted_unit_of_work(self, name):
        COUNTS.add("sql_transactions")
        with unit_of_work(self, name) as conn:
            yield conn

    Databases.connection = counted_unit_of_work


def server_cpu_usec(cache: redis.Redis) -> float:
    """Microseconds of CPU the server's main thread has used so far: commands, scripts,
    I/O and its own timers (commandstats would count a script's inner commands twice)."""
    cpu = cache.info("cpu")
    return (cpu["used_cpu_user_main_thread"] + cpu["used_cpu_sys_main_thread"]) * 1e6


@dataclass
class World:
    """The reader, whom they follow, and the media those have."""

    reader_shard: int
    reader: int = 0  # 0: not made yet
    followees: dict[int, list[int]] = field(default_factory=dict)  # by shard
    media: dict[int, list[int]] = field(default_factory=dict)  # by shard

    @property
    def media_ids(self) -> list[int]:
        return sorted((m for ids in self.media.values() for m in ids), reverse=True)


def build_world(admin: Router, world: World, shards: int, rng: random.Random) -> None:
    """The reader, FOLLOWEES users over every shard, their media, follows and likes (the
    world records each part once made, so that a failure leaves nothing behind)."""
    run = uuid.uuid4().hex[:10]
    reader_shard = world.reader_shard
    [reader] = admin.run(reader_shard, lambda c, s: _users(c, s, [f"bench_feed_{run}_reader"]))
    world.reader = reader
    names = defaultdict(list)
    for n in range(FOLLOWEES):
        names[n % shards].append(f"bench_feed_{run}_{n}")
    for shard, shard_names in names.items():
        world.followees[shard] = admin.run(shard, lambda c, s, n=shard_names: _users(c, s, n))
    now_ms = int(time.time() * 1000)
    for shard, owners in world.followees.items():
        media = [row for owner in owners for row in _media_rows(rng, owner, shard, now_ms)]
        liked = [row[0] for row in media if rng.randrange(LIKED_SHARE) == 0]
        parts = {"reader": reader, "owners": owners, "media": media, "liked": liked}
        admin.run(shard, lambda c, s, p=parts: _fill(c, s, **p))
        world.media[shard] = [row[0] for row in media]
    followees = [f for owners in world.followees.values() for f in owners]
    admin.run(reader_shard, lambda c, s: _follows(c, s, reader, followees, rng))


def _users(conn, schema: sql.Identifier, names: list[str]) -> list[int]:
    with conn.cursor() as cursor:
        rows = execute_values(
            cursor,
            sql.SQL("INSERT INTO {}.users (username, email, full_name) VALUES %s RETURNING id")
            .format(schema)
            .as_string(cursor),
            [(name, f"{name}@example.com", name.replace("_", " ").title()) for name in names],
            fetch=True,
        )
    return [row[0] for row in rows]


def _media_rows(rng: random.Random, owner: int, shard: int, now_ms: int) -> list[tuple]:
    """MEDIA_PER_FOLLOWEE ready media of the owner as processing leaves them."""
    rows = []
    for _ in range(MEDIA_PER_FOLLOWEE):
        media_id = encode(now_ms - rng.randrange(60_000, SPREAD_MS), shard, rng.randrange(1024))
        created = decode(media_id).created_at
        width, height = rng.choice([(1080, 1350), (1080, 1080), (1080, 720)])
        renditions = {
            name: {"width": w, "height": round(height * w / width), "formats": ["jpeg", "webp"]}
            for name, w in (("large", 1080), ("medium", 640), ("small", 320))
        }
        renditions["square"] = {"width": 150, "height": 150, "formats": ["jpeg", "webp"]}
        record = {"token": new_rendition_token(), "sizes": renditions}  # as processing keeps it
        placed = rng.randrange(4) == 0
        rows.append(
            (
                media_id,
                owner,
                f"Golden hour at the lake, day {rng.randrange(1, 365)} #sunset #nofilter",
                "A lake at sunset, with a wooden jetty in the foreground",
                "image/jpeg",
                rng.randrange(800_000, 4_000_000),
                width,
                height,
                "LEHV6nWB2yk8pyo0adR*.7kCMdnj",
                json.dumps(record),
                48.8566 if placed else None,
                2.3522 if placed else None,
                "Paris" if placed else None,
                rng.randrange(0, 500),
                rng.randrange(0, 40),
                created,
                created,
            )
        )
    return rows


def _fill(conn, schema, *, reader: int, owners: list[int], media: list[tuple], liked: list[int]):
    """One shard's part: its followees' media, their `followers` rows, the reader's likes."""
    with conn.cursor() as cursor:
        execute_values(
            cursor,
            sql.SQL(
                "INSERT INTO {}.media (id, owner_id, status, caption, alt_text, content_type, "
                "byte_size, width, height, blurhash, renditions, latitude, longitude, "
                "place_name, like_count, comment_count, created_at, ready_at) VALUES %s"
            )
            .format(schema)
            .as_string(cursor),
            media,
            template="(%s, %s, 'ready', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "%s, %s)",
        )
        execute_values(
            cursor,
            sql.SQL("INSERT INTO {}.followers (target_id, source_id) VALUES %s")
            .format(schema)
            .as_string(cursor),
            [(owner, reader) for owner in owners],
        )
        execute_values(
            cursor,
            sql.SQL("INSERT INTO {}.likes (media_id, user_id) VALUES %s")
            .format(schema)
            .as_string(cursor),
            [(media_id, reader) for media_id in liked],
        )


def _follows(conn, schema, reader: int, followees: list[int], rng: random.Random) -> None:
    """The reader's follows, made over the last year (rebuilds read the newest first)."""
    now = datetime.now(UTC)
    with conn.cursor() as cursor:
        execute_values(
            cursor,
            sql.SQL("INSERT INTO {}.follows (source_id, target_id, created_at) VALUES %s")
            .format(schema)
            .as_string(cursor),
            [(reader, f, now - timedelta(days=rng.uniform(1, 365))) for f in followees],
        )


def delete_world(admin: Router, world: World) -> None:
    """Every row the world made, children first."""
    if not world.reader:
        return
    for shard, owners in world.followees.items():
        statements = (
            ("DELETE FROM {s}.likes WHERE user_id = %s", [world.reader]),
            ("DELETE FROM {s}.media WHERE owner_id = ANY(%s)", [owners]),
            ("DELETE FROM {s}.followers WHERE target_id = ANY(%s)", [owners]),
        )
        admin.run(shard, lambda c, s, st=statements: _run_all(c, s, st))
    admin.run(
        world.reader_shard,
        lambda c, s: _run_all(
            c, s, [("DELETE FROM {s}.follows WHERE source_id = %s", [world.reader])]
        ),
    )
    for shard, owners in world.followees.items():
        admin.run(
            shard,
            lambda c, s, o=owners: _run_all(
                c, s, [("DELETE FROM {s}.users WHERE id = ANY(%s)", [o])]
            ),
        )
    admin.run(
        world.reader_shard,
        lambda c, s: _run_all(c, s, [("DELETE FROM {s}.users WHERE id = %s", [world.reader])]),
    )


def _run_all(conn, schema: sql.Identifier, statements: Sequence[tuple[str, list]]) -> None:
    with conn.cursor() as cursor:
        for statement, values in statements:
            cursor.execute(sql.SQL(statement).format(s=schema), values)


@contextmanager
def stdout_to_devnull() -> Iterator[None]:
    """The API's log lines and EMF metrics go where Lambda's would, but not on screen."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


@dataclass
class Sample:
    ms: float
    redis_round_trips: int
    sql_statements: int
    sql_transactions: int
    server_usec: float


class Requests:
    """Each variant: its preparation (untimed) and its request (timed)."""

    def __init__(self, app, clients, world: World, token: str, expected: list[int]) -> None:
        self._client = Client(app, stage_name="local", project_dir=str(ROOT))
        self._http = self._client.__enter__().http
        self._cache: redis.Redis = clients.redis
        self._world = world
        self._headers = {"Authorization": f"Bearer {token}"}
        self._expected = expected
        self._media_keys = [redis_keys.media(m) for m in world.media_ids]
        self._feed = redis_keys.feed(world.reader)
        self._reader = get_feed()
        # The page's EXPIRE: its value does not matter to the timing.
        self._ttl = int(clients.settings.auth.active_window_days * 86400)

    def close(self) -> None:
        self._client.__exit__(None, None, None)

    def prepare(self, variant: str) -> None:
        if variant in ("cold media cache", "rebuild, cold"):
            self._cache.unlink(*self._media_keys)
        if variant in ("rebuild", "rebuild, cold"):
            self._cache.unlink(self._feed)

    def run(self, variant: str) -> None:
        if variant == BASELINE:
            self._bare()
        elif variant == "reader alone":
            page = self._reader.page(self._world.reader, None, PAGE_SIZE)
            self._check([item.media.id for item in page.items])
        else:
            response = self._http.get(f"/feed?count={PAGE_SIZE}", headers=self._headers)
            if response.status_code != 200:
                raise RuntimeError(f"GET /feed: {response.status_code} {response.body!r}")
            self._check([int(item["id"]) for item in json.loads(response.body)["items"]])

    def _bare(self) -> None:
        with self._cache.pipeline(transaction=False) as pipe:
            pipe.exists(self._feed)
            pipe.lrange(self._feed, 0, PAGE_IDS - 1)
            pipe.expire(self._feed, self._ttl)
            _, ids, _ = pipe.execute()
        with self._cache.pipeline(transaction=False) as pipe:
            for media_id in ids:
                pipe.get(redis_keys.media(int(media_id)))
            found = pipe.execute()
        if len(found) != PAGE_IDS or None in found:
            raise RuntimeError("the bare page missed media records")

    def _check(self, ids: list[int]) -> None:
        if ids != self._expected:
            raise RuntimeError(f"a page of {len(ids)} items, not the expected {PAGE_SIZE}")

    def sample(self, variant: str) -> Sample:
        self.prepare(variant)
        usec = server_cpu_usec(self._cache)
        COUNTS.taken()
        started = time.perf_counter()
        if variant != NOTHING:
            self.run(variant)
        elapsed = time.perf_counter() - started
        counts = COUNTS.taken()
        return Sample(elapsed * 1000, *counts, server_cpu_usec(self._cache) - usec)


def measure(requests: Requests, iterations: int, rng: random.Random) -> dict[str, list[Sample]]:
    """Each variant once per iteration, in a shuffled order."""
    for variant in VARIANTS * WARM_UPS:
        requests.sample(variant)
    samples: dict[str, list[Sample]] = {variant: [] for variant in (*VARIANTS, NOTHING)}
    for _ in range(iterations):
        order = [*VARIANTS, NOTHING]
        rng.shuffle(order)
        for variant in order:
            samples[variant].append(requests.sample(variant))
    return samples


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def typical(values: list[int]) -> str:
    """The most common count, and the range when some pages differ."""
    mode = Counter(values).most_common(1)[0][0]
    low, high = min(values), max(values)
    return str(mode) if low == high else f"{mode} ({low}-{high})"


def report(samples: dict[str, list[Sample]], iterations: int, world: World) -> str:
    """Latencies side by side with the bare baseline's, and what each page cost."""
    info_usec = statistics.median(s.server_usec for s in samples[NOTHING])
    base = samples[BASELINE]
    base_median = statistics.median(s.ms for s in base)
    base_p99 = p99([s.ms for s in base])
    media = sum(len(m) for m in world.media.values())
    lines = [
        f"GET /feed?count={PAGE_SIZE} in-process (chalice.test.Client), a reader following "
        f"{FOLLOWEES} users with {media:,} media over {len(world.followees)} shards; "
        f"{iterations} requests a variant, interleaved",
        f"{'variant':<18}{'median ms':>10}{'p99 ms':>9}{'x bare':>8}{'p99 x bare':>11}"
        f"{'Redis RTs':>11}{'SQL stmts':>11}{'SQL txns':>10}{'Redis CPU us':>14}",
    ]
    for variant in VARIANTS:
        found = samples[variant]
        ms = [s.ms for s in found]
        median, high = statistics.median(ms), p99(ms)
        lines.append(
            f"{variant:<18}{median:>10.2f}{high:>9.2f}{median / base_median:>8.1f}"
            f"{high / base_p99:>11.1f}{typical([s.redis_round_trips for s in found]):>11}"
            f"{typical([s.sql_statements for s in found]):>11}"
            f"{typical([s.sql_transactions for s in found]):>10}"
            f"{statistics.median(s.server_usec for s in found) - info_usec:>14.0f}"
        )
    lines += [
        "  (Redis RTs: commands or pipelines sent; SQL txns: units of work, each with its",
        "   own BEGIN and COMMIT round trips besides its statements; Redis CPU us: the",
        "   server's main thread, median, less what two INFO calls alone cost "
        f"({info_usec:.0f} us);",
        f"   bare Redis: EXISTS + LRANGE 0 {PAGE_IDS - 1} + EXPIRE, then {PAGE_IDS} GETs, "
        "two pipelines)",
    ]
    return "\n".join(lines)


def record(result: Result, samples: dict[str, list[Sample]]) -> None:
    """Each variant's median and p99 against the bare baseline's; its round trips and
    statements per page; every request's time."""
    base = [s.ms for s in samples[BASELINE]]
    for variant in VARIANTS:
        found = samples[variant]
        ms = [s.ms for s in found]
        result.sample(variant, ms)
        for stat, value in (("median", statistics.median), ("p99", p99)):
            compared = {}
            if variant != BASELINE:
                compared = {"baseline": f"{BASELINE}, {stat}", "baseline_value": value(base)}
            result.figure(f"{variant}, {stat}", value(ms), "ms", better="lower", **compared)
        for counted, unit in (
            ("redis_round_trips", "Redis round trips"),
            ("sql_statements", "SQL statements"),
        ):
            mode = Counter(getattr(s, counted) for s in found).most_common(1)[0][0]
            result.figure(f"{variant}: {unit} a page", mode, unit, better="lower")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack-env", type=Path, help="a stack's env file of settings")
    parser.add_argument("--shard", type=int, default=7, help="the reader's shard (default 7)")
    parser.add_argument("--requests", type=int, default=300, help="requests a variant (300)")
    add_json_option(parser)
    args = parser.parse_args()
    result = Result.of(
        __file__,
        __doc__,
        "Feed read latency",
        requests=args.requests,
        followees=FOLLOWEES,
        media=FOLLOWEES * MEDIA_PER_FOLLOWEE,
        page=PAGE_SIZE,
    )

    load_settings(args.stack_env)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # as the local stage has it
    count_round_trips()
    # The app reads its settings when imported: only now are the stack's in the environment.
    sys.path.insert(0, str(ROOT))
    from app import app  # noqa: PLC0415

    clients = get_clients()
    settings = clients.settings
    shards = clients.shard_map.get().logical_shards
    admin = Router(clients.admin_databases, clients.shard_map)
    sessions = Sessions(
        settings.sessions_table,
        settings.region,
        settings.endpoint_url,
        clients.redis,
        ttl_seconds=settings.auth.session_ttl_days * 86400,
        cache_seconds=settings.auth.session_cache_seconds,
    )
    rng = random.Random(FOLLOWEES)
    world = World(args.shard)
    session = None
    requests = None
    try:
        build_world(admin, world, shards, rng)
        feed = get_timelines().rebuild_feed(world.reader)
        session = sessions.create(world.reader)
        requests = Requests(app, clients, world, session.token, feed[:PAGE_SIZE])
        with stdout_to_devnull():
            samples = measure(requests, args.requests, rng)
    finally:
        if requests is not None:
            requests.close()
        if session is not None:
            sessions.revoke(session.token)
        delete_world(admin, world)
        keys = [redis_keys.media(m) for m in world.media_ids]
        keys += [redis_keys.feed(world.reader), redis_keys.feed_rebuild(world.reader)]
        keys += [redis_keys.active(world.reader)]
        if session is not None:
            keys.append(redis_keys.session(token_digest(session.token)))
        clients.redis.unlink(*keys)
        clients.databases.close()
        clients.admin_databases.close()
    print(report(samples, args.requests, world))
    record(result, samples)
    result.write(args.json)


if __name__ == "__main__":
    main()
