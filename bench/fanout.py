"""Followers per second of one media's fan-out on the local Redis, against a plain
LPUSH + LTRIM pipeline and redis-benchmark's LPUSH ceiling; and bytes per feed entry.

100,000 followers (IDs of the first minutes of the ID epoch, on the deployment's
shards: no user of a stack started since has them), each with an existing home feed
of 100 real-looking media IDs (times within the last three days) and an activity
mark, so that every follower takes every push. Each round pushes a new media ID to all of them:

- ours, Redis part: pages of 1,000 followers through Activity.active_among (one
  pipelined EXISTS each) and Timelines.push (IdLists.push_many: the PUSH script per
  feed, pipelined), as FanOut.chunk does between its PostgreSQL reads;
- ours, pushes only: the same without the activity filter;
- ours, FanOut.chunk: the whole chunk end to end, its followers paged from the owner's
  `followers` table (one owner made on --shard, 100,000 rows, through PgBouncer as the
  Lambda connects), one worker over the whole audience (deployed, it is cut into
  chunks of 10,000 handled in parallel);
- naive: a redis-py pipeline of LPUSH + LTRIM per follower, 1,000 followers a pipeline;
- ceiling: `redis-benchmark -t lpush -P 100 -n 1000000 -q` on the same server (its 50
  connections, then one), which pushes 3-byte values onto one key: no key lookup of
  a cold feed, no script, no client-side work of ours.

Variants alternate in order over --rounds rounds; figures are medians. "Redis CPU us"
is the CPU time of the server's main thread per follower (INFO cpu, whatever it did
meanwhile): Redis is one thread shared by every reader and writer, so that is the cost
that limits a deployment. The same is measured on 10,000 of the feeds filled
to the cap (800 entries), the steady state of an active reader's feed.

Throughput against audience size: ours (Redis part, and FanOut.chunk over exactly that
many of the owner's followers) and naive again, on the first N followers for each N of
--audiences and on the whole audience, measured anew in one loop: each round runs every
size in turn, a small audience several times (up to 10), so that each size pushes about
as many feeds in all and the machine's load weighs on every size alike.

Bytes per entry: 200 feeds made by a rebuild (empty), then 800 IDs pushed through
IdLists in time order (one in twenty a few places late), MEMORY USAGE (all samples)
divided by entries; against the same IDs stored by a rebuild (one RPUSH) and as a ZSET
(score and member the ID: what a naive feed uses).

Everything it makes (keys, a user, their media and followers) is deleted at the end;
keys carry a TTL in case it is interrupted. Run it against a running stack (`make up`);
settings come as for bench/ids.py; --followers makes the whole audience smaller (a quick
look), --json PATH also writes the figures and curves (bench/results.py):

    .venv/bin/python bench/fanout.py [--stack-env FILE] [--rounds 3] [--shard 7]
        [--followers 100000] [--audiences 1000,10000] [--json PATH]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import redis
from psycopg2 import sql
from psycopg2.extras import execute_values

from bench.results import Result, add_json_option
from chalicelib import redis_keys
from chalicelib.clients import Clients
from chalicelib.config import Settings, use_stack_env
from chalicelib.feed.events import FanoutChunk
from chalicelib.feed.fanout import PAGE, FanOut
from chalicelib.feed.lists import IdLists
from chalicelib.feed.timelines import MAX_ID, Timelines, timelines_of
from chalicelib.places.index import geo_index_of
from chalicelib.shards.ids import EPOCH_MS, encode
from chalicelib.shards.routing import Router
from chalicelib.tags.index import tag_index_of
from chalicelib.users.activity import Activity
from chalicelib.users.counters import Counters

FOLLOWERS = 100_000  # the default --followers, and its most
AUDIENCES = (1_000, 10_000)  # the default --audiences, besides the whole audience
AUDIENCE_VARIANTS = ("ours-redis", "ours-chunk", "naive")
MAX_EXTRA_ROUNDS = 10  # a small audience's rounds: at most this many times --rounds
FEED_ENTRIES = 100
AT_CAP_FEEDS = 10_000
MEMORY_FEEDS = 200
TEMPLATES = 64  # distinct feed contents the prefilled feeds are copies of
KEY_TTL_SECONDS = 900  # a safety net: everything is deleted at the end anyway
PREFILL_DAYS = 3
LATE_SHARE = 20  # one pushed ID in this many arrives a few places late
BENCH_KEY = "bench:fanout"  # the prefix of the bench's own raw keys
CEILING = ("-t", "lpush", "-P", "100", "-n", "1000000", "-q")
CEILING_KEY = "mylist"  # where redis-benchmark's LPUSH pushes
VARIANTS = ("ours-redis", "ours-push-only", "ours-chunk", "naive")
AT_CAP_VARIANTS = ("ours-redis", "naive")
LABELS = {
    "ours-redis": "ours, Redis part (activity + PUSH)",
    "ours-push-only": "ours, pushes only",
    "ours-chunk": "ours, FanOut.chunk (+ PostgreSQL)",
    "naive": "naive LPUSH + LTRIM pipeline",
}


def load_settings(stack_env: Path | None) -> Settings:
    """Settings from the environment, or from a stack's env file as the CLI does."""
    use_stack_env(stack_env)
    return Settings.from_env()


