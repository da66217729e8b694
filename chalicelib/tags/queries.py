"""The statements about hashtags: each is one shard's part of a query that
Router.query_shards sends once per physical database, or work on one shard."""

from __future__ import annotations

from typing import Any

from psycopg2 import sql
from psycopg2.extensions import connection as Connection

OWNER, LIKE, TAGGED = "u", "l", "t"
Part = tuple[sql.Composable, list[Any]]


def tags_of_media(conn: Connection, schema: sql.Identifier, media_id: int) -> list[str]:
    """Every tag of a media (its caption's and its comments'), on its shard."""
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT DISTINCT tag FROM {s}.hashtags WHERE media_id = %s").format(s=schema),
            [media_id],
        )
        return [row[0] for row in cursor.fetchall()]


def newest_tagged(schema: sql.Identifier, tag: str, below: int, limit: int) -> Part:
    """A shard's newest ready media with the tag, below the ID `below` (a tag list's
    rebuild, or the pages beyond its cap)."""
    return (
        sql.SQL(
            "SELECT DISTINCT h.media_id FROM {s}.hashtags h JOIN {s}.media m ON m.id = h.media_id "
            "WHERE h.tag = %s AND h.media_id < %s AND m.status = 'ready' "
            "ORDER BY h.media_id DESC LIMIT %s"
        ).format(s=schema),
        [tag, below, limit],
    )


def counts(schema: sql.Identifier, tags: list[str]) -> Part:
    """How many ready media of a shard carry each of the tags."""
    return (
        sql.SQL(
            "SELECT h.tag, count(DISTINCT h.media_id) FROM {s}.hashtags h "
            "JOIN {s}.media m ON m.id = h.media_id "
            "WHERE h.tag = ANY(%s) AND m.status = 'ready' GROUP BY h.tag"
        ).format(s=schema),
        [tags],
    )


def names(schema: sql.Identifier) -> Part:
    """Every tag of a shard's ready media (the search index's rebuild)."""
    return (
        sql.SQL(
            "SELECT DISTINCT h.tag FROM {s}.hashtags h JOIN {s}.media m ON m.id = h.media_id "
            "WHERE m.status = 'ready'"
        ).format(s=schema),
        [],
    )


def owners_likes_and_tags(
    schema: sql.Identifier, owners: list[int], media_ids: list[int], viewer: int, tag: str
) -> Part:
    """A shard's part of a tag page's query: each owner's summary and whether they block
    the viewer (OWNER rows), which media the viewer likes (LIKE), and which media still
    carry the tag (TAGGED: a caption edited since, or a comment deleted, may drop it)."""
    return (
        sql.SQL(
            "SELECT {owner}, u.id, u.username, u.full_name, u.is_private, EXISTS ("
            "SELECT 1 FROM {s}.blocks b WHERE b.source_id = u.id AND b.target_id = %s) "
            "FROM {s}.users u WHERE u.id = ANY(%s) UNION ALL "
            "SELECT {like}, l.media_id, NULL, NULL, NULL, NULL FROM {s}.likes l "
            "WHERE l.user_id = %s AND l.media_id = ANY(%s) UNION ALL "
            "SELECT {tagged}, h.media_id, NULL, NULL, NULL, NULL FROM {s}.hashtags h "
            "WHERE h.tag = %s AND h.media_id = ANY(%s)"
        ).format(
            s=schema,
            owner=sql.Literal(OWNER),
            like=sql.Literal(LIKE),
            tagged=sql.Literal(TAGGED),
        ),
        [viewer, owners, viewer, media_ids, tag, media_ids],
    )
