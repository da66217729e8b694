"""`photofeed`: the operators' command line (migrations, the shard map, shard moves,
graph repairs, feeds, dead letters).

Settings come from the environment, as everywhere; against the local stack, the CLI
reads `.local/stack.env` when no PHOTOFEED_* variable is set (or `--stack-env FILE`).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import psycopg2
from psycopg2 import sql

from chalicelib import redis_keys
from chalicelib.clients import Clients
from chalicelib.config import Settings, use_stack_env
from chalicelib.errors import PhotofeedError
from chalicelib.feed.shedding import LoadShedding
from chalicelib.feed.timelines import timelines_of
from chalicelib.graph.repair import GRACE_SECONDS, repair_graph
from chalicelib.ops.dead_letters import DeadLetters
from chalicelib.ops.seed import PASSWORD, AlreadySeeded, WorldSize, api_services, seed_world
from chalicelib.shards.migrations import (
    MigrationError,
    applied_version,
    ensure_shard_map,
    load_migrations,
    migrate,
    shard_tables,
)
from chalicelib.shards.moves import CopyMismatch, MoveInterrupted, ShardMove
from chalicelib.shards.schema import MIGRATIONS_TABLE, schema_name, table
from chalicelib.users.counters import Counters


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--stack-env",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An env file of settings (default: .local/stack.env when no PHOTOFEED_* is set).",
)
@click.pass_context
def cli(ctx: click.Context, stack_env: Path | None) -> None:
    """Operate Photofeed: migrations, the shard map, shard moves, graph repairs, feeds,
    dead letters."""
    use_stack_env(stack_env)
    ctx.obj = Clients(Settings.from_env())


@cli.group()
def db() -> None:
    """The physical databases and their logical shards' schemas."""


@db.command("migrate")
@click.pass_obj
def db_migrate(clients: Clients) -> None:
    """Create the shard map if there is none, then bring every shard up to date."""
    settings = clients.settings
    migrations = load_migrations()
    shard_map = ensure_shard_map(
        clients.shard_map_store, settings.logical_shards, settings.databases
    )
    with click.progressbar(length=shard_map.logical_shards, label="migrating shards") as bar:
        report = migrate(
            clients.admin_databases,
            clients.shard_map_store,
            migrations,
            statement_timeout_ms=settings.statement_timeout_ms,
            progress=bar.update,
        )
    click.echo(
        f"{report.shards} logical shards at version {report.version}; "
        f"{report.applied} migrations applied now."
    )
    for shard in report.skipped:
        click.echo(f"shard {shard} is moving: skipped; run `db migrate` again after the move")


@cli.group()
def shards() -> None:
    """The shard map: where each logical shard lives, and moving shards."""


@shards.command("list")
@click.pass_obj
def shards_list(clients: Clients) -> None:
    """Every physical database and the logical shards it holds."""
    shard_map = clients.shard_map_store.load()
    click.echo(f"shard map version {shard_map.version}, {shard_map.logical_shards} shards")
    for database, count in sorted(Counter(shard_map.homes).items()):
        ranges = _ranges(shard_map.shards_on(database))
        click.echo(f"{database}: {count} shards ({ranges})")
    for shard, move in sorted(shard_map.moves.items()):
        click.echo(f"moving: shard {shard} -> {move.target}, after step {move.phase}")


def _ranges(shards: list[int]) -> str:
    runs: list[list[int]] = []
    for shard in shards:
        if runs and runs[-1][1] == shard - 1:
            runs[-1][1] = shard
        else:
            runs.append([shard, shard])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


@shards.command("show")
@click.argument("shard", type=int)
@click.pass_obj
def shards_show(clients: Clients, shard: int) -> None:
    """A logical shard's physical home, schema version and row counts."""
    shard_map = clients.shard_map_store.load()
    try:
        database = shard_map.database_of(shard)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0])) from None
    click.echo(f"shard {shard}: schema {schema_name(shard)} on {database}")
    if shard in shard_map.moves:
        move = shard_map.moves[shard]
        click.echo(f"moving to {move.target}, after step {move.phase}")
    with clients.admin_databases.connection(database) as conn, conn, conn.cursor() as cursor:
        click.echo(f"schema version {applied_version(conn, shard)}")
        for name in sorted([*shard_tables(conn, shard), MIGRATIONS_TABLE]):
            cursor.execute(_count(shard, name))
            click.echo(f"  {name}: {cursor.fetchone()[0]} rows")