def user_ids(count: int, first_ms: int, shards: int) -> list[int]:
    """IDs of the first moments of the ID epoch (2026-01-01), one millisecond each, over
    the shards: no user of a stack started since has them, so their keys are the bench's."""
    return [encode(first_ms + n, n % shards, 0) for n in range(count)]


def recent_media_ids(rng: random.Random, count: int, shards: int) -> list[int]:
    """Real-looking media IDs of the last PREFILL_DAYS, newest first."""
    now_ms = int(time.time() * 1000)
    span_ms = PREFILL_DAYS * 86_400_000
    return sorted(
        (
            encode(now_ms - rng.randrange(1, span_ms), rng.randrange(shards), rng.randrange(1024))
            for _ in range(count)
        ),
        reverse=True,
    )


class MediaIds:
    """New media IDs, each newer than the last: one per push."""

    def __init__(self, shard: int) -> None:
        self._shard = shard
        self._sequence = 0

    def next(self) -> int:
        self._sequence = (self._sequence + 1) % 1024
        return encode(int(time.time() * 1000), self._shard, self._sequence)


def pages(items: Sequence[int], size: int = PAGE) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def fill_feeds(cache: redis.Redis, owners: Sequence[int], entries: int, shards: int) -> None:
    """Give each owner a feed of `entries` IDs, copied from TEMPLATES lists (DUMP/RESTORE:
    the same listpack encoding RPUSH makes, without sending every entry every time)."""
    rng = random.Random(entries)
    scratch = f"{BENCH_KEY}:template"
    dumps = []
    for _ in range(TEMPLATES):
        cache.delete(scratch)
        cache.rpush(scratch, *recent_media_ids(rng, entries, shards))
        dumps.append(cache.dump(scratch))
    cache.delete(scratch)
    for page in pages(owners, 5_000):
        with cache.pipeline(transaction=False) as pipe:
            for owner in page:
                key = redis_keys.feed(owner)
                pipe.restore(key, KEY_TTL_SECONDS * 1000, dumps[owner % TEMPLATES], replace=True)
            pipe.execute()


def mark_active(cache: redis.Redis, users: Sequence[int]) -> None:
    for page in pages(users, 5_000):
        with cache.pipeline(transaction=False) as pipe:
            for user in page:
                pipe.set(redis_keys.active(user), 1, ex=KEY_TTL_SECONDS)
            pipe.execute()


def delete_keys(cache: redis.Redis, keys: Sequence[str]) -> None:
    for page in range(0, len(keys), 5_000):
        cache.unlink(*keys[page : page + 5_000])


