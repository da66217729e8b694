"""The media, likes, comments and hashtags tables of a shard: every statement about them.

A media lives on its owner's shard (its ID names it); its likes, comments and hashtags
live beside it, so a like and the media's count change in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg2 import sql
from psycopg2.extensions import connection as Connection

PENDING, READY, FAILED, DELETED = "pending", "ready", "failed", "deleted"
_MEDIA_COLUMNS = sql.SQL(
    "m.id, m.owner_id, m.status, m.caption, m.alt_text, m.content_type, m.byte_size, "
    "m.width, m.height, m.blurhash, m.renditions, m.latitude, m.longitude, m.place_name, "
    "m.failure_reason, m.like_count, m.comment_count, m.created_at, m.ready_at"
)
# What an edit may change.
EDITABLE = ("caption", "alt_text", "latitude", "longitude", "place_name")


@dataclass(frozen=True)
class Location:
    """Where a photo was taken."""

    latitude: float
    longitude: float
    place_name: str | None = None


@dataclass(frozen=True)
class Media:
    """A media's row."""

    id: int
    owner_id: int
    status: str
    caption: str
    alt_text: str
    content_type: str | None
    byte_size: int | None
    width: int | None
    height: int | None
    blurhash: str | None
    renditions: dict[str, Any] | None
    location: Location | None
    failure_reason: str | None
    like_count: int
    comment_count: int
    created_at: datetime
    ready_at: datetime | None


@dataclass(frozen=True)
class Comment:
    """A comment's row."""

    id: int
    media_id: int
    author_id: int
    body: str
    created_at: datetime


def _media(row: tuple) -> Media:
    (*head, latitude, longitude, place_name, failure, likes, comments, created, ready) = row
    location = Location(latitude, longitude, place_name) if latitude is not None else None
    return Media(*head, location, failure, likes, comments, created, ready)


def _rows(conn: Connection, statement: sql.Composable, values: Any) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(statement, values)
        return cursor.fetchall() if cursor.description else []


def reserve(
    conn: Connection,
    schema: sql.Identifier,
    owner_id: int,
    *,
    content_type: str,
    byte_size: int,
    caption: str,
    alt_text: str,
    location: Location | None,
) -> Media:
    """A new pending media: its ID is the upload's key."""
    rows = _rows(
        conn,
        sql.SQL(
            "INSERT INTO {s}.media AS m (owner_id, content_type, byte_size, caption, alt_text, "
            "latitude, longitude, place_name) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "RETURNING {columns}"
        ).format(s=schema, columns=_MEDIA_COLUMNS),
        [owner_id, content_type, byte_size, caption, alt_text, *location_values(location)],
    )
    return _media(rows[0])


def location_values(location: Location | None) -> list[Any]:
    if location is None:
        return [None, None, None]
    return [location.latitude, location.longitude, location.place_name]


def lock_owner(conn: Connection, schema: sql.Identifier, owner_id: int) -> None:
    """Hold the owner's row until the transaction ends: their reservations queue up, so
    a limit counted within the transaction holds."""
    _rows(
        conn,
        sql.SQL("SELECT 1 FROM {s}.users WHERE id = %s FOR UPDATE").format(s=schema),
        [owner_id],
    )


def pending_since(conn: Connection, schema: sql.Identifier, owner_id: int, seconds: int) -> int:
    """How many uploads the owner reserved within `seconds` that are still pending."""
    rows = _rows(
        conn,
        sql.SQL(
            "SELECT count(*) FROM {s}.media WHERE owner_id = %s AND status = 'pending' "
            "AND created_at > now() - make_interval(secs => %s)"
        ).format(s=schema),
        [owner_id, seconds],
    )
    return rows[0][0]


def load(
    conn: Connection, schema: sql.Identifier, media_id: int, viewer: int | None = None
) -> tuple[Media, bool] | None:
    """The media's row and whether `viewer` likes it; None if there is no such media."""
    rows = _rows(
        conn,
        sql.SQL(
            "SELECT {columns}, EXISTS (SELECT 1 FROM {s}.likes l "
            "WHERE l.media_id = m.id AND l.user_id = %s) FROM {s}.media m WHERE m.id = %s"
        ).format(s=schema, columns=_MEDIA_COLUMNS),
        [viewer, media_id],
    )
    return (_media(rows[0][:-1]), rows[0][-1]) if rows else None


