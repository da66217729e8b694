"""The follow graph's tables on a shard: every statement about them.

follows(source -> target)          on the source's shard: the truth of "A follows B"
followers(target <- source)        on the target's shard: who follows B, for lists and fan-out
follow_requests(target <- source)  on the target's shard: pending, for private targets
blocks(source -> target)           on the blocker's shard
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from psycopg2 import sql
from psycopg2.extensions import connection as Connection
from psycopg2.extras import execute_values

Edge = Literal["follows", "followers", "follow_requests", "blocks"]
# Each table's (owner column, other column): an edge is stored under its owner's shard.
_COLUMNS: dict[Edge, tuple[str, str]] = {
    "follows": ("source_id", "target_id"),
    "followers": ("target_id", "source_id"),
    "follow_requests": ("target_id", "source_id"),
    "blocks": ("source_id", "target_id"),
}
# A page position: (created_at, other user's ID) of the last row shown.
Position = tuple[datetime, int]


def _table(schema: sql.Identifier, edge: Edge) -> sql.Composable:
    return sql.SQL("{}.{}").format(schema, sql.Identifier(edge))


def _run(conn: Connection, statement: sql.Composable, values: Sequence[Any]) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(statement, values)
        return cursor.fetchall() if cursor.description else []


def _on_pair(
    template: str, conn: Connection, schema: sql.Identifier, edge: Edge, pair: tuple[int, int]
) -> bool:
    """Run a statement about one edge ({t}, {mine}, {theirs} filled in); whether it
    returned a row."""
    mine, theirs = _COLUMNS[edge]
    statement = sql.SQL(template).format(
        t=_table(schema, edge), mine=sql.Identifier(mine), theirs=sql.Identifier(theirs)
    )
    return bool(_run(conn, statement, list(pair)))


def add(conn: Connection, schema: sql.Identifier, edge: Edge, owner: int, other: int) -> bool:
    """Store an edge; whether it was new."""
    return _on_pair(
        "INSERT INTO {t} ({mine}, {theirs}) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1",
        conn,
        schema,
        edge,
        (owner, other),
    )


def add_many(
    conn: Connection, schema: sql.Identifier, edge: Edge, pairs: Sequence[tuple[int, int]]
) -> int:
    """Store many edges, (owner, other) each, in one statement; how many were new."""
    mine, theirs = _COLUMNS[edge]
    with conn.cursor() as cursor:
        added = execute_values(
            cursor,
            sql.SQL(
                "INSERT INTO {t} ({mine}, {theirs}) VALUES %s ON CONFLICT DO NOTHING RETURNING 1"
            )
            .format(
                t=_table(schema, edge), mine=sql.Identifier(mine), theirs=sql.Identifier(theirs)
            )
            .as_string(cursor),
            list(pairs),
            page_size=max(len(pairs), 1),
            fetch=True,
        )
    return len(added)


def remove(conn: Connection, schema: sql.Identifier, edge: Edge, owner: int, other: int) -> bool:
    """Delete an edge; whether there was one."""
    return _on_pair(
        "DELETE FROM {t} WHERE {mine} = %s AND {theirs} = %s RETURNING 1",
        conn,
        schema,
        edge,
        (owner, other),
    )


def exists(conn: Connection, schema: sql.Identifier, edge: Edge, owner: int, other: int) -> bool:
    """Whether the edge is stored."""
    return _on_pair(
        "SELECT 1 FROM {t} WHERE {mine} = %s AND {theirs} = %s", conn, schema, edge, (owner, other)
    )


def target_side(
    conn: Connection, schema: sql.Identifier, viewer: int, target: int
) -> tuple[Any, ...] | None:
    """On the target's shard: the target's row, then whether the target blocks the
    viewer, follows the viewer, and has a request from the viewer. None: no such user."""
    rows = _run(
        conn,
        sql.SQL(
            "SELECT u.id, u.username, u.email, u.full_name, u.bio, u.is_private, u.created_at, "
            "EXISTS (SELECT 1 FROM {s}.blocks WHERE source_id = u.id AND target_id = %(v)s), "
            "EXISTS (SELECT 1 FROM {s}.follows WHERE source_id = u.id AND target_id = %(v)s), "
            "EXISTS (SELECT 1 FROM {s}.follow_requests "
            "WHERE target_id = u.id AND source_id = %(v)s) "
            "FROM {s}.users u WHERE u.id = %(t)s"
        ).format(s=schema),
        {"v": viewer, "t": target},
    )
    return rows[0] if rows else None


def viewer_side(
    conn: Connection, schema: sql.Identifier, viewer: int, target: int
) -> tuple[bool, bool, bool]:
    """On the viewer's shard: whether the viewer follows the target, blocks the target,
    and has a request from the target."""
    rows = _run(
        conn,
        sql.SQL(
            "SELECT "
            "EXISTS (SELECT 1 FROM {s}.follows WHERE source_id = %(v)s AND target_id = %(t)s), "
            "EXISTS (SELECT 1 FROM {s}.blocks WHERE source_id = %(v)s AND target_id = %(t)s), "
            "EXISTS (SELECT 1 FROM {s}.follow_requests "
            "WHERE target_id = %(v)s AND source_id = %(t)s)"
        ).format(s=schema),
        {"v": viewer, "t": target},
    )
    return rows[0]


def page(
    conn: Connection,
    schema: sql.Identifier,
    edge: Edge,
    owner: int,
    *,
    after: Position | None,
    limit: int,
) -> list[tuple[int, datetime]]:
    """The owner's edges of one kind, newest first, after `after`: (other ID, created_at)."""
    mine, theirs = _COLUMNS[edge]
    values: list[Any] = [owner]
    position = sql.SQL("")
    if after is not None:
        position = sql.SQL("AND (created_at, {theirs}) < (%s, %s) ").format(
            theirs=sql.Identifier(theirs)
        )
        values += list(after)
    statement = sql.SQL(
        "SELECT {theirs}, created_at FROM {t} WHERE {mine} = %s {position}"
        "ORDER BY created_at DESC, {theirs} DESC LIMIT %s"
    ).format(
        t=_table(schema, edge),
        mine=sql.Identifier(mine),
        theirs=sql.Identifier(theirs),
        position=position,
    )
    return [(row[0], row[1]) for row in _run(conn, statement, [*values, limit])]


def blocked_among(
    conn: Connection, schema: sql.Identifier, blocker: int, others: Sequence[int]
) -> set[int]:
    """Which of `others` the blocker blocks (on the blocker's shard)."""
    rows = _run(
        conn,
        sql.SQL(
            "SELECT target_id FROM {s}.blocks WHERE source_id = %s AND target_id = ANY(%s)"
        ).format(s=schema),
        [blocker, list(others)],
    )
    return {row[0] for row in rows}


def mark_approved(conn: Connection, schema: sql.Identifier, source: int, target: int) -> None:
    """Record that a follow came from an approved request (the first approval's time)."""
    _run(
        conn,
        sql.SQL(
            "UPDATE {s}.follows SET approved_at = now() "
            "WHERE source_id = %s AND target_id = %s AND approved_at IS NULL"
        ).format(s=schema),
        [source, target],
    )