def server_cpu_usec(cache: redis.Redis) -> float:
    """Microseconds of CPU the server's main thread has used so far: commands, scripts,
    I/O and its own timers (commandstats would count a script's inner commands twice)."""
    cpu = cache.info("cpu")
    return (cpu["used_cpu_user_main_thread"] + cpu["used_cpu_sys_main_thread"]) * 1e6


class Owner:
    """One user of the bench's own on a shard, with followers and ready media."""

    def __init__(self, admin: Router, shard: int) -> None:
        self._admin = admin
        self._shard = shard
        name = f"bench_fanout_{uuid.uuid4().hex[:12]}"
        self.id = admin.run(shard, lambda conn, s: _insert_user(conn, s, name))

    def add_followers(self, followers: Sequence[int]) -> None:
        """The `followers` rows of fan-out's reads: bulk, then analysed as a live table is."""

        def insert(conn, schema: sql.Identifier) -> None:
            with conn.cursor() as cursor:
                execute_values(
                    cursor,
                    sql.SQL("INSERT INTO {}.followers (target_id, source_id) VALUES %s")
                    .format(schema)
                    .as_string(cursor),
                    [(self.id, follower) for follower in followers],
                    page_size=10_000,
                )

        self._admin.run(self._shard, insert)
        self._admin.run(self._shard, _analyze_followers)

    def new_media(self) -> int:
        """A ready media of the owner's: what FanOut.chunk checks before pushing."""

        def insert(conn, schema: sql.Identifier) -> int:
            with conn.cursor() as cursor:
                cursor.execute(
                    sql.SQL(
                        "INSERT INTO {}.media (owner_id, status, content_type, ready_at) "
                        "VALUES (%s, 'ready', 'image/jpeg', now()) RETURNING id"
                    ).format(schema),
                    [self.id],
                )
                return cursor.fetchone()[0]

        return self._admin.run(self._shard, insert)

    def delete(self) -> None:
        """The owner, their media and followers' rows."""

        def delete(conn, schema: sql.Identifier) -> None:
            with conn.cursor() as cursor:
                for statement in (
                    "DELETE FROM {s}.followers WHERE target_id = %s",
                    "DELETE FROM {s}.media WHERE owner_id = %s",
                    "DELETE FROM {s}.users WHERE id = %s",
                ):
                    cursor.execute(sql.SQL(statement).format(s=schema), [self.id])

        self._admin.run(self._shard, delete)


def _insert_user(conn, schema: sql.Identifier, name: str) -> int:
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL("INSERT INTO {}.users (username, email) VALUES (%s, %s) RETURNING id").format(
                schema
            ),
            [name, f"{name}@example.com"],
        )
        return cursor.fetchone()[0]


def _analyze_followers(conn, schema: sql.Identifier) -> None:
    with conn.cursor() as cursor:
        cursor.execute(sql.SQL("ANALYZE {}.followers").format(schema))


