"""The statements a feed page sends: one on the reader's shard, one per physical
database for the page's media (a media lives on its owner's shard, so its owner's row
and the reader's likes of it are read together)."""

from __future__ import annotations

from typing import Any

from psycopg2 import sql
from psycopg2.extensions import connection as Connection

OWNER, LIKE = "u", "l"


def relations(
    conn: Connection, schema: sql.Identifier, viewer: int, others: list[int]
) -> tuple[set[int], set[int]]:
    """Of `others`, whom the viewer follows and whom the viewer blocks (viewer's shard)."""
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "SELECT target_id, true FROM {s}.follows WHERE source_id = %(v)s "
                "AND target_id = ANY(%(o)s) UNION ALL "
                "SELECT target_id, false FROM {s}.blocks WHERE source_id = %(v)s "
                "AND target_id = ANY(%(o)s)"
            ).format(s=schema),
            {"v": viewer, "o": others},
        )
        rows = cursor.fetchall()
    return {t for t, follows in rows if follows}, {t for t, follows in rows if not follows}


def owners_and_likes(
    schema: sql.Identifier, owners: list[int], media_ids: list[int], viewer: int
) -> tuple[sql.Composable, list[Any]]:
    """The part, for one shard, of the page's query: each owner's summary and whether
    they block the viewer (rows tagged OWNER), and which media the viewer likes (LIKE)."""
    statement = sql.SQL(
        "SELECT {owner}, u.id, u.username, u.full_name, u.is_private, EXISTS ("
        "SELECT 1 FROM {s}.blocks b WHERE b.source_id = u.id AND b.target_id = %s) "
        "FROM {s}.users u WHERE u.id = ANY(%s) UNION ALL "
        "SELECT {like}, l.media_id, NULL, NULL, NULL, NULL FROM {s}.likes l "
        "WHERE l.user_id = %s AND l.media_id = ANY(%s)"
    ).format(s=schema, owner=sql.Literal(OWNER), like=sql.Literal(LIKE))
    return statement, [viewer, owners, viewer, media_ids]
