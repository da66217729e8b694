"""Many media rows, tags, likes and comments in one statement per shard: the batch
forms of records' single writes (`photofeed seed`), with the same rules (ready media,
idempotent likes, counts changed in the statement that changes the rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg2 import sql
from psycopg2.extensions import connection as Connection
from psycopg2.extras import execute_values

from chalicelib.media.records import READY, Location, location_values


@dataclass(frozen=True)
class Processed:
    """A media whose photo was processed elsewhere (`photofeed seed`): what its row takes."""

    owner_id: int
    caption: str
    width: int
    height: int
    blurhash: str
    byte_size: int
    location: Location | None = None
    content_type: str = "image/jpeg"


def add_ready_many(
    conn: Connection, schema: sql.Identifier, media: Sequence[Processed]
) -> list[int]:
    """Ready media rows, one statement; their IDs, in the order given (IDs are made in
    row order, so they sort as the rows were given)."""
    if not media:
        return []
    with conn.cursor() as cursor:
        rows = execute_values(
            cursor,
            sql.SQL(
                "INSERT INTO {s}.media (owner_id, status, caption, content_type, byte_size, "
                "width, height, blurhash, latitude, longitude, place_name, ready_at) "
                "VALUES %s RETURNING id"
            )
            .format(s=schema)
            .as_string(cursor),
            [
                (
                    m.owner_id,
                    READY,
                    m.caption,
                    m.content_type,
                    m.byte_size,
                    m.width,
                    m.height,
                    m.blurhash,
                    *location_values(m.location),
                )
                for m in media
            ],
            template="(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())",
            page_size=len(media),
            fetch=True,
        )
    return sorted(row[0] for row in rows)


def add_tags_many(
    conn: Connection, schema: sql.Identifier, tags: Sequence[tuple[int, int, str]]
) -> None:
    """Tags of many sources at once, (media ID, source ID, tag) each (see `set_tags`)."""
    if tags:
        with conn.cursor() as cursor:
            execute_values(
                cursor,
                sql.SQL(
                    "INSERT INTO {s}.hashtags (media_id, source_id, tag) VALUES %s "
                    "ON CONFLICT DO NOTHING"
                )
                .format(s=schema)
                .as_string(cursor),
                list(tags),
                page_size=len(tags),
            )


def like_many(conn: Connection, schema: sql.Identifier, likes: Sequence[tuple[int, int]]) -> int:
    """Many likes, (media ID, user ID) each, idempotent, with the media's counts changed
    in the same statement (as `like`); how many were new."""
    return _counted_many(
        conn,
        schema,
        sql.SQL(
            "INSERT INTO {s}.likes (media_id, user_id) VALUES %s "
            "ON CONFLICT DO NOTHING RETURNING media_id"
        ),
        "like_count",
        likes,
    )


def add_comments_many(
    conn: Connection, schema: sql.Identifier, comments: Sequence[tuple[int, int, str]]
) -> int:
    """Many comments, (media ID, author ID, body) each, counted on their media in the
    same statement (as `add_comment`); how many."""
    return _counted_many(
        conn,
        schema,
        sql.SQL(
            "INSERT INTO {s}.comments (media_id, author_id, body) VALUES %s RETURNING media_id"
        ),
        "comment_count",
        comments,
    )


def _counted_many(
    conn: Connection,
    schema: sql.Identifier,
    change: sql.SQL,
    counter: str,
    rows: Sequence[tuple[Any, ...]],
) -> int:
    """Insert rows (the statement returns each new row's media ID) and add how many each
    media took to its counter, in one statement; how many rows were new."""
    if not rows:
        return 0
    with conn.cursor() as cursor:
        counted = execute_values(
            cursor,
            sql.SQL(
                "WITH changed AS ({change}), per_media AS (SELECT media_id, count(*) AS n "
                "FROM changed GROUP BY media_id) UPDATE {s}.media m SET {counter} = {counter} + "
                "p.n FROM per_media p WHERE m.id = p.media_id RETURNING p.n"
            )
            .format(change=change.format(s=schema), s=schema, counter=sql.Identifier(counter))
            .as_string(cursor),
            list(rows),
            page_size=len(rows),
            fetch=True,
        )
    return sum(row[0] for row in counted)
