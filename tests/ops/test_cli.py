"""The `photofeed` command line, run as operators run it, against the session's stack."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from chalicelib.ops.cli import cli
from chalicelib.shards.migrations import load_migrations
from chalicelib.shards.schema import MIGRATIONS_TABLE
from chalicelib.shards.shard_map import ShardMap

PHOTOFEED = Path(sys.executable).parent / "photofeed"
SHARD_TABLES = [
    "blocks",
    "comments",
    "credentials",
    "devices",
    "follow_requests",
    "followers",
    "follows",
    "hashtags",
    "likes",
    "media",
    "notification_preferences",
    MIGRATIONS_TABLE,
    "users",
]
# Every group and command, and words of the first line of its help.
COMMANDS = {
    (): "Operate Photofeed",
    ("db",): "The physical databases",
    ("db", "migrate"): "Create the shard map if there is none",
    ("shards",): "The shard map",
    ("shards", "list"): "Every physical database",
    ("shards", "show"): "A logical shard's physical home",
    ("shards", "move"): "Move a logical shard",
    ("graph",): "The follow graph",
    ("graph", "repair"): "Finish or undo follows left half-written",
    ("feed",): "Home feeds and their load shedding",
    ("feed", "shedding"): "Turn feed load shedding on or off",
    ("feed", "rebuild"): "Rebuild users' feeds from PostgreSQL now",
    ("dlq",): "Dead-letter queues",
    ("dlq", "list"): "How many letters each queue's dead-letter queue holds",
    ("dlq", "show"): "Print a queue's dead letters",
    ("dlq", "replay"): "Move a queue's dead letters back",
    ("seed",): "Fill an empty stack with a realistic world",
}


def photofeed(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `photofeed` with the stack's settings (PHOTOFEED_* of this process)."""
    return subprocess.run(
        [str(PHOTOFEED), *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    paths = {prefix}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            paths |= _command_paths(command, (*prefix, name))
        else:
            paths.add((*prefix, name))
    return paths


def test_the_help_tests_cover_every_command():
    assert _command_paths(cli) == set(COMMANDS)


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda path: " ".join(path) or "photofeed")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_and_group_has_help(path, flag):
    result = photofeed(*path, flag)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: photofeed")
    assert COMMANDS[path] in result.stdout


def test_db_migrate_on_an_up_to_date_stack_applies_nothing(settings):
    newest = load_migrations()[-1].version

    result = photofeed("db", "migrate")

    assert result.returncode == 0, result.stderr
    assert re.search(
        rf"^{settings.logical_shards} logical shards at version {newest}; "
        r"0 migrations applied now\.$",
        result.stdout,
        re.MULTILINE,
    ), result.stdout


def test_shards_list_shows_each_database_with_its_shard_ranges(clients, settings):
    # GIVEN the stack's map, as its first `db migrate` spread it
    shard_map = clients.shard_map_store.load()
    assert shard_map.homes == ShardMap.spread(settings.logical_shards, ["db0", "db1"]).homes
    half = settings.logical_shards // 2

    result = photofeed("shards", "list")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"shard map version {shard_map.version}, {settings.logical_shards} shards",
        f"db0: {half} shards (0-{half - 1})",
        f"db1: {half} shards ({half}-{settings.logical_shards - 1})",
    ]


def test_shards_show_gives_home_schema_version_and_row_counts(clients):
    home = clients.shard_map_store.load().database_of(3)
    migrations = load_migrations()

    result = photofeed("shards", "show", "3")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        f"shard 3: schema shard_0003 on {home}",
        f"schema version {migrations[-1].version}",
    ]
    counted = [re.fullmatch(r"  (\w+): (\d+) rows", line) for line in lines[2:]]
    assert all(counted), lines[2:]
    counts = {match[1]: int(match[2]) for match in counted}
    assert sorted(counts) == SHARD_TABLES
    assert counts[MIGRATIONS_TABLE] == len(migrations)


def test_shards_show_of_a_shard_outside_the_map_fails_clearly(settings):
    result = photofeed("shards", "show", "99999")

    assert result.returncode != 0
    assert f"no logical shard 99999 (there are {settings.logical_shards})" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_shards_move_to_an_unknown_database_fails_and_changes_nothing(clients):
    before = clients.shard_map_store.load()

    result = photofeed("shards", "move", "3", "--to", "nowhere")

    assert result.returncode == 1
    assert result.stderr.startswith("error:")
    assert "nowhere" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert clients.shard_map_store.load() == before
