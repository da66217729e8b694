"""The capacity model: what Instagram's 2012 load, and 100 times it, would take of each
part of a Photofeed deployment, computed from the costs the benchmarks measured.

Measured inputs, each read from the latest bench/results/*.json (`make bench` writes
them) and named in the output with where it came from:
- API request time: feed.json's warm page (median, p99); load.json's per-route medians
  when a load test has run (bench/load.py);
- fan-out: fanout.json's followers per second of `FanOut.chunk` end to end, Redis CPU per
  follower, bytes per feed entry;
- renditions: thumbnail.json's time and peak memory for one 12-megapixel photo, and the
  bytes of the renditions `render()` makes of the bench's photo (rendered here, ~1 s);
- PostgreSQL: bytes per row (indexes included) of each table, measured on a running
  stack given with --stack-env (best after `photofeed seed`), else rows.json of an
  earlier run of this script (bench/capacity-rows.json).

Load inputs are the issue's (about 30 million users, 25 photos and 90 likes a second,
reads 100 times writes) and the assumptions listed in ASSUMPTIONS; prices are AWS's
us-east-1 list prices, in PRICES. Change either and run again:

    .venv/bin/python -m bench.capacity [--stack-env .local/stack.env] [--out docs/capacity.md]

It writes docs/capacity.md: every formula, its inputs and its result, for 1x and 100x.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
ROWS_FILE = Path(__file__).parent / "capacity-rows.json"
DEFAULT_OUT = Path(__file__).parent.parent / "docs" / "capacity.md"

# The load (Instagram, 2012).
LOAD = {
    "users": 30_000_000,
    "photos_per_s": 25.0,
    "likes_per_s": 90.0,
    "reads_per_write": 100.0,
}
ASSUMPTIONS = {
    "peak_to_mean": 2.0,  # the busiest hour against the day's mean
    "comments_per_s": 10.0,  # not given: a ninth of likes
    "follows_per_s": 10.0,  # not given
    "mean_followers": 200.0,  # followers of the average poster (power law's mean)
    "active_share": 0.3,  # users who read within the feed's activity window (they get pushes)
    "feed_key_overhead_bytes": 90.0,  # a Redis key, its dict entry and quicklist header
    "media_cache_entry_bytes": 900.0,  # one cached media record (JSON) with its key
    "media_cache_hot": 2_000_000,  # media read within the cache's 300 s at 1x
    "original_bytes": 3_000_000,  # a phone's 12-megapixel JPEG
    "images_per_read": 3.0,  # renditions a read makes the app fetch (it caches the rest)
    "egress_bytes_per_image": 60_000.0,  # a medium WebP
    "pg_bytes_per_instance": 2e12,  # keep each database under 2 TB
    "pg_write_share": 0.25,  # of one database's measured single-row insert rate
    "redis_bytes_per_node": 0.75 * 52.82e9,  # cache.r7g.2xlarge, 25% kept free
    "redis_cpu_share": 0.5,  # of one node's main thread given to fan-out
    "api_memory_gb": 1.0,  # .chalice/config.json lambda_memory_size
    "fanout_memory_gb": 1.0,
    "thumbnail_memory_gb": 2.0,
    "years_of_data": 1.0,  # PostgreSQL and S3 sized after this long
}
# us-east-1 list prices (USD), as published at the time of writing: check before use.
PRICES: dict[str, Any] = {
    # REST API, per million requests a month, in tiers: (up to this many millions, price).
    "api_gateway_tiers": ((333, 3.50), (1_000, 2.80), (20_000, 2.38), (math.inf, 1.51)),
    "lambda_per_million": 0.20,
    "lambda_per_gb_second": 0.0000166667,  # x86
    "sqs_per_million": 0.40,
    "sns_mobile_push_per_million": 0.50,
    "s3_per_gb_month": 0.023,
    "s3_put_per_thousand": 0.005,
    # To the internet from North America, per GB a month, in tiers.
    "cloudfront_tiers": (
        (10_000, 0.085),
        (50_000, 0.080),
        (150_000, 0.060),
        (500_000, 0.040),
        (1_024_000, 0.030),
        (5_120_000, 0.025),
        (math.inf, 0.020),
    ),
    "redis_node_per_hour": 0.8736,  # cache.r7g.2xlarge
    "rds_instance_per_hour": 2.0,  # db.r7g.2xlarge Multi-AZ (about 2 x 0.98)
    "rds_storage_per_gb_month": 0.23,  # gp3, Multi-AZ
    "rds_proxy_per_vcpu_hour": 0.015,
    "rds_vcpus": 8,
}
HOURS_PER_MONTH = 730.0
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
SCALES = (1.0, 100.0)
# Tables the model sizes, and their rows per second at 1x (from LOAD and ASSUMPTIONS).
TABLE_RATES: dict[str, Callable[[dict[str, float]], float]] = {
    "media": lambda r: r["photos_per_s"],
    "likes": lambda r: r["likes_per_s"],
    "comments": lambda r: r["comments_per_s"],
    "follows": lambda r: r["follows_per_s"],
    "followers": lambda r: r["follows_per_s"],
}


@dataclass
class Measured:
    """A measured input: its value, unit and where it came from."""

    value: float
    unit: str
    source: str


@dataclass
class Model:
    """Inputs, then lines of `formula = result`, section by section."""

    measured: dict[str, Measured]
    sections: list[tuple[str, list[str]]] = field(default_factory=list)
    # Per scale: the figures the closing remarks name.
    findings: dict[float, dict[str, Any]] = field(default_factory=dict)


def _result(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _figure(result: dict[str, Any] | None, name: str) -> float | None:
    for figure in (result or {}).get("figures", []):
        if figure["name"] == name:
            return float(figure["value"])
    return None


def measured_inputs(rows: dict[str, float]) -> dict[str, Measured]:
    """Every measured input; SystemExit naming what is missing."""
    inputs: dict[str, Measured] = {}
    wanted = {
        "feed_ms": ("feed", "warm, median", "ms"),
        "feed_p99_ms": ("feed", "warm, p99", "ms"),
        "fanout_followers_per_s": ("fanout", "ours, FanOut.chunk (+ PostgreSQL)", "followers/s"),
        "redis_us_per_follower": (
            "fanout",
            "ours, FanOut.chunk (+ PostgreSQL): Redis CPU",
            "µs/follower",
        ),
        "feed_entry_bytes": ("fanout", "bytes per feed entry: ours, pushed", "B"),
        "thumbnail_ms": ("thumbnail", "ours, median", "ms"),
        "thumbnail_peak_mb": ("thumbnail", "ours, peak memory", "MB"),
        "inserts_per_s": ("ids", "single-row: ours", "rows/s"),
    }
    missing = []
    for key, (bench, name, unit) in wanted.items():
        value = _figure(_result(bench), name)
        if value is None:
            missing.append(f"{bench}.json: {name!r}")
        else:
            inputs[key] = Measured(value, unit, f"bench/results/{bench}.json, {name!r}")
    if missing:
        raise SystemExit("run `make bench` first; missing: " + "; ".join(missing))
    load = _result("load")
    write_ms = _load_write_ms(load)
    if write_ms is not None:
        inputs["write_ms"] = Measured(write_ms, "ms", "bench/results/load.json, write routes")
    else:
        inputs["write_ms"] = Measured(
            inputs["feed_ms"].value, "ms", "no load test yet: a feed page's time"
        )
    inputs["rendition_bytes"] = Measured(
        float(_rendition_bytes()), "B", "render() of bench/thumbnail.py's photo"
    )
    for table, size in rows.items():
        inputs[f"row_bytes_{table}"] = Measured(size, "B/row", "PostgreSQL, all shards")
    return inputs


def _load_write_ms(load: dict[str, Any] | None) -> float | None:
    """The mean of the load test's write routes' medians, if it ran."""
    routes = (load or {}).get("routes", {})
    medians = [
        r["p50_ms"]
        for route, r in routes.items()
        if route.split(" ", 1)[0] in {"POST", "PATCH", "DELETE"} and "p50_ms" in r
    ]
    return sum(medians) / len(medians) if medians else None


def _rendition_bytes() -> int:
    sys.path.insert(0, str(Path(__file__).parent.parent))
    from bench.thumbnail import photo_jpeg  # noqa: PLC0415
    from functions.thumbnail.renditions import render  # noqa: PLC0415

    return sum(len(r.data) for r in render(photo_jpeg(), "image/jpeg").renditions)


def measure_rows(stack_env: Path) -> dict[str, float]:
    """Bytes per row (heap, TOAST and indexes) of each sized table, over every shard."""
    from chalicelib.clients import Clients  # noqa: PLC0415
    from chalicelib.config import Settings, read_env_file  # noqa: PLC0415

    os.environ.update(read_env_file(stack_env))
    settings = Settings.from_env()
    clients = Clients(settings)
    query = (
        "SELECT relname, sum(pg_total_relation_size(relid)), sum(n_live_tup)"
        " FROM pg_stat_user_tables"
        " WHERE schemaname LIKE 'shard\\_%%' AND relname = ANY(%s) GROUP BY relname"
    )
    totals: dict[str, list[float]] = {t: [0.0, 0.0] for t in TABLE_RATES}
    for name in clients.databases.names:
        with clients.databases.connection(name) as conn, conn.cursor() as cursor:
            cursor.execute(query, (list(TABLE_RATES),))
            for table, size, rows in cursor.fetchall():
                totals[table][0] += float(size)
                totals[table][1] += max(float(rows), 0.0)
    clients.databases.close()
    return {t: size / rows for t, (size, rows) in totals.items() if rows >= 1000}


def build(inputs: dict[str, Measured]) -> Model:
    model = Model(inputs)
    m = {k: v.value for k, v in inputs.items()}
    a = {**LOAD, **ASSUMPTIONS}
    for scale in SCALES:
        lines: list[str] = []

        def say(name: str, formula: str, value: float, unit: str = "") -> float:
            lines.append(f"| {name} | `{formula}` | {_fmt(value)} {unit} |")  # noqa: B023
            return value

        users = say("users", "users * scale", a["users"] * scale)
        writes = say(
            "writes/s (mean)",
            "(photos + likes + comments + follows)/s * scale",
            (a["photos_per_s"] + a["likes_per_s"] + a["comments_per_s"] + a["follows_per_s"])
            * scale,
        )
        reads = say(
            "reads/s (mean)",
            "(photos + likes)/s * reads_per_write * scale",
            (a["photos_per_s"] + a["likes_per_s"]) * a["reads_per_write"] * scale,
        )
        peak = a["peak_to_mean"]
        photos = a["photos_per_s"] * scale
        api_s = (reads * m["feed_ms"] + writes * m["write_ms"]) / 1000
        say(
            "**API Lambda concurrency** (peak)",
            "peak_to_mean * (reads * feed_ms + writes * write_ms) / 1000",
            peak * api_s,
        )
        pushes = say(
            "feed pushes/s (mean)",
            "photos/s * mean_followers * active_share",
            photos * a["mean_followers"] * a["active_share"],
        )
        say(
            "**fan-out Lambda concurrency** (peak)",
            "peak_to_mean * pushes / fanout_followers_per_s",
            peak * pushes / m["fanout_followers_per_s"],
        )
        say(
            "**thumbnail Lambda concurrency** (peak)",
            "peak_to_mean * photos/s * thumbnail_ms / 1000",
            peak * photos * m["thumbnail_ms"] / 1000,
        )
        feeds = say(
            "Redis for feeds",
            "users * active_share * (cap * feed_entry_bytes + key_overhead)",
            users
            * a["active_share"]
            * (800 * m["feed_entry_bytes"] + a["feed_key_overhead_bytes"]),
            "B",
        )
        cache = say(
            "Redis for the media cache",
            "media_cache_hot * scale * media_cache_entry_bytes",
            a["media_cache_hot"] * scale * a["media_cache_entry_bytes"],
            "B",
        )
        redis_cpu = say(
            "Redis CPU for fan-out (peak)",
            "peak_to_mean * pushes * redis_us_per_follower / 1e6",
            peak * pushes * m["redis_us_per_follower"] / 1e6,
            "cores",
        )
        nodes = say(
            "**Redis shards** (primaries)",
            "max(⌈(feeds + cache) / redis_bytes_per_node⌉, ⌈cpu / redis_cpu_share⌉)",
            max(
                math.ceil((feeds + cache) / a["redis_bytes_per_node"]),
                math.ceil(redis_cpu / a["redis_cpu_share"]),
                1,
            ),
        )
        seconds = a["years_of_data"] * 365 * 86400
        rates = {t: f(a) * scale for t, f in TABLE_RATES.items()}
        pg_bytes = 0.0
        for table, rate in rates.items():
            size = m.get(f"row_bytes_{table}")
            if size is not None:
                pg_bytes += say(
                    f"PostgreSQL: {table}",
                    f"{table}/s * years * 365 * 86400 * row_bytes_{table}",
                    rate * seconds * size,
                    "B",
                )
        pg_bytes = say("**PostgreSQL data**", "sum of the tables", pg_bytes, "B")
        pg_writes = sum(rates.values())
        databases = say(
            "**physical databases**",
            "max(⌈data / pg_bytes_per_instance⌉,"
            " ⌈peak * rows/s / (pg_write_share * inserts_per_s)⌉)",
            max(
                math.ceil(pg_bytes / a["pg_bytes_per_instance"]),
                math.ceil(peak * pg_writes / (a["pg_write_share"] * m["inserts_per_s"])),
                1,
            ),
        )
        say(
            "logical shards per database",
            "4096 / databases (the deployment's logical shards)",
            4096 / databases,
        )
        s3_bytes = say(
            "S3 data",
            "photos/s * years * 365 * 86400 * (original_bytes + rendition_bytes)",
            photos * seconds * (a["original_bytes"] + m["rendition_bytes"]),
            "B",
        )
        requests = (reads + writes) * SECONDS_PER_MONTH
        p = PRICES
        month = SECONDS_PER_MONTH
        pushed = (a["likes_per_s"] + a["comments_per_s"] + a["follows_per_s"]) * scale
        egress_gb = reads * a["images_per_read"] * a["egress_bytes_per_image"] * month / 1e9
        costs = [
            (
                "API Gateway",
                "tiered(requests/month / 1e6, api_gateway_tiers)",
                _tiered(requests / 1e6, p["api_gateway_tiers"]),
            ),
            (
                "Lambda (API)",
                "requests/month / 1e6 * per_million"
                " + api_busy_s * month * api_memory_gb * per_gb_s",
                requests / 1e6 * p["lambda_per_million"]
                + api_s * month * a["api_memory_gb"] * p["lambda_per_gb_second"],
            ),
            (
                "Lambda (fan-out, thumbnail)",
                "(pushes / fanout_followers_per_s * fanout_memory_gb"
                " + photos * thumbnail_ms / 1000 * thumbnail_memory_gb) * month * per_gb_s",
                (
                    pushes / m["fanout_followers_per_s"] * a["fanout_memory_gb"]
                    + photos * m["thumbnail_ms"] / 1000 * a["thumbnail_memory_gb"]
                )
                * month
                * p["lambda_per_gb_second"],
            ),
            (
                "SQS",
                "(photos * 2 queues + pushed) * 3 calls * month / 1e6 * per_million",
                (photos * 2 + pushed) * 3 * month / 1e6 * p["sqs_per_million"],
            ),
            (
                "SNS mobile push",
                "(likes + comments + follows)/s * month / 1e6 * per_million",
                pushed * month / 1e6 * p["sns_mobile_push_per_million"],
            ),
            (
                "ElastiCache",
                "shards * 2 (a replica each) * node_per_hour * 730",
                nodes * 2 * p["redis_node_per_hour"] * HOURS_PER_MONTH,
            ),
            (
                "RDS + Proxy",
                "databases * (instance_per_hour + vcpus * proxy_per_vcpu_hour) * 730"
                " + data_GB * storage_per_gb_month",
                databases
                * (p["rds_instance_per_hour"] + p["rds_vcpus"] * p["rds_proxy_per_vcpu_hour"])
                * HOURS_PER_MONTH
                + pg_bytes / 1e9 * p["rds_storage_per_gb_month"],
            ),
            (
                "S3 (data after the period, PUTs)",
                "s3_GB * per_gb_month + photos * 8 objects * month / 1000 * put_per_thousand",
                s3_bytes / 1e9 * p["s3_per_gb_month"]
                + photos * 8 * month / 1000 * p["s3_put_per_thousand"],
            ),
            (
                "CloudFront egress",
                "tiered(reads * images_per_read * egress_bytes_per_image * month / 1e9,"
                " cloudfront_tiers)",
                _tiered(egress_gb, p["cloudfront_tiers"]),
            ),
        ]
        for name, formula, cost in costs:
            say(f"cost/month: {name}", formula, cost, "USD")
        say("**cost/month, total**", "sum", sum(cost for _, _, cost in costs), "USD")
        model.findings[scale] = {
            "api": peak * api_s,
            "thumbnail": peak * photos * m["thumbnail_ms"] / 1000,
            "redis_shards": nodes,
            "redis_memory_bound": (feeds + cache) / a["redis_bytes_per_node"]
            >= redis_cpu / a["redis_cpu_share"],
            "databases": databases,
            "costs": sorted(((c, n) for n, _, c in costs), reverse=True),
        }
        model.sections.append((f"{scale:g}x Instagram 2012", lines))
    return model


def _tiered(amount: float, tiers: tuple[tuple[float, float], ...]) -> float:
    """The price of `amount` units, each tier's units at its price."""
    cost, below = 0.0, 0.0
    for up_to, price in tiers:
        cost += max(0.0, min(amount, up_to) - below) * price
        below = up_to
    return cost


