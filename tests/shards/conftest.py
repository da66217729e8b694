"""Private shard maps and private logical shards, so moves never touch the shared ones.

The session's stack uses logical shards 0..63 through its own map; these fixtures give a
test a map of its own (a private DynamoDB table) in which a few high shards, created
and dropped by the test, can be moved around freely.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from psycopg2 import sql

from chalicelib.shards.ids import MAX_SHARDS
from chalicelib.shards.migrations import load_migrations, migrate_shard
from chalicelib.shards.routing import Router
from chalicelib.shards.schema import schema, table
from chalicelib.shards.shard_map import CachedShardMap, ShardMap, ShardMapStore

# High shard numbers, one block per test, far from the stack's 0..63.
_next_shards = itertools.count(7000, 10)


@dataclass
class PrivateShards:
    """A map of the test's own, with `shards` created (and later dropped) on db0."""

    store: ShardMapStore
    shards: list[int]
    databases: object
    router: Router

    def rows(self, database: str, shard: int, name: str, columns: str = "*") -> list[tuple]:
        with self.databases.connection(database) as conn, conn, conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("SELECT {} FROM {} ORDER BY 1").format(sql.SQL(columns), table(shard, name))
            )
            return cursor.fetchall()

    def has_schema(self, database: str, shard: int) -> bool:
        with self.databases.connection(database) as conn, conn, conn.cursor() as cursor:
            cursor.execute("SELECT to_regnamespace(%s)", [f"shard_{shard:04d}"])
            return cursor.fetchone()[0] is not None


def add_user(conn, shard_schema: sql.Identifier, name: str) -> int:
    """A user row on the shard whose schema is given; its ID."""
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL("INSERT INTO {}.users (username, email) VALUES (%s, %s) RETURNING id").format(
                shard_schema
            ),
            [name, f"{name}@example.com"],
        )
        return cursor.fetchone()[0]


@pytest.fixture
def map_table_name(clients) -> Iterator[str]:
    """A private, empty shard-map table (the shape of the real one)."""
    name = f"test-shard-map-{uuid.uuid4().hex[:8]}"
    clients.dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    clients.dynamodb.delete_table(TableName=name)


@pytest.fixture
def private(clients, settings, map_table_name) -> Iterator[PrivateShards]:
    first = next(_next_shards)
    shards = [first, first + 1, first + 2]
    store = ShardMapStore(map_table_name, settings.region, settings.endpoint_url)
    store.create(ShardMap(version=1, homes=("db0",) * MAX_SHARDS))
    migrations = load_migrations()
    for shard in shards:
        with clients.databases.connection("db0") as conn:
            migrate_shard(conn, shard, migrations)
    router = Router(clients.databases, CachedShardMap(store, ttl_seconds=60))
    yield PrivateShards(store, shards, clients.databases, router)
    for database in clients.databases.names:
        for shard in shards:
            with clients.databases.connection(database) as conn, conn, conn.cursor() as cursor:
                cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema(shard)))