def _count(shard: int, name: str) -> sql.Composed:
    return sql.SQL("SELECT count(*) FROM {}").format(table(shard, name))


@shards.command("move")
@click.argument("shard", type=int)
@click.option("--to", "target", required=True, help="The physical database to move it to.")
@click.option("--rollback", is_flag=True, help="Undo an unfinished move instead.")
@click.option("--take-over", is_flag=True, help="Take the move from a mover known to be dead.")
@click.pass_obj
def shards_move(clients: Clients, shard: int, target: str, rollback: bool, take_over: bool) -> None:
    """Move a logical shard to another physical database (or finish or undo a move).

    The shard is read-only from the copy until the map flips; every other shard stays
    writable. A move stopped anywhere is finished by running this again.
    """
    move = ShardMove(
        databases=clients.admin_databases,
        store=clients.shard_map_store,
        migrations=load_migrations(),
        shard=shard,
        target=target,
        settle_seconds=clients.settings.shard_map_ttl_seconds,
        take_over=take_over,
        progress=lambda step: click.echo(f"  {step}"),
    )
    if rollback:
        click.echo(move.rollback())
        return
    report = move.run()
    for check in report.tables:
        click.echo(f"  {check.name}: {check.rows} rows, checksum {check.checksum}")
    window = report.read_only_seconds
    read_only = f"; read-only for {window:.3f} s" if window is not None else ""
    click.echo(f"shard {shard} is on {report.target}{read_only}")


@cli.group()
def graph() -> None:
    """The follow graph."""


@graph.command("repair")
@click.option("--shard", "only", type=int, multiple=True, help="Only these logical shards.")
@click.option(
    "--grace-seconds",
    type=click.FloatRange(min=0),
    default=GRACE_SECONDS,
    show_default=True,
    help="Leave rows younger than this to the operations writing them.",
)
@click.pass_obj
def graph_repair(clients: Clients, only: tuple[int, ...], grace_seconds: float) -> None:
    """Finish or undo follows left half-written (followers made to agree with follows)."""
    logical = clients.shard_map.get().logical_shards
    wanted = sorted(set(only)) if only else list(range(logical))
    if unknown := [shard for shard in wanted if not 0 <= shard < logical]:
        raise click.BadParameter(f"no logical shards {unknown} (there are {logical})")
    counters = Counters(clients.redis, clients.router)
    with click.progressbar(length=len(wanted), label="repairing the graph") as bar:
        report = repair_graph(clients.router, counters, wanted, grace_seconds, bar.update)
    click.echo(
        f"{report.follows_checked} follows and {report.followers_checked} follower rows checked; "
        f"{report.followers_added} follower rows added, {report.followers_removed} removed, "
        f"{report.follows_removed} follows across a block removed, "
        f"{report.requests_removed} stale requests removed."
    )


@cli.group()
def feed() -> None:
    """Home feeds and their load shedding."""


@feed.command("shedding")
@click.argument("state", type=click.Choice(["on", "off", "status"]), default="status")
@click.pass_obj
def feed_shedding(clients: Clients, state: str) -> None:
    """Turn feed load shedding on or off (every API process follows within 5 s)."""
    switch = LoadShedding(clients.redis)
    if state != "status":
        switch.set(state == "on")
    click.echo(f"feed load shedding is {'on' if switch.on() else 'off'}")


@feed.command("rebuild")
@click.argument("user_ids", type=int, nargs=-1, required=True)
@click.pass_obj
def feed_rebuild(clients: Clients, user_ids: tuple[int, ...]) -> None:
    """Rebuild users' feeds from PostgreSQL now (after a bug, or to warm them)."""
    timelines = timelines_of(clients)
    for user_id in user_ids:
        if not clients.router.holds(user_id):
            raise click.BadParameter(f"{user_id} names no shard of this deployment")
        clients.redis.delete(redis_keys.feed(user_id))
        click.echo(f"user {user_id}: {len(timelines.rebuild_feed(user_id))} items")