def _fmt(value: float) -> str:
    for limit, suffix in ((1e12, " T"), (1e9, " G"), (1e6, " M")):
        if abs(value) >= limit:
            return f"{value / limit:,.2f}{suffix}"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def _remarks(model: Model) -> list[str]:
    """What the tables say, from their own figures."""
    low, high = (model.findings[scale] for scale in SCALES)
    top = ", ".join(f"{name} ({_fmt(cost)} USD)" for cost, name in high["costs"][:3])
    return [
        f"- API Lambda concurrency at peak: {_fmt(low['api'])} at 1x, {_fmt(high['api'])} at"
        " 100x. Past the default account limit (1,000) a stage needs a raised quota.",
        f"- Thumbnail concurrency: {_fmt(low['thumbnail'])} at 1x, {_fmt(high['thumbnail'])}"
        " at 100x; fan-out needs little (Redis does the work).",
        f"- Redis: {low['redis_shards']:g} shard(s) at 1x, {high['redis_shards']:g} at 100x,"
        + (
            " sized by memory (feeds of active users)."
            if high["redis_memory_bound"]
            else " sized by fan-out CPU."
        )
        + " The feed cap and the activity window shrink it linearly.",
        f"- PostgreSQL: {low['databases']:g} database(s) at 1x, {high['databases']:g} at"
        " 100x after a year of data; the 4,096 logical shards spread over them by shard"
        " moves (docs/operations.md), no re-sharding.",
        f"- The largest bills at 100x: {top}. Photos' bytes (egress, storage) dominate;"
        " API Gateway's REST API is the first cost to cut (an HTTP API or an ALB in"
        " front of the same Lambda costs a fraction per request).",
    ]


