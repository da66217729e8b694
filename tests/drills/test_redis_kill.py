"""Drill: Redis is killed (SIGKILL) in the middle of a fan-out to a few hundred followers,
and an empty Redis takes its port.

Redis holds derived data only. Afterwards every follower's feed holds the media: pushed
before the kill and lost with Redis, or never pushed, a missing feed is rebuilt from
PostgreSQL at its reader's next read. The fan-out messages that failed while Redis was
down are retried by the queue and find no feeds to push to (nothing is left half-done or
dead-lettered), and the API answers again by itself: it was never restarted.
"""

from __future__ import annotations

import time

from psycopg2 import sql

from chalicelib import redis_keys
from chalicelib.feed.timelines import MAX_ID, timelines_of
from tests.drills.conftest import CHUNK_SIZE
from tests.drills.stackctl import DrillStack, wait_for
from tests.drills.uploads import feed_ids, feed_page, uploaded
from tests.feed.fanning import add_followers, build_empty_feeds

# Several chunk messages' worth, so that the kill lands between pushes.
AUDIENCE = 5 * CHUNK_SIZE
# Shards the made-up followers live on (both databases hold some).
FOLLOWER_SHARDS = range(0, 64, 8)


def test_redis_killed_during_a_fan_out_and_restarted_empty_loses_no_feed_entry(
    drills: DrillStack,
):
    # GIVEN an author followed by three members and a few hundred more followers, all
    # active with built feeds
    author, *members = drills.members(4)
    for member in members:
        assert member.post(f"/users/{author.id}/follow").status_code == 200
        assert feed_ids(member) == []
    audience = _followers(drills, author.id, AUDIENCE)
    build_empty_feeds(drills.clients, audience)
    first = redis_keys.feed(min(audience))  # in the first chunk fanned out

    # WHEN the author posts, and Redis is killed as soon as the fan-out has begun
    media_id = uploaded(author)
    wait_for(
        lambda: drills.clients.redis.lpos(first, media_id) is not None,
        "the fan-out to begin",
        within=30,
    )
    pushed = _feeds_holding(drills, audience, media_id)
    drills.kill_redis()
    killed_at = time.monotonic()
    drills.start_redis()
    assert drills.clients.redis.dbsize() == 0  # empty

    # THEN the queues drain (failed fan-out messages retried, none dead-lettered) ...
    wait_for(drills.queues_drained, "the fan-out queue to drain", within=30)
    assert set(drills.dead_letters().values()) == {0}  # no queue dead-lettered anything
    # ... the API answers again without a restart, and members see the media
    wait_for(lambda: _answers(members[0]), "the API to answer again")
    for member in members:
        assert feed_page(member)["items"][0]["id"] == str(media_id)
    # ... and every follower's feed, rebuilt from PostgreSQL, holds it
    timelines = timelines_of(drills.clients)
    missing = [u for u in audience if media_id not in timelines.feed_page(u, MAX_ID, 10)[0]]
    assert missing == []
    recovered = time.monotonic() - killed_at
    print(f"killed after {pushed}/{AUDIENCE} pushes; all feeds whole {recovered:.1f} s later")


def _followers(drills: DrillStack, author_id: int, count: int) -> list[int]:
    """`count` users on FOLLOWER_SHARDS following the author (rows written straight into
    their shards and the author's: the fastest way to a big audience)."""
    per_shard = count // len(FOLLOWER_SHARDS)
    made: list[int] = []
    for shard in FOLLOWER_SHARDS:
        made += drills.clients.router.run(shard, _following(author_id, per_shard))

    add_followers(drills.clients, author_id, made)
    return sorted(made)


def _following(author_id: int, count: int):
    def insert(conn, schema: sql.Identifier) -> list[int]:
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL(
                    "WITH made AS (INSERT INTO {s}.users (username, email) "
                    "SELECT 'drill_' || md5(random()::text), 'drill@example.com' "
                    "FROM generate_series(1, %s) RETURNING id) "
                    "INSERT INTO {s}.follows (source_id, target_id) "
                    "SELECT id, %s FROM made RETURNING source_id"
                ).format(s=schema),
                [count, author_id],
            )
            return [row[0] for row in cursor.fetchall()]

    return insert


def _feeds_holding(drills: DrillStack, users: list[int], media_id: int) -> int:
    with drills.clients.redis.pipeline(transaction=False) as pipe:
        for user in users:
            pipe.lpos(redis_keys.feed(user), media_id)
        return sum(1 for found in pipe.execute() if found is not None)


def _answers(member) -> bool:
    return member.get("/feed").status_code == 200
