"""The statements about places: each is one shard's part of a query that
Router.query_shards sends once per physical database."""

from __future__ import annotations

from typing import Any

from psycopg2 import sql

Part = tuple[sql.Composable, list[Any]]


def located_between(schema: sql.Identifier, low: int, high: int, limit: int) -> Part:
    """A shard's newest ready media with a location and an ID in [low, high) (one day's
    geo index rebuilt): ID, latitude, longitude."""
    return (
        sql.SQL(
            "SELECT id, latitude, longitude FROM {s}.media WHERE id >= %s AND id < %s "
            "AND status = 'ready' AND latitude IS NOT NULL AND longitude IS NOT NULL "
            "ORDER BY id DESC LIMIT %s"
        ).format(s=schema),
        [low, high, limit],
    )