class Bench:
    """The variants over one set of followers, each a callable of a new media ID."""

    def __init__(self, clients: Clients, owner: Owner, followers: Sequence[int]) -> None:
        settings = clients.settings
        self.cache = clients.redis
        self.cap = settings.feed.cap
        self.followers = followers
        self.timelines: Timelines = timelines_of(clients)
        self.activity = Activity(self.cache, settings.auth.active_window_days * 86400)
        self.owner = owner
        self.through = MAX_ID  # ours_chunk's last follower: the whole audience
        self.fanout = FanOut(
            router=clients.router,
            timelines=self.timelines,
            activity=self.activity,
            counters=Counters(self.cache, clients.router),
            cache=self.cache,
            send=_no_chunks,
            settings=settings.feed,
            tags=tag_index_of(clients),
            places=geo_index_of(clients),
        )

    def ours_redis(self, media_id: int) -> int:
        pushed = 0
        for page in pages(self.followers):
            pushed += self.timelines.push(self.activity.active_among(page), media_id)
        return pushed

    def ours_push_only(self, media_id: int) -> int:
        return sum(self.timelines.push(page, media_id) for page in pages(self.followers))

    def ours_chunk(self, media_id: int) -> int:
        chunk = FanoutChunk(
            media_id=media_id,
            owner_id=self.owner.id,
            uploaded_at=datetime.now(UTC),
            after=0,
            through=self.through,
        )
        return self.fanout.chunk(chunk).pushed

    def naive(self, media_id: int) -> int:
        for page in pages(self.followers):
            with self.cache.pipeline(transaction=False) as pipe:
                for follower in page:
                    key = redis_keys.feed(follower)
                    pipe.lpush(key, media_id)
                    pipe.ltrim(key, 0, self.cap - 1)
                pipe.execute()
        return len(self.followers)

    def variant(self, name: str) -> Callable[[int], int]:
        return getattr(self, name.replace("-", "_"))


def _no_chunks(chunk: FanoutChunk) -> None:
    raise AssertionError("a chunk is never split again")


def measure(
    bench: Bench, variants: Sequence[str], rounds: int, media: Callable[[str], int]
) -> dict[str, list[tuple[float, float]]]:
    """(followers per second, server microseconds per follower) by variant, per round."""
    figures: dict[str, list[tuple[float, float]]] = {}
    for round_number in range(rounds):
        order = variants if round_number % 2 == 0 else tuple(reversed(variants))
        for name in order:
            media_id = media(name)
            usec = server_cpu_usec(bench.cache)
            started = time.perf_counter()
            pushed = bench.variant(name)(media_id)
            elapsed = time.perf_counter() - started
            usec = server_cpu_usec(bench.cache) - usec
            if pushed != len(bench.followers):
                raise RuntimeError(f"{name}: {pushed} feeds took it of {len(bench.followers)}")
            rate = len(bench.followers) / elapsed
            figures.setdefault(name, []).append((rate, usec / len(bench.followers)))
    return figures


def medians(figures: dict[str, list[tuple[float, float]]]) -> dict[str, tuple[float, float]]:
    return {
        name: (statistics.median(r for r, _ in runs), statistics.median(u for _, u in runs))
        for name, runs in figures.items()
    }


def media_for(owner: Owner, media_ids: MediaIds) -> Callable[[str], int]:
    """A new media ID for each push: a ready media of the owner's for FanOut.chunk."""
    return lambda name: owner.new_media() if name == "ours-chunk" else media_ids.next()


