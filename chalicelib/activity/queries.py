"""Every statement the activity feed sends. All of a user's activity is on their own
shard: likes and comments live beside their media (the owner's shard), followers and
follow requests on the followed user's, and the approvals of the user's requests on the
user's own follows."""

from __future__ import annotations

from datetime import datetime

from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from chalicelib.activity.entries import (
    CODES,
    COMMENT,
    FOLLOW,
    FOLLOW_APPROVED,
    FOLLOW_REQUEST,
    LIKE,
    Entry,
    micros_of,
)

_KIND_BY_CODE = {code: kind for kind, code in CODES.items()}

# Each kind's newest rows, at most %(cap)s each: (code, actor, media, item, time).
_REBUILD = """
(SELECT 'l', l.user_id, l.media_id, 0::bigint, l.created_at
   FROM {s}.media m JOIN {s}.likes l ON l.media_id = m.id
  WHERE m.owner_id = %(u)s AND m.status = 'ready' AND l.user_id <> %(u)s
  ORDER BY l.created_at DESC LIMIT %(cap)s)
UNION ALL
(SELECT 'c', c.author_id, c.media_id, c.id, c.created_at
   FROM {s}.media m JOIN {s}.comments c ON c.media_id = m.id
  WHERE m.owner_id = %(u)s AND m.status = 'ready' AND c.deleted_at IS NULL
    AND c.author_id <> %(u)s
  ORDER BY c.id DESC LIMIT %(cap)s)
UNION ALL
(SELECT 'f', source_id, 0, 0, created_at FROM {s}.followers WHERE target_id = %(u)s
  ORDER BY created_at DESC LIMIT %(cap)s)
UNION ALL
(SELECT 'r', source_id, 0, 0, created_at FROM {s}.follow_requests WHERE target_id = %(u)s
  ORDER BY created_at DESC LIMIT %(cap)s)
UNION ALL
(SELECT 'a', target_id, 0, 0, approved_at FROM {s}.follows
  WHERE source_id = %(u)s AND approved_at IS NOT NULL
  ORDER BY approved_at DESC LIMIT %(cap)s)
"""

# Which of the given entries still stand: the like, comment, follow, request or approved
# follow is still there, its media (if any) is the user's and ready.
_STANDING = """
SELECT e.code, e.actor, e.media, e.item
  FROM unnest(%(codes)s::text[], %(actors)s::bigint[], %(media)s::bigint[], %(items)s::bigint[])
       AS e(code, actor, media, item)
 WHERE CASE e.code
   WHEN 'l' THEN EXISTS (SELECT 1 FROM {s}.likes l JOIN {s}.media m ON m.id = l.media_id
     WHERE l.media_id = e.media AND l.user_id = e.actor AND m.owner_id = %(u)s
       AND m.status = 'ready')
   WHEN 'c' THEN EXISTS (SELECT 1 FROM {s}.comments c JOIN {s}.media m ON m.id = c.media_id
     WHERE c.id = e.item AND c.media_id = e.media AND c.deleted_at IS NULL
       AND m.owner_id = %(u)s AND m.status = 'ready')
   WHEN 'f' THEN EXISTS (SELECT 1 FROM {s}.followers
     WHERE target_id = %(u)s AND source_id = e.actor)
   WHEN 'r' THEN EXISTS (SELECT 1 FROM {s}.follow_requests
     WHERE target_id = %(u)s AND source_id = e.actor)
   WHEN 'a' THEN EXISTS (SELECT 1 FROM {s}.follows
     WHERE source_id = %(u)s AND target_id = e.actor AND approved_at IS NOT NULL)
   ELSE false END
"""

# When each kind of event happened, by the row it wrote (on the recipient's shard).
_TIMES = {
    LIKE: "SELECT created_at FROM {s}.likes WHERE media_id = %(m)s AND user_id = %(a)s",
    FOLLOW: "SELECT created_at FROM {s}.followers WHERE target_id = %(u)s AND source_id = %(a)s",
    FOLLOW_REQUEST: (
        "SELECT created_at FROM {s}.follow_requests WHERE target_id = %(u)s AND source_id = %(a)s"
    ),
    FOLLOW_APPROVED: (
        "SELECT approved_at FROM {s}.follows "
        "WHERE source_id = %(u)s AND target_id = %(a)s AND approved_at IS NOT NULL"
    ),
}


def rebuild(conn: Connection, schema: sql.Identifier, user_id: int, cap: int) -> list[Entry]:
    """The user's newest entries of every kind (at most `cap` of each), from their shard."""
    with conn.cursor() as cursor:
        cursor.execute(sql.SQL(_REBUILD).format(s=schema), {"u": user_id, "cap": cap})
        rows = cursor.fetchall()
    return [
        Entry(_KIND_BY_CODE[code], actor, media, item, micros_of(at))
        for code, actor, media, item, at in rows
    ]


def standing(
    conn: Connection, schema: sql.Identifier, user_id: int, entries: list[Entry]
) -> set[str]:
    """The members of those entries whose event still stands (on the user's shard)."""
    values = {
        "u": user_id,
        "codes": [CODES[e.kind] for e in entries],
        "actors": [e.actor_id for e in entries],
        "media": [e.media_id for e in entries],
        "items": [e.item_id for e in entries],
    }
    with conn.cursor() as cursor:
        cursor.execute(sql.SQL(_STANDING).format(s=schema), values)
        return {f"{code}:{actor}:{media}:{item}" for code, actor, media, item in cursor.fetchall()}


def happened_at(
    conn: Connection,
    schema: sql.Identifier,
    kind: str,
    *,
    user_id: int,
    actor_id: int,
    media_id: int,
) -> datetime | None:
    """When an event's row was written (on the recipient's shard); None if it is gone."""
    if kind == COMMENT:
        raise ValueError("a comment carries its own time")
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL(_TIMES[kind]).format(s=schema), {"u": user_id, "a": actor_id, "m": media_id}
        )
        row = cursor.fetchone()
    return row[0] if row else None
