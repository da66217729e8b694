"""IDs per second through `INSERT ... RETURNING id` on one shard: ours against bigserial.

Three tables of the same shape in a schema of the bench's own (`bench_ids`) on the
shard's home database, dropped at the end:

- bigserial: `id bigserial PRIMARY KEY`, the baseline;
- ours: `id bigint PRIMARY KEY DEFAULT shard_NNNN.next_id()`, the shard's real generator
  (so the bench advances that shard's ID sequences: harmless, IDs only get gaps);
- instagram: the PL/pgSQL next_id() Instagram published, with our epoch, as a reference.

Workloads: bulk (one INSERT ... SELECT generate_series ... RETURNING id) and single-row
(one INSERT ... RETURNING id per round trip, each its own transaction, as the API does).
Variants interleave, in alternating order, over several rounds; the tables are truncated
before each round; the figures are medians. It talks straight to PostgreSQL
(PHOTOFEED_POSTGRES_DIRECT), not through PgBouncer.

Run it against a running stack (`make up`): settings come from the environment, or from
.local/stack.env when no PHOTOFEED_* variable is set, or from --stack-env FILE; --json
PATH also writes the medians (bench/results.py):

    .venv/bin/python bench/ids.py [--stack-env FILE] [--shard 7] [--rounds 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from bench.results import Result, add_json_option
from chalicelib.clients import Clients
from chalicelib.config import Settings, use_stack_env
from chalicelib.shards.ids import EPOCH_MS
from chalicelib.shards.schema import schema, schema_name

BENCH_SCHEMA = "bench_ids"
VARIANTS = ("bigserial", "ours", "instagram")
BULK_ROWS = 200_000
SINGLE_ROWS = 5_000
WARM_UP_ROWS = 2_000

# Instagram's function as published, with our epoch and shard: the bench's reference.
INSTAGRAM_NEXT_ID = Path(__file__).with_name("instagram_next_id.sql")


def load_settings(stack_env: Path | None) -> Settings:
    """Settings from the environment, or from a stack's env file as the CLI does."""
    use_stack_env(stack_env)
    return Settings.from_env()


def direct_dsn(settings: Settings, database: str) -> str:
    """The database's DSN straight to PostgreSQL: the direct server, the database's name."""
    server = urlsplit(os.environ["PHOTOFEED_POSTGRES_DIRECT"])
    name = urlsplit(str(settings.databases[database])).path
    return urlunsplit(server._replace(path=name))


def _table(variant: str) -> sql.Identifier:
    return sql.Identifier(BENCH_SCHEMA, variant)


def create_tables(conn: Connection, shard: int) -> None:
    """The bench schema: one table per variant, and Instagram's function."""
    bench = sql.Identifier(BENCH_SCHEMA)
    id_columns = {
        "bigserial": sql.SQL("id bigserial PRIMARY KEY"),
        "ours": sql.SQL("id bigint PRIMARY KEY DEFAULT {}.next_id()").format(schema(shard)),
        "instagram": sql.SQL("id bigint PRIMARY KEY DEFAULT {}.instagram_next_id()").format(bench),
    }
    with conn, conn.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE SCHEMA {}").format(bench))
        cursor.execute(sql.SQL("CREATE SEQUENCE {}.instagram_seq").format(bench))
        cursor.execute(
            sql.SQL(INSTAGRAM_NEXT_ID.read_text()).format(
                schema=bench,
                epoch=sql.Literal(EPOCH_MS),
                shard=sql.Literal(shard),
                seq=sql.Literal(f"{BENCH_SCHEMA}.instagram_seq"),
            )
        )
        for variant, id_column in id_columns.items():
            cursor.execute(
                sql.SQL("CREATE TABLE {} ({}, n int)").format(_table(variant), id_column)
            )


def drop_tables(conn: Connection) -> None:
    with conn, conn.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(BENCH_SCHEMA))
        )


def truncate(conn: Connection) -> None:
    with conn, conn.cursor() as cursor:
        cursor.execute(
            sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(_table(v) for v in VARIANTS))
        )


def bulk(conn: Connection, variant: str, rows: int) -> int:
    """One INSERT ... SELECT of `rows` rows, RETURNING every ID: the IDs received."""
    statement = sql.SQL(
        "INSERT INTO {} (n) SELECT g FROM generate_series(1, %s) g RETURNING id"
    ).format(_table(variant))
    with conn, conn.cursor() as cursor:
        cursor.execute(statement, [rows])
        return len(cursor.fetchall())


