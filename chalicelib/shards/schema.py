"""Names of a logical shard's schema and its objects: the only module that spells them."""

from __future__ import annotations

from psycopg2 import sql

from chalicelib.shards.ids import MAX_SHARDS

SCHEMA_PREFIX = "shard_"
# Applied versions, per schema: see chalicelib.shards.migrations.
MIGRATIONS_TABLE = "schema_migrations"


def schema_name(shard: int) -> str:
    """`shard_0042` for shard 42."""
    if not 0 <= shard < MAX_SHARDS:
        raise ValueError(f"no such logical shard: {shard}")
    return f"{SCHEMA_PREFIX}{shard:04d}"


def schema(shard: int) -> sql.Identifier:
    """The shard's schema, for composing statements with psycopg2.sql."""
    return sql.Identifier(schema_name(shard))


def table(shard: int, name: str) -> sql.Identifier:
    """A schema-qualified table of the shard."""
    return sql.Identifier(schema_name(shard), name)