@cli.group()
def dlq() -> None:
    """Dead-letter queues: count, read and replay their letters."""


QUEUE = click.Choice(["uploads", "fanout", "notifications"])


@dlq.command("list")
@click.pass_obj
def dlq_list(clients: Clients) -> None:
    """How many letters each queue's dead-letter queue holds."""
    for depth in DeadLetters.of(clients.sqs, clients.settings).depths():
        click.echo(f"{depth.queue}: {depth.visible} dead letters ({depth.in_flight} in flight)")


@dlq.command("show")
@click.argument("queue", type=QUEUE)
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
@click.pass_obj
def dlq_show(clients: Clients, queue: str, limit: int) -> None:
    """Print a queue's dead letters, leaving them where they are."""
    letters = DeadLetters.of(clients.sqs, clients.settings).show(queue, limit)
    for letter in letters:
        click.echo(f"{letter.message_id}  sent {letter.sent_at_ms}  {letter.body}")
    click.echo(f"{len(letters)} dead letters shown")


@dlq.command("replay")
@click.argument("queue", type=QUEUE)
@click.option("--limit", type=click.IntRange(min=1), help="At most this many (default: all).")
@click.pass_obj
def dlq_replay(clients: Clients, queue: str, limit: int | None) -> None:
    """Move a queue's dead letters back to it, once their cause is fixed."""
    replayed = DeadLetters.of(clients.sqs, clients.settings).replay(queue, limit)
    click.echo(f"{replayed.moved} dead letters moved back to {queue}")
    if replayed.failed:
        raise click.ClickException(f"{replayed.failed} could not be sent: left in the DLQ")


@cli.command("seed")
@click.option("--users", type=click.IntRange(min=2), default=WorldSize.users, show_default=True)
@click.option("--media", type=click.IntRange(min=0), default=WorldSize.media, show_default=True)
@click.option(
    "--follows-per-user",
    type=click.IntRange(min=1),
    default=WorldSize.follows_per_user,
    show_default=True,
    help="The mean number of accounts a user follows.",
)
@click.option(
    "--likes-per-media",
    type=click.FloatRange(min=0),
    default=WorldSize.likes_per_media,
    show_default=True,
)
@click.option(
    "--comments-per-media",
    type=click.FloatRange(min=0),
    default=WorldSize.comments_per_media,
    show_default=True,
)
@click.option(
    "--renditions",
    type=click.IntRange(min=0),
    default=WorldSize.renditions,
    show_default=True,
    help="How many photos go through the real upload pipeline (real rendition files).",
)
@click.option(
    "--active-share",
    type=click.FloatRange(min=0, max=1),
    default=WorldSize.active_share,
    show_default=True,
    help="The share of users active lately: fan-out pushes to their feeds.",
)
@click.option("--seed", type=int, default=WorldSize.seed, show_default=True, help="Random seed.")
def seed(**options: Any) -> None:
    """Fill an empty stack with a realistic world (users, follows, media, feeds, likes).

    Every seeded user logs in with the password `photofeed-seed`. A stack is seeded
    once: seeding it again is refused.
    """
    size = WorldSize(**options)
    started = time.monotonic()
    try:
        world = seed_world(api_services(), size, _progress)
    except AlreadySeeded as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"seeded in {time.monotonic() - started:.0f} s: {len(world.users)} users, "
        f"{world.follows} follows, {world.media} media ({world.pushed} feed pushes), "
        f"{len(world.renditions or [])} photos with renditions, {world.likes} likes, "
        f"{world.comments} comments; every user's password is {PASSWORD!r}."
    )


@contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    started = time.monotonic()
    with click.progressbar(length=total, label=f"{label:<30}", show_pos=True) as bar:
        yield bar.update
    click.echo(f"  {label}: {total} in {time.monotonic() - started:.1f} s")


# What a command may fail with that is the operator's to read, not a bug's traceback.
FAILURES = (PhotofeedError, MigrationError, MoveInterrupted, CopyMismatch, psycopg2.Error)


def main() -> None:
    """The `photofeed` command."""
    try:
        cli()
    except FAILURES as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