def single_rows(conn: Connection, variant: str, rows: int) -> int:
    """`rows` round trips of one INSERT ... RETURNING id, each its own transaction."""
    statement = sql.SQL("INSERT INTO {} (n) VALUES (%s) RETURNING id").format(_table(variant))
    received = 0
    for n in range(rows):
        with conn, conn.cursor() as cursor:
            cursor.execute(statement, [n])
            received += len(cursor.fetchall())
    return received


Workload = Callable[[Connection, str, int], int]
WORKLOADS: dict[str, tuple[Workload, int]] = {
    "bulk": (bulk, BULK_ROWS),
    "single-row": (single_rows, SINGLE_ROWS),
}


def ids_per_second(conn: Connection, workload: Workload, variant: str, rows: int) -> float:
    started = time.perf_counter()
    received = workload(conn, variant, rows)
    elapsed = time.perf_counter() - started
    if received != rows:
        raise RuntimeError(f"{variant}: {received} IDs back for {rows} rows")
    return rows / elapsed


def measure(conn: Connection, rounds: int) -> dict[tuple[str, str], list[float]]:
    """IDs per second by (workload, variant), one figure per round."""
    for workload, _ in WORKLOADS.values():  # warm caches and PL/pgSQL before measuring
        for variant in VARIANTS:
            workload(conn, variant, WARM_UP_ROWS)
    figures: dict[tuple[str, str], list[float]] = {}
    for round_number in range(rounds):
        order = VARIANTS if round_number % 2 == 0 else tuple(reversed(VARIANTS))
        truncate(conn)
        for name, (workload, rows) in WORKLOADS.items():
            for variant in order:
                rate = ids_per_second(conn, workload, variant, rows)
                figures.setdefault((name, variant), []).append(rate)
    return figures


def report(figures: dict[tuple[str, str], list[float]], title: str) -> str:
    """A small table of medians and ratios against bigserial."""
    lines = [
        title,
        f"{'workload':<12}{'rows':>9}{'bigserial/s':>14}{'ours/s':>12}{'instagram/s':>14}"
        f"{'ours/bigserial':>17}{'instagram/bigserial':>22}",
    ]
    for name, (_, rows) in WORKLOADS.items():
        median = {v: statistics.median(figures[(name, v)]) for v in VARIANTS}
        lines.append(
            f"{name:<12}{rows:>9}{median['bigserial']:>14,.0f}{median['ours']:>12,.0f}"
            f"{median['instagram']:>14,.0f}{median['ours'] / median['bigserial']:>17.2f}"
            f"{median['instagram'] / median['bigserial']:>22.2f}"
        )
    return "\n".join(lines)


def record(result: Result, figures: dict[tuple[str, str], list[float]]) -> None:
    """Each workload's medians, ours and Instagram's against bigserial."""
    for name, (_, rows) in WORKLOADS.items():
        median = {v: statistics.median(figures[(name, v)]) for v in VARIANTS}
        result.figure(f"{name}: bigserial", median["bigserial"], "IDs/s", note=f"{rows:,} rows")
        for variant in ("ours", "instagram"):
            result.figure(
                f"{name}: {variant}",
                median[variant],
                "IDs/s",
                baseline=f"{name}: bigserial",
                baseline_value=median["bigserial"],
                note=f"{rows:,} rows",
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack-env", type=Path, help="a stack's env file of settings")
    parser.add_argument("--shard", type=int, default=7, help="the logical shard (default 7)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per variant (default 5)")
    add_json_option(parser)
    args = parser.parse_args()
    result = Result.of(
        __file__,
        __doc__,
        "ID generation",
        shard=args.shard,
        rounds=args.rounds,
        bulk_rows=BULK_ROWS,
        single_rows=SINGLE_ROWS,
    )

    settings = load_settings(args.stack_env)
    home = Clients(settings).shard_map_store.load().database_of(args.shard)
    conn = psycopg2.connect(direct_dsn(settings, home), application_name="bench-ids")
    try:
        create_tables(conn, args.shard)
        figures = measure(conn, args.rounds)
    finally:
        conn.rollback()
        drop_tables(conn)
        conn.close()
    print(
        report(
            figures,
            f"IDs per second through INSERT ... RETURNING id, {schema_name(args.shard)} "
            f"on {home} (direct, not PgBouncer); median of {args.rounds} rounds",
        )
    )
    record(result, figures)
    result.write(args.json)


if __name__ == "__main__":
    main()