def render_markdown(model: Model) -> str:
    out = [
        "# Capacity",
        "",
        "What a deployment needs for Instagram's 2012 load (about 30 million users, 25",
        "photos and 90 likes a second, reads 100 times writes) and for 100 times that,",
        "computed by `bench/capacity.py` from the per-operation costs the benchmarks",
        "measured on a 2-core machine (`make bench`). Regenerate after a new `make bench`:",
        "",
        "    .venv/bin/python -m bench.capacity --stack-env .local/stack.env",
        "",
        "Concurrency follows Little's law (in flight = arrivals/s * seconds each); Lambda",
        "bills GB-seconds; one core of this machine stands for one Lambda vCPU (a",
        "1,769 MB function has one). Prices are us-east-1 list prices, in the script.",
        "",
        "## Measured inputs",
        "",
        "| input | value | unit | from |",
        "|---|---|---|---|",
    ]
    for name, item in model.measured.items():
        out.append(f"| `{name}` | {_fmt(item.value)} | {item.unit} | {item.source} |")
    out += ["", "## Assumed inputs", "", "| input | value |", "|---|---|"]
    for name, value in {**LOAD, **ASSUMPTIONS}.items():
        out.append(f"| `{name}` | {_fmt(value)} |")
    for title, lines in model.sections:
        out += ["", f"## {title}", "", "| quantity | formula | result |", "|---|---|---|"]
        out += lines
    out += [
        "",
        "## Reading it",
        "",
        *_remarks(model),
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__)
    parser.add_argument("--stack-env", type=Path, help="measure bytes per row on this stack")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.stack_env:
        rows = measure_rows(args.stack_env)
        ROWS_FILE.write_text(json.dumps(rows, indent=2) + "\n")
    elif ROWS_FILE.exists():
        rows = json.loads(ROWS_FILE.read_text())
    else:
        raise SystemExit("no row sizes: give --stack-env (a stack with seeded data)")
    model = build(measured_inputs(rows))
    args.out.write_text(render_markdown(model))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