def by_audience(
    bench: Bench,
    followers: Sequence[int],
    sizes: Sequence[int],
    rounds: int,
    media: Callable[[str], int],
) -> dict[int, dict[str, tuple[float, float]]]:
    """Medians of AUDIENCE_VARIANTS over the first `size` followers, for each size. Each
    round runs every size in turn (so that the machine's load weighs on all alike); a
    small audience runs more times a round, each size pushing about as many feeds."""
    found: dict[int, dict[str, list[tuple[float, float]]]] = {size: {} for size in sizes}
    try:
        for _ in range(rounds):
            for size in sizes:
                bench.followers, bench.through = followers[:size], followers[size - 1]
                repeats = min(MAX_EXTRA_ROUNDS, max(1, len(followers) // (size * 10)))
                for name, runs in measure(bench, AUDIENCE_VARIANTS, repeats, media).items():
                    found[size].setdefault(name, []).extend(runs)
    finally:
        bench.followers, bench.through = followers, MAX_ID
    return {size: medians(runs) for size, runs in found.items()}


def redis_benchmark(url: str, connections: int) -> float:
    """redis-benchmark's LPUSH requests per second on the server of `url`."""
    parts = urlsplit(url)
    command = ["redis-benchmark", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port)]
    command += ["-c", str(connections), "--dbnum", parts.path.strip("/") or "0", *CEILING]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = re.findall(r"LPUSH: ([\d.]+) requests per second", output)
    if not found:
        raise RuntimeError(f"no LPUSH figure in redis-benchmark's output: {output!r}")
    return float(found[-1])


def ceilings(cache: redis.Redis, url: str) -> dict[int, float]:
    """The LPUSH ceiling with redis-benchmark's 50 connections and with one."""
    if cache.exists(CEILING_KEY):
        raise RuntimeError(f"{CEILING_KEY!r} exists: redis-benchmark would push onto another's key")
    try:
        return {connections: redis_benchmark(url, connections) for connections in (50, 1)}
    finally:
        cache.unlink(CEILING_KEY)


def bytes_per_entry(clients: Clients, shards: int) -> tuple[dict[str, float], dict[str, str]]:
    """MEMORY USAGE per entry of full feeds: pushed by us, rebuilt by us, and as a ZSET."""
    cache = clients.redis
    cap = clients.settings.feed.cap
    lists = IdLists(cache)
    owners = user_ids(MEMORY_FEEDS, EPOCH_MS + 2 * FOLLOWERS, shards)
    feeds = [redis_keys.feed(owner) for owner in owners]
    zsets = [f"{BENCH_KEY}:zset:{owner}" for owner in owners]
    ids = _arrival_order(recent_media_ids(random.Random(cap), cap, shards))
    timelines = timelines_of(clients)
    try:
        for owner, key in zip(owners, feeds, strict=True):
            marker = redis_keys.feed_rebuild(owner)
            lists.store(key, marker, lists.begin_rebuild(marker), [], KEY_TTL_SECONDS)
        for media_id in ids:
            timelines.push(owners, media_id)
        sizes = {"ours, pushed": _usage(cache, feeds, cap)}
        cache.unlink(*feeds)
        newest_first = sorted(ids, reverse=True)
        for owner, key in zip(owners, feeds, strict=True):
            marker = redis_keys.feed_rebuild(owner)
            token = lists.begin_rebuild(marker)
            lists.store(key, marker, token, newest_first, KEY_TTL_SECONDS)
        sizes["ours, rebuilt"] = _usage(cache, feeds, cap)
        with cache.pipeline(transaction=False) as pipe:
            for key in zsets:
                pipe.zadd(key, {str(media_id): media_id for media_id in ids})
                pipe.expire(key, KEY_TTL_SECONDS)
            pipe.execute()
        sizes["ZSET"] = _usage(cache, zsets, cap)
        encodings = {"ZSET": _encoding(cache, zsets[0]), "list": _encoding(cache, feeds[0])}
        return sizes, encodings
    finally:
        cache.unlink(*feeds, *zsets)


def _encoding(cache: redis.Redis, key: str) -> str:
    found = cache.object("encoding", key)
    return found.decode() if isinstance(found, bytes) else str(found)


def _arrival_order(ids: list[int]) -> list[int]:
    """Oldest first, with one in LATE_SHARE a few places late."""
    arriving = sorted(ids)
    rng = random.Random(len(ids))
    for n in range(0, len(arriving) - 4, LATE_SHARE):
        late = rng.randrange(1, 4)
        arriving[n], arriving[n + late] = arriving[n + late], arriving[n]
    return arriving


def _usage(cache: redis.Redis, keys: Sequence[str], entries: int) -> float:
    with cache.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.memory_usage(key, samples=0)
            if key.startswith(BENCH_KEY):
                pipe.zcard(key)
            else:
                pipe.llen(key)
        found = pipe.execute()
    usages, counts = found[0::2], found[1::2]
    if set(counts) != {entries}:
        raise RuntimeError(f"feeds hold {sorted(set(counts))} entries, not {entries}")
    return statistics.mean(usages) / entries


def report(
    figures: dict[str, tuple[float, float]],
    at_cap: dict[str, tuple[float, float]],
    ceiling: dict[int, float],
    sizes: tuple[dict[str, float], dict[str, str]],
    audiences: dict[int, dict[str, tuple[float, float]]],
    *,
    rounds: int,
    cap: int,
    followers: int,
    at_cap_feeds: int,
) -> str:
    """The rates side by side, with ratios against the naive pipeline and the ceiling."""
    naive, top = figures["naive"][0], ceiling[50]
    per_entry, encodings = sizes
    lines = [
        f"One media to {followers:,} followers' feeds of {FEED_ENTRIES} entries (all active); "
        f"median of {rounds} rounds, one client process",
        f"{'variant':<36}{'followers/s':>13}{'Redis CPU us':>14}{'ours/naive':>12}"
        f"{'ours/ceiling':>14}",
    ]
    for name in VARIANTS:
        rate, usec = figures[name]
        ours = f"{rate / naive:>12.2f}{rate / top:>14.3f}" if name != "naive" else ""
        lines.append(f"{LABELS[name]:<36}{rate:>13,.0f}{usec:>14.1f}{ours}")
    for connections, rate in ceiling.items():
        label = f"redis-benchmark LPUSH -P 100, -c {connections}"
        lines.append(f"{label:<36}{rate:>13,.0f}")
    lines += [
        "  (redis-benchmark pushes 3-byte values onto one key: no feed lookup, no script,",
        "   no client work; its -c 50 uses 50 connections, every other line one)",
        "",
        f"Feeds at the cap ({at_cap_feeds:,} feeds of {cap} entries), median of {rounds} rounds",
    ]
    for name in AT_CAP_VARIANTS:
        rate, usec = at_cap[name]
        ratio = f"{rate / at_cap['naive'][0]:>12.2f}" if name != "naive" else ""
        lines.append(f"{LABELS[name]:<36}{rate:>13,.0f}{usec:>14.1f}{ratio}")
    lines += ["", "Followers/s against audience size (median; ours/naive)"]
    lines.append(f"{'followers':>10}" + "".join(f"{LABELS[n]:>36}" for n in AUDIENCE_VARIANTS))
    for size, found in sorted(audiences.items()):
        cells = [
            f"{found[n][0]:>25,.0f} ({found[n][0] / found['naive'][0]:>5.2f}x)"
            if n != "naive"
            else f"{found[n][0]:>36,.0f}"
            for n in AUDIENCE_VARIANTS
        ]
        lines.append(f"{size:>10,}" + "".join(f"{cell:>36}" for cell in cells))
    lines += [
        "",
        f"Bytes per entry of {MEMORY_FEEDS} full feeds (MEMORY USAGE, all samples, / entries)",
        f"  ours, pushed through IdLists:   {per_entry['ours, pushed']:.1f} B "
        f"({encodings['list']})",
        f"  ours, stored by a rebuild:      {per_entry['ours, rebuilt']:.1f} B",
        f"  ZSET (score and member the ID): {per_entry['ZSET']:.1f} B ({encodings['ZSET']}); "
        f"ours/ZSET {per_entry['ours, pushed'] / per_entry['ZSET']:.2f}",
    ]
    return "\n".join(lines)


def record(
    result: Result,
    figures: dict[str, tuple[float, float]],
    at_cap: dict[str, tuple[float, float]],
    ceiling: dict[int, float],
    sizes: tuple[dict[str, float], dict[str, str]],
    *,
    audiences: dict[int, dict[str, tuple[float, float]]],
) -> None:
    """Each variant's rate and Redis CPU against naive's, the ceilings, bytes per entry,
    and the rate of each variant by audience size."""
    for prefix, found in (("", figures), ("at the cap: ", at_cap)):
        naive_rate, naive_usec = found["naive"]
        for name, (rate, usec) in found.items():
            label = f"{prefix}{LABELS[name]}"
            compared = {} if name == "naive" else {"baseline": f"{prefix}{LABELS['naive']}"}
            rate_base = {"baseline_value": naive_rate} if compared else {}
            usec_base = {"baseline_value": naive_usec} if compared else {}
            result.figure(label, rate, "followers/s", **compared, **rate_base)
            result.figure(
                f"{label}: Redis CPU", usec, "us/follower", better="lower", **compared, **usec_base
            )
    for connections, rate in ceiling.items():
        result.figure(f"redis-benchmark LPUSH -P 100, -c {connections}", rate, "pushes/s")
    per_entry, _ = sizes
    for name, size in per_entry.items():
        compared = (
            {} if name == "ZSET" else {"baseline": "ZSET", "baseline_value": per_entry["ZSET"]}
        )
        result.figure(f"bytes per feed entry: {name}", size, "B", better="lower", **compared)
    for audience, found in sorted(audiences.items()):
        for name, (rate, _) in found.items():
            result.point(LABELS[name], audience, rate, x_label="followers", y_label="followers/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack-env", type=Path, help="a stack's env file of settings")
    parser.add_argument("--shard", type=int, default=7, help="the owner's shard (default 7)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per variant (default 3)")
    parser.add_argument(
        "--followers",
        type=int,
        default=FOLLOWERS,
        help=f"the whole audience (at most {FOLLOWERS:,})",
    )
    parser.add_argument(
        "--audiences",
        type=lambda text: [int(n) for n in text.split(",") if n],
        default=list(AUDIENCES),
        help="smaller audiences to chart, comma-separated (default 1000,10000)",
    )
    add_json_option(parser)
    args = parser.parse_args()
    if not 0 < args.followers <= FOLLOWERS:
        parser.error(f"--followers: 1 to {FOLLOWERS:,}")
    sizes_below = sorted({n for n in args.audiences if 0 < n < args.followers})
    result = Result.of(
        __file__,
        __doc__,
        "Fan-out throughput",
        followers=args.followers,
        audiences=[*sizes_below, args.followers],
        rounds=args.rounds,
        feed_entries=FEED_ENTRIES,
    )

    settings: Settings = load_settings(args.stack_env)
    clients = Clients(settings)
    shards = clients.shard_map.get().logical_shards
    admin = Router(clients.admin_databases, clients.shard_map)
    followers = user_ids(args.followers, EPOCH_MS + 1, shards)
    media_ids = MediaIds(args.shard)
    owner = Owner(admin, args.shard)
    cache = clients.redis
    try:
        fill_feeds(cache, followers, FEED_ENTRIES, shards)
        mark_active(cache, followers)
        owner.add_followers(followers)
        bench = Bench(clients, owner, followers)
        media = media_for(owner, media_ids)
        main_figures = measure(bench, VARIANTS, args.rounds, media)
        sizes = [*sizes_below, len(followers)]
        audiences = by_audience(bench, followers, sizes, args.rounds, media)
        at_cap = bench.followers = followers[:AT_CAP_FEEDS]
        fill_feeds(cache, at_cap, settings.feed.cap, shards)
        cap_figures = measure(bench, AT_CAP_VARIANTS, args.rounds, lambda _: media_ids.next())
        ceiling = ceilings(cache, str(settings.redis_url))
        sizes = bytes_per_entry(clients, shards)
    finally:
        delete_keys(cache, [redis_keys.feed(f) for f in followers])
        delete_keys(cache, [redis_keys.active(f) for f in followers])
        owner.delete()
        clients.databases.close()
        clients.admin_databases.close()
    print(
        report(
            medians(main_figures),
            medians(cap_figures),
            ceiling,
            sizes,
            audiences,
            rounds=args.rounds,
            cap=settings.feed.cap,
            followers=len(followers),
            at_cap_feeds=len(at_cap),
        )
    )
    record(
        result,
        medians(main_figures),
        medians(cap_figures),
        ceiling,
        sizes,
        audiences=audiences,
    )
    result.write(args.json)


if __name__ == "__main__":
    main()
