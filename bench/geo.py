"""Place search latency with 1,000,000 geotagged media in the index: our search's Redis
part (GeoIndex.search: EXISTS + GEOSEARCH per day key of the window, one pipeline, then
the merge newest first) against a bare GEOSEARCH of the same query.

The media: 1,000,000 IDs spread evenly over the 7 day keys of a window that starts
2030-01-01 (days nobody's stack holds), half of them around 20 cities (normal, sigma
~5 km) and half anywhere on land-ish latitudes; loaded with GEOADD (and the
companion ZADD by time) in pipelines of 10,000. Queries: --queries searches, each
within --distance meters (default 1,000) of a random city's centre, all 7 days.

- ours: GeoIndex.search (the route adds hydration and filtering in PostgreSQL and the
  media cache, not measured here);
- bare, 7 keys: the same 7 GEOSEARCH ... BYRADIUS in one pipeline, answers untouched;
- bare, 1 key: one GEOSEARCH over a single GEO set holding all 1,000,000 (an index
  with no days).

Printed: median and p99 of each in milliseconds, ours over each bare one, and the
median number of media found per query; with --json PATH, the same and every query's
time (bench/results.py). By default it starts a private redis-server
(from PATH) on a free port and stops it; --redis-url uses another (its keys `geo:{2030-*}`
and `bench:geo:all` are deleted at the end). Run it alone:

    .venv/bin/python bench/geo.py [--redis-url redis://localhost:6379/0] [--queries 2000]
        [--media 1000000] [--json PATH]
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis

from bench.results import Result, add_json_option
from chalicelib import redis_keys
from chalicelib.places.index import GeoIndex, first_id_at
from chalicelib.places.limits import MAX_WINDOW_DAYS
from chalicelib.shards.ids import encode

MEDIA = 1_000_000  # the default --media
PIPELINE = 10_000
CITIES = 20
CITY_SIGMA_DEG = 0.045  # ~5 km
START = datetime(2030, 1, 1, tzinfo=UTC)
ALL_KEY = "bench:geo:all"


def private_redis() -> tuple[subprocess.Popen, str]:
    """A redis-server of the bench's own, on a free port; its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="bench-geo-")
    server = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return server, f"redis://127.0.0.1:{port}/0"


def fill(
    cache: redis.Redis, rng: random.Random, cities: list[tuple[float, float]], media: int
) -> None:
    """`media` media over the window's day keys, and the same in one key."""
    days = [START + timedelta(days=d) for d in range(MAX_WINDOW_DAYS)]
    for start in range(0, media, PIPELINE):
        with cache.pipeline(transaction=False) as pipe:
            by_day: dict[str, list] = {}
            by_day_ids: dict[str, dict] = {}
            every: list = []
            for n in range(start, min(media, start + PIPELINE)):
                day = days[n % len(days)]
                ms = int(day.timestamp() * 1000) + rng.randrange(86_400_000)
                media_id = encode(ms, rng.randrange(8192), rng.randrange(1024))
                if n % 2:
                    lat0, lng0 = rng.choice(cities)
                    lat = lat0 + rng.gauss(0, CITY_SIGMA_DEG)
                    lng = lng0 + rng.gauss(0, CITY_SIGMA_DEG)
                else:
                    lat, lng = rng.uniform(-60, 70), rng.uniform(-179.9, 179.9)
                name = day.date().isoformat()
                by_day.setdefault(name, []).extend((lng, lat, media_id))
                by_day_ids.setdefault(name, {})[str(media_id)] = ms
                every.extend((lng, lat, media_id))
            for name, values in by_day.items():
                pipe.geoadd(redis_keys.geo_day(name), values)
                pipe.zadd(redis_keys.geo_day_ids(name), by_day_ids[name])
            pipe.geoadd(ALL_KEY, every)
            pipe.execute()


