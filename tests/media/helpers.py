"""Media as the API tests make and inspect them: reserved through the API, the file
POSTed for real to the presigned URL, and the stack's pump left to process it; rows
read straight from the media's shard.

Uploads go in batches: reserve and POST every file, then wait once, so a batch of
twenty is ready about as soon as a single one.
"""

from __future__ import annotations

import io
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import requests
from PIL import Image
from psycopg2 import sql

READY_WITHIN_SECONDS = 30
MEDIA_KEYS = {
    "id",
    "owner",
    "status",
    "failure_reason",
    "caption",
    "alt_text",
    "location",
    "width",
    "height",
    "blurhash",
    "renditions",
    "like_count",
    "comment_count",
    "liked",
    "created_at",
}
COMMENT_KEYS = {"id", "media_id", "author", "body", "created_at"}
SUMMARY_KEYS = {"id", "username", "full_name", "is_private"}
RENDITION_NAMES = {"large", "medium", "small", "square"}


def _jpeg(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height), (200, 80, 40))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


# Small, so that the pump renders it in milliseconds.
PHOTO = _jpeg(48, 36)
PHOTO_SIZE = (48, 36)
# Declared a JPEG, and not one: processing marks its media failed.
NOT_A_PHOTO = b"this is not a JPEG at all"


def upload_body(data: bytes = PHOTO, **fields: Any) -> dict[str, Any]:
    """A valid POST /media/uploads body for `data` as a JPEG, with `fields` added."""
    return {"content_type": "image/jpeg", "byte_size": len(data), **fields}


def reserve(member, data: bytes = PHOTO, **fields: Any) -> dict[str, Any]:
    """Reserve an upload through the API: {"media": ..., "upload": ...}."""
    response = member.post("/media/uploads", json=upload_body(data, **fields))
    assert response.status_code == 201, response.text
    return response.json()


def post_file(form: dict[str, Any], data: bytes, content_type: str = "image/jpeg") -> None:
    """What a phone does with the presigned POST: the form's fields, then the file."""
    response = requests.post(
        form["url"],
        data=form["fields"],
        files={"file": ("photo", data, content_type)},
        timeout=30,
    )
    assert response.status_code in (200, 201, 204), response.text


def wait_until_processed(member, media_id: str) -> dict[str, Any]:
    """The media as its owner reads it, once it is no longer pending."""
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    while True:
        response = member.get(f"/media/{media_id}")
        assert response.status_code == 200, response.text
        media = response.json()
        if media["status"] != "pending":
            return media
        assert time.monotonic() < deadline, f"media {media_id} still pending"
        time.sleep(0.05)


def upload_all(
    uploads: Sequence[tuple[Any, dict[str, Any]]], data: bytes = PHOTO
) -> list[dict[str, Any]]:
    """Upload `data` once for each (member, fields), in order; each media as its owner
    reads it once processed."""
    reserved = [(member, reserve(member, data, **fields)) for member, fields in uploads]
    for _, answer in reserved:
        post_file(answer["upload"], data)
    return [wait_until_processed(member, answer["media"]["id"]) for member, answer in reserved]


def ready_media(member, count: int = 1, **fields: Any) -> list[dict[str, Any]]:
    """`count` ready media of the member's, oldest first, each with `fields`."""
    made = upload_all([(member, fields)] * count)
    assert [m["status"] for m in made] == ["ready"] * count, made
    return made


def a_ready_media(member, **fields: Any) -> dict[str, Any]:
    return ready_media(member, **fields)[0]


def a_failed_media(member, **fields: Any) -> dict[str, Any]:
    """A media whose file was not the image it was declared to be."""
    (media,) = upload_all([(member, fields)], data=NOT_A_PHOTO)
    assert media["status"] == "failed", media
    return media


def a_pending_media(member, **fields: Any) -> dict[str, Any]:
    """A media reserved and never uploaded."""
    return reserve(member, **fields)["media"]


class Stock:
    """Ready media of one owner, uploaded in batches and handed out one at a time (a
    test that changes a media gets one nobody else touches)."""

    def __init__(self, owner, batch: int = 10) -> None:
        self.owner = owner
        self._batch = batch
        self._left: list[dict[str, Any]] = []

    def take(self) -> dict[str, Any]:
        if not self._left:
            self._left = ready_media(self.owner, self._batch)
        return self._left.pop()


def media_count(member) -> int:
    """The member's media count as their profile shows it."""
    response = member.get("/users/me")
    assert response.status_code == 200, response.text
    return response.json()["counts"]["media"]


def wait_for_media_count(member, expected: int) -> None:
    """Wait for the count (the pump adds a ready media to it just after its commit)."""
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    while media_count(member) != expected:
        assert time.monotonic() < deadline, f"media count is not {expected}"
        time.sleep(0.05)


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def all_pages(member, path: str, count: int) -> list[list[dict[str, Any]]]:
    """Every page of a list route, following next_cursor to the end."""
    pages, params = [], {"count": count}
    while True:
        response = member.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        pages.append(body["items"])
        if body["next_cursor"] is None:
            return pages
        params = {"count": count, "cursor": body["next_cursor"]}


# Rows on the media's shard


def _rows(clients, object_id: int, statement: sql.Composable, values: Any) -> list[tuple]:
    def read(conn, schema) -> list[tuple]:
        with conn.cursor() as cursor:
            cursor.execute(statement.format(s=schema), values)
            return cursor.fetchall()

    return clients.router.run_for_id(object_id, read)


def hashtags(clients, media_id: str | int) -> dict[int, set[str]]:
    """The media's hashtags table rows: tags by source (the media's ID for its caption,
    a comment's ID for the comment's)."""
    rows = _rows(
        clients,
        int(media_id),
        sql.SQL("SELECT source_id, tag FROM {s}.hashtags WHERE media_id = %s"),
        [int(media_id)],
    )
    tags: dict[int, set[str]] = defaultdict(set)
    for source, tag in rows:
        tags[source].add(tag)
    return dict(tags)


def media_rows(clients, owner_id: int) -> list[tuple[int, str]]:
    """(ID, status) of every media row of the owner's, on their shard."""
    return [
        (row[0], row[1])
        for row in _rows(
            clients,
            owner_id,
            sql.SQL("SELECT id, status FROM {s}.media WHERE owner_id = %s ORDER BY id"),
            [owner_id],
        )
    ]


def counted(clients, media_id: str | int) -> dict[str, int]:
    """The media's like and comment counters and the rows they count."""
    (row,) = _rows(
        clients,
        int(media_id),
        sql.SQL(
            "SELECT like_count, comment_count, "
            "(SELECT count(*) FROM {s}.likes WHERE media_id = %(m)s), "
            "(SELECT count(*) FROM {s}.comments WHERE media_id = %(m)s AND deleted_at IS NULL) "
            "FROM {s}.media WHERE id = %(m)s"
        ),
        {"m": int(media_id)},
    )
    return dict(zip(("like_count", "comment_count", "likes", "comments"), row, strict=True))


def written_by(clients, settings, user_id: int) -> dict[str, int]:
    """Likes and comments the user wrote, on any shard."""
    rows = clients.router.query_shards(
        range(settings.logical_shards),
        lambda shard, s: (
            sql.SQL(
                "SELECT (SELECT count(*) FROM {s}.likes WHERE user_id = %s), "
                "(SELECT count(*) FROM {s}.comments WHERE author_id = %s)"
            ).format(s=s),
            [user_id, user_id],
        ),
    )
    return {"likes": sum(r[0] for r in rows), "comments": sum(r[1] for r in rows)}