def mark_ready(
    conn: Connection,
    schema: sql.Identifier,
    media_id: int,
    *,
    width: int,
    height: int,
    blurhash: str,
    renditions: dict[str, Any],
) -> Media | None:
    """pending -> ready with what processing found; None if it was not pending."""
    rows = _rows(
        conn,
        sql.SQL(
            "UPDATE {s}.media AS m SET status = 'ready', width = %s, height = %s, blurhash = %s, "
            "renditions = %s, ready_at = now(), updated_at = now() "
            "WHERE id = %s AND status = 'pending' RETURNING {columns}"
        ).format(s=schema, columns=_MEDIA_COLUMNS),
        [width, height, blurhash, json.dumps(renditions), media_id],
    )
    return _media(rows[0]) if rows else None


def mark_failed(conn: Connection, schema: sql.Identifier, media_id: int, reason: str) -> bool:
    """pending -> failed, with a reason the client reads; False if it was not pending."""
    return bool(
        _rows(
            conn,
            sql.SQL(
                "UPDATE {s}.media SET status = 'failed', failure_reason = %s, updated_at = now() "
                "WHERE id = %s AND status = 'pending' RETURNING 1"
            ).format(s=schema),
            [reason, media_id],
        )
    )


def mark_deleted(conn: Connection, schema: sql.Identifier, media_id: int) -> str | None:
    """Soft-delete the media; the status it had (None if already deleted or absent)."""
    rows = _rows(
        conn,
        sql.SQL(
            "UPDATE {s}.media AS m SET status = 'deleted', deleted_at = now(), updated_at = now() "
            "FROM {s}.media old WHERE m.id = %s AND old.id = m.id AND m.status <> 'deleted' "
            "RETURNING old.status"
        ).format(s=schema),
        [media_id],
    )
    return rows[0][0] if rows else None


def edit(
    conn: Connection, schema: sql.Identifier, media_id: int, changes: dict[str, Any]
) -> Media | None:
    """Apply edits (EDITABLE only) to a media not deleted; the updated row, or None."""
    if set(changes) - set(EDITABLE):
        raise ValueError(f"not editable: {sorted(set(changes) - set(EDITABLE))}")
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = %s").format(sql.Identifier(name)) for name in changes
    )
    rows = _rows(
        conn,
        sql.SQL(
            "UPDATE {s}.media AS m SET {assignments}, updated_at = now() "
            "WHERE id = %s AND status <> 'deleted' RETURNING {columns}"
        ).format(s=schema, assignments=assignments, columns=_MEDIA_COLUMNS),
        [*changes.values(), media_id],
    )
    return _media(rows[0]) if rows else None


def owner_page(
    conn: Connection,
    schema: sql.Identifier,
    owner_id: int,
    *,
    before: int | None,
    limit: int,
    viewer: int,
) -> list[tuple[Media, bool]]:
    """The owner's ready media, newest first, older than the media `before`, and whether
    `viewer` likes each."""
    rows = _rows(
        conn,
        sql.SQL(
            "SELECT {columns}, EXISTS (SELECT 1 FROM {s}.likes l "
            "WHERE l.media_id = m.id AND l.user_id = %s) "
            "FROM {s}.media m WHERE m.owner_id = %s AND m.status = 'ready' "
            "AND m.id < %s ORDER BY m.id DESC LIMIT %s"
        ).format(s=schema, columns=_MEDIA_COLUMNS),
        [viewer, owner_id, before if before is not None else 2**63 - 1, limit],
    )
    return [(_media(row[:-1]), row[-1]) for row in rows]


def like(conn: Connection, schema: sql.Identifier, media_id: int, user_id: int) -> int:
    """Like (idempotent); the media's like count after."""
    return _count_change(
        conn,
        schema,
        sql.SQL(
            "INSERT INTO {s}.likes (media_id, user_id) VALUES (%(m)s, %(u)s) "
            "ON CONFLICT DO NOTHING RETURNING 1"
        ),
        "like_count",
        {"m": media_id, "u": user_id},
    )


def unlike(conn: Connection, schema: sql.Identifier, media_id: int, user_id: int) -> int:
    """Take a like back (idempotent); the media's like count after."""
    return _count_change(
        conn,
        schema,
        sql.SQL("DELETE FROM {s}.likes WHERE media_id = %(m)s AND user_id = %(u)s RETURNING -1"),
        "like_count",
        {"m": media_id, "u": user_id},
    )


def _count_change(
    conn: Connection,
    schema: sql.Identifier,
    change: sql.SQL,
    counter: str,
    values: dict[str, Any],
) -> int:
    """Run a row change and add what it changed to the media's counter, in one statement."""
    rows = _rows(
        conn,
        sql.SQL(
            "WITH changed AS ({change}) UPDATE {s}.media SET {counter} = {counter} + "
            "(SELECT coalesce(sum(c), 0) FROM changed AS t(c)) WHERE id = %(m)s RETURNING {counter}"
        ).format(change=change.format(s=schema), s=schema, counter=sql.Identifier(counter)),
        values,
    )
    return rows[0][0] if rows else 0