def timed(run: Callable[[], int], queries: int) -> tuple[list[float], list[int]]:
    took, found = [], []
    for _ in range(queries):
        began = time.perf_counter()
        found.append(run())
        took.append((time.perf_counter() - began) * 1000)
    return took, found


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def record(result: Result, results: dict[str, tuple[list[float], list[int]]]) -> None:
    """Each variant's median and p99, ours against each bare one; every query's time."""
    ours = "ours (GeoIndex.search)"
    stats = (("median", statistics.median), ("p99", p99))
    for label, (took, _) in results.items():
        result.sample(label, took)
        if label == ours:
            continue
        for stat, value in stats:
            result.figure(f"{label}, {stat}", value(took), "ms", better="lower")
            result.figure(
                f"ours, {stat}",
                value(results[ours][0]),
                "ms",
                better="lower",
                baseline=f"{label}, {stat}",
                baseline_value=value(took),
            )
    found = statistics.median(results[ours][1])
    result.figure("media found per query, median", found, "media", better="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", help="a Redis to use (default: a private one)")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--distance", type=float, default=1000.0, help="meters")
    parser.add_argument("--media", type=int, default=MEDIA, help="media in the index")
    add_json_option(parser)
    args = parser.parse_args()
    result = Result.of(
        __file__,
        __doc__,
        "Place search latency",
        media=args.media,
        queries=args.queries,
        distance_m=args.distance,
        days=MAX_WINDOW_DAYS,
    )
    server, url = (None, args.redis_url) if args.redis_url else private_redis()
    cache = redis.Redis.from_url(url)
    rng = random.Random(8)
    cities = [(rng.uniform(-45, 60), rng.uniform(-170, 170)) for _ in range(CITIES)]
    days = [(START + timedelta(days=d)).date().isoformat() for d in range(MAX_WINDOW_DAYS)]
    try:
        began = time.perf_counter()
        fill(cache, rng, cities, args.media)
        print(
            f"filled {args.media:,} media in {time.perf_counter() - began:.1f} s; "
            f"used_memory {cache.info('memory')['used_memory_human']}"
        )
        index = GeoIndex(cache, router=None)  # type: ignore[arg-type]  (no day is missing)
        since = first_id_at(START)
        below = first_id_at(START + timedelta(days=MAX_WINDOW_DAYS))
        points = [rng.choice(cities) for _ in range(args.queries)]

        def ours() -> int:
            lat, lng = next(todo_ours)
            return len(index.search(lat, lng, args.distance, since, below).ids)

        def bare_days() -> int:
            lat, lng = next(todo_days)
            with cache.pipeline(transaction=False) as pipe:
                for day in days:
                    pipe.geosearch(
                        redis_keys.geo_day(day),
                        longitude=lng,
                        latitude=lat,
                        radius=args.distance,
                        unit="m",
                    )
                return sum(len(found) for found in pipe.execute())

        def bare_one() -> int:
            lat, lng = next(todo_one)
            return len(
                cache.geosearch(
                    ALL_KEY, longitude=lng, latitude=lat, radius=args.distance, unit="m"
                )
            )

        todo_ours, todo_days, todo_one = iter(points), iter(points), iter(points)
        results = {
            "ours (GeoIndex.search)": timed(ours, args.queries),
            "bare GEOSEARCH, 7 day keys": timed(bare_days, args.queries),
            "bare GEOSEARCH, 1 key": timed(bare_one, args.queries),
        }
        print(
            f"{args.queries} queries, {args.distance:.0f} m around a city, {MAX_WINDOW_DAYS} days"
        )
        print(f"{'':30} {'median ms':>10} {'p99 ms':>8} {'found':>6}")
        for label, (took, found) in results.items():
            print(
                f"{label:30} {statistics.median(took):10.3f} {p99(took):8.3f} "
                f"{statistics.median(found):6.0f}"
            )
        ours_took = results["ours (GeoIndex.search)"][0]
        for label in ("bare GEOSEARCH, 7 day keys", "bare GEOSEARCH, 1 key"):
            took = results[label][0]
            median = statistics.median(ours_took) / statistics.median(took)
            print(f"ours / {label}: median x{median:.2f}, p99 x{p99(ours_took) / p99(took):.2f}")
        record(result, results)
        result.write(args.json)
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        else:
            for day in days:
                cache.delete(redis_keys.geo_day(day), redis_keys.geo_day_ids(day))
            cache.delete(ALL_KEY)


if __name__ == "__main__":
    main()
