"""What the feed tests share: media made ready without the image pipeline, what the
database says a feed should hold, and feeds read as a client pages through them or as
Redis holds them.

Media are reserved through the API and marked ready in PostgreSQL (as the thumbnail
handler does, counters included), so no media-ready event is published: the stack's
pump never fans these out, and each test decides when and how often fan-out runs
(tests.feed.fanning).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise
from typing import Any

from psycopg2 import sql

from chalicelib import redis_keys
from chalicelib.clients import Clients
from chalicelib.feed.events import MediaReady
from chalicelib.feed.lists import EMPTY
from chalicelib.media import records
from chalicelib.media.records import Media
from chalicelib.users.counters import Counters
from tests.media.uploading import reserve

# What the thumbnail handler would have found in a small photo.
WIDTH, HEIGHT = 400, 300
BLURHASH = "LEHV6nWB2yk8pyo0adR*.7kCMdnj"


# --- media -------------------------------------------------------------------------------


def post_ready(clients: Clients, member: Any, caption: str = "") -> Media:
    """A media of `member`, reserved through the API and marked ready in PostgreSQL."""
    reserved = reserve(member, "image/jpeg", 10_000, caption=caption)
    return mark_ready(clients, reserved.media_id, member.id)


def mark_ready(clients: Clients, media_id: int, owner_id: int) -> Media:
    """pending -> ready, counted, as the thumbnail handler finishes a media."""
    counters = Counters(clients.redis, clients.router)
    with counters.changing([owner_id]) as counted:
        ready = clients.router.run_for_id(
            media_id,
            lambda c, s: records.mark_ready(
                c, s, media_id, width=WIDTH, height=HEIGHT, blurhash=BLURHASH, renditions={}
            ),
        )
        assert ready is not None, f"media {media_id} was not pending"
        counted.append((owner_id, "media", 1))
    return ready


def insert_ready_media(clients: Clients, owner_id: int, count: int) -> list[int]:
    """`count` ready media of the owner straight into their shard (one statement: the
    fastest way to a long history); their IDs, newest first."""

    def insert(conn, shard_schema: sql.Identifier) -> list[int]:
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {s}.media (owner_id, status, content_type, byte_size, width, "
                    "height, blurhash, renditions, ready_at) SELECT %s, 'ready', 'image/jpeg', "
                    "10000, %s, %s, %s, '{{}}', now() FROM generate_series(1, %s) RETURNING id"
                ).format(s=shard_schema),
                [owner_id, WIDTH, HEIGHT, BLURHASH, count],
            )
            return sorted((row[0] for row in cursor.fetchall()), reverse=True)

    made = clients.router.run_for_id(owner_id, insert)
    Counters(clients.redis, clients.router).forget([owner_id])
    return made


def load_media(clients: Clients, media_id: int) -> Media:
    """A media's row."""
    found = clients.router.run_for_id(media_id, lambda c, s: records.load(c, s, media_id))
    assert found is not None, f"no media {media_id}"
    return found[0]


def ready_event(media: Media) -> MediaReady:
    """The media-ready event the thumbnail handler publishes for a media."""
    return MediaReady(
        media_id=media.id,
        owner_id=media.owner_id,
        uploaded_at=media.created_at,
        ready_at=media.ready_at or media.created_at,
    )


def ready_media_of(clients: Clients, owners: Iterable[int]) -> list[int]:
    """Every ready media of these owners, newest first, straight from their shards."""
    found: list[int] = []
    for owner in set(owners):
        found += clients.router.run_for_id(
            owner,
            lambda c, s, o=owner: _column(
                c,
                sql.SQL("SELECT id FROM {s}.media WHERE owner_id = %s AND status = 'ready'"),
                s,
                [o],
            ),
        )
    return sorted(found, reverse=True)


def followees_of(clients: Clients, user_id: int) -> list[int]:
    """Whom the user follows, as their shard's `follows` rows say."""
    return clients.router.run_for_id(
        user_id,
        lambda c, s: _column(
            c, sql.SQL("SELECT target_id FROM {s}.follows WHERE source_id = %s"), s, [user_id]
        ),
    )


def expected_feed(clients: Clients, user_id: int, cap: int) -> list[int]:
    """The feed the database says the user should read: their own and their followees'
    ready media, newest first, capped."""
    return ready_media_of(clients, [user_id, *followees_of(clients, user_id)])[:cap]


def _column(conn, statement: sql.SQL, shard_schema: sql.Identifier, values: list) -> list[int]:
    with conn.cursor() as cursor:
        cursor.execute(statement.format(s=shard_schema), values)
        return [row[0] for row in cursor.fetchall()]


# --- feeds -------------------------------------------------------------------------------


def stored_feed(clients: Clients, user_id: int) -> list[int]:
    """The feed as Redis holds it (LRANGE), the empty list's placeholder left out."""
    items = clients.redis.lrange(redis_keys.feed(user_id), 0, -1)
    return [int(item) for item in items if int(item) != EMPTY]


def feed_exists(clients: Clients, user_id: int) -> bool:
    return bool(clients.redis.exists(redis_keys.feed(user_id)))


def feed_page(member: Any, **params: Any) -> dict[str, Any]:
    """GET /feed as `member` (200 or the test fails)."""
    answer = member.get("/feed", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def feed_ids(member: Any, **params: Any) -> list[int]:
    """The media IDs of one page of the member's feed."""
    return [int(item["id"]) for item in feed_page(member, **params)["items"]]


def all_pages(member: Any, count: int = 50, limit: int = 100) -> list[list[int]]:
    """Every page of the member's feed, following next_max_id to the end."""
    pages: list[list[int]] = []
    params: dict[str, Any] = {"count": count}
    for _ in range(limit):
        page = feed_page(member, **params)
        pages.append([int(item["id"]) for item in page["items"]])
        if page["next_max_id"] is None:
            return pages
        params["max_id"] = page["next_max_id"]
    raise AssertionError(f"more than {limit} pages")


def read_all(member: Any, count: int = 50) -> list[int]:
    """The member's whole feed as a client reads it, page after page."""
    return [media_id for page in all_pages(member, count) for media_id in page]


def newest_first(ids: list[int]) -> bool:
    """Strictly newest first: in time order and without duplicates."""
    return all(a > b for a, b in pairwise(ids))


def follow(follower: Any, target: Any) -> None:
    answer = follower.post(f"/users/{target.id}/follow")
    assert answer.status_code == 200, answer.text