def likers_page(
    conn: Connection,
    schema: sql.Identifier,
    media_id: int,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[tuple[int, datetime]]:
    """Who liked the media, newest first: (user ID, liked at)."""
    position = sql.SQL("AND (created_at, user_id) < (%s, %s) ") if after else sql.SQL("")
    rows = _rows(
        conn,
        sql.SQL(
            "SELECT user_id, created_at FROM {s}.likes WHERE media_id = %s {position}"
            "ORDER BY created_at DESC, user_id DESC LIMIT %s"
        ).format(s=schema, position=position),
        [media_id, *(after or ()), limit],
    )
    return [(row[0], row[1]) for row in rows]


def add_comment(
    conn: Connection, schema: sql.Identifier, media_id: int, author_id: int, body: str
) -> Comment:
    """A new comment, counted on the media."""
    rows = _rows(
        conn,
        sql.SQL(
            "WITH added AS (INSERT INTO {s}.comments (media_id, author_id, body) "
            "VALUES (%(m)s, %(a)s, %(b)s) RETURNING id, media_id, author_id, body, created_at), "
            "counted AS (UPDATE {s}.media SET comment_count = comment_count + 1 "
            "WHERE id = %(m)s) SELECT * FROM added"
        ).format(s=schema),
        {"m": media_id, "a": author_id, "b": body},
    )
    return Comment(*rows[0])


def load_comment(
    conn: Connection, schema: sql.Identifier, media_id: int, comment_id: int
) -> Comment | None:
    """A comment of the media that is not deleted."""
    rows = _rows(
        conn,
        sql.SQL(
            "SELECT id, media_id, author_id, body, created_at FROM {s}.comments "
            "WHERE id = %s AND media_id = %s AND deleted_at IS NULL"
        ).format(s=schema),
        [comment_id, media_id],
    )
    return Comment(*rows[0]) if rows else None


def delete_comment(
    conn: Connection, schema: sql.Identifier, media_id: int, comment_id: int
) -> bool:
    """Soft-delete a comment, uncount it and drop its tags; False if it was gone already."""
    rows = _rows(
        conn,
        sql.SQL(
            "WITH gone AS (UPDATE {s}.comments SET deleted_at = now() "
            "WHERE id = %(c)s AND media_id = %(m)s AND deleted_at IS NULL RETURNING id), "
            "counted AS (UPDATE {s}.media SET comment_count = comment_count - 1 "
            "WHERE id = %(m)s AND EXISTS (SELECT 1 FROM gone)), "
            "untagged AS (DELETE FROM {s}.hashtags "
            "WHERE media_id = %(m)s AND source_id IN (SELECT id FROM gone)) "
            "SELECT count(*) FROM gone"
        ).format(s=schema),
        {"c": comment_id, "m": media_id},
    )
    return rows[0][0] == 1


def comments_page(
    conn: Connection, schema: sql.Identifier, media_id: int, before: int | None, limit: int
) -> list[Comment]:
    """The media's comments, newest first, older than the comment `before`."""
    rows = _rows(
        conn,
        sql.SQL(
            "SELECT id, media_id, author_id, body, created_at FROM {s}.comments "
            "WHERE media_id = %s AND deleted_at IS NULL AND id < %s ORDER BY id DESC LIMIT %s"
        ).format(s=schema),
        [media_id, before if before is not None else 2**63 - 1, limit],
    )
    return [Comment(*row) for row in rows]


def set_tags(
    conn: Connection, schema: sql.Identifier, media_id: int, source_id: int, tags: Iterable[str]
) -> None:
    """Replace the tags of one source (the caption: source_id = media_id; or a comment)."""
    wanted = sorted(set(tags))
    _rows(
        conn,
        sql.SQL(
            "DELETE FROM {s}.hashtags WHERE media_id = %s AND source_id = %s "
            "AND NOT (tag = ANY(%s::text[]))"
        ).format(s=schema),
        [media_id, source_id, wanted],
    )
    if wanted:
        _rows(
            conn,
            sql.SQL(
                "INSERT INTO {s}.hashtags (media_id, source_id, tag) "
                "SELECT %s, %s, unnest(%s::text[]) ON CONFLICT DO NOTHING"
            ).format(s=schema),
            [media_id, source_id, wanted],
        )


def many_query(schema: sql.Identifier, ids: list[int]) -> tuple[sql.Composable, list[Any]]:
    """The part, for one shard, of a query for many media rows (Router.query_shards)."""
    return (
        sql.SQL("SELECT {columns} FROM {s}.media m WHERE m.id = ANY(%s)").format(
            s=schema, columns=_MEDIA_COLUMNS
        ),
        [ids],
    )


def media_from_row(row: tuple) -> Media:
    """A media from a row of `many_query`."""
    return _media(row)
