"""`photofeed seed` at a small size, against the session's stack: the world's shape."""

from __future__ import annotations

import statistics
import time
from collections import Counter

import pytest
from click.testing import CliRunner
from psycopg2 import sql

from chalicelib import redis_keys
from chalicelib.clients import Clients
from chalicelib.feed.timelines import timelines_of
from chalicelib.media.keys import rendition_keys
from chalicelib.ops.cli import cli
from chalicelib.ops.seed import PASSWORD, username

USERS = 200
MEDIA = 1_000
RENDITIONS = 8
SEED = ["seed", "--users", str(USERS), "--media", str(MEDIA), "--renditions", str(RENDITIONS)]
SEEDED_EMAIL = "%@seed.photofeed.test"


def _rows(clients: Clients, statement: str, values: list) -> list[tuple]:
    """Rows of one statement ({s}: each shard's schema) over every shard."""
    return clients.router.query_shards(
        clients.router.all_shards(),
        lambda shard, s: (sql.SQL(statement).format(s=s), values),
    )


@pytest.fixture(scope="module")
def seeded(clients: Clients) -> dict[str, object]:
    """GIVEN a stack seeded with 200 users and 1,000 media."""
    started = time.monotonic()
    result = CliRunner().invoke(cli, [*SEED, "--seed", "7"])
    assert result.exit_code == 0, result.output
    users = {
        row[0]
        for row in _rows(clients, "SELECT id FROM {s}.users WHERE email LIKE %s", [SEEDED_EMAIL])
    }
    return {"users": users, "seconds": time.monotonic() - started, "output": result.output}


def test_seed_makes_every_user_and_reports_the_world(seeded) -> None:
    assert len(seeded["users"]) == USERS
    assert f"{USERS} users" in seeded["output"]
    assert f"{MEDIA} media" in seeded["output"]
    assert seeded["seconds"] < 60


def test_followers_follow_a_power_law(clients: Clients, seeded) -> None:
    rows = _rows(
        clients,
        "SELECT target_id FROM {s}.followers WHERE source_id = ANY(%s)",
        [list(seeded["users"])],
    )
    followers = Counter(target for (target,) in rows)
    counts = sorted((followers.get(user, 0) for user in seeded["users"]), reverse=True)
    # A few accounts are followed by most users; the median account by a handful.
    assert counts[0] > USERS / 2
    assert counts[0] >= 10 * max(statistics.median(counts), 1)
    assert sum(counts[: USERS // 100]) > 0.1 * sum(counts)


def test_active_users_feeds_hold_their_followees_media(clients: Clients, seeded) -> None:
    timelines = timelines_of(clients)
    active = [u for u in sorted(seeded["users"]) if clients.redis.exists(redis_keys.feed(u))]
    assert len(active) >= USERS * 0.2
    for user in active[:20]:
        followees = [row[0] for row in clients.router.run_for_id(user, _followees(user))]
        expected = timelines.recent_media([user, *followees], clients.settings.feed.cap)
        # The sample's fan-out runs in the pump: it may land a moment after the seed ends.
        deadline = time.monotonic() + 20
        while _feed(clients, user) != expected and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _feed(clients, user) == expected


def _followees(user: int):
    def read(conn, schema):
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("SELECT target_id FROM {}.follows WHERE source_id = %s").format(schema),
                [user],
            )
            return cursor.fetchall()

    return read


def _feed(clients: Clients, user: int) -> list[int]:
    return [int(i) for i in clients.redis.lrange(redis_keys.feed(user), 0, -1) if int(i) != 0]


def test_the_sample_has_real_renditions(clients: Clients, seeded) -> None:
    rows = _rows(
        clients,
        "SELECT id, status, renditions FROM {s}.media WHERE renditions IS NOT NULL "
        "AND owner_id = ANY(%s)",
        [list(seeded["users"])],
    )
    assert len(rows) == RENDITIONS
    for media_id, status, record in rows:
        assert status == "ready"
        keys = rendition_keys(media_id, record)
        assert len(keys) == 8
        for key in keys:
            head = clients.s3.head_object(Bucket=clients.settings.bucket, Key=key)
            assert head["ContentLength"] > 0


def test_a_seeded_user_logs_in_and_reads_a_feed(http, seeded) -> None:
    response = http.post("/sessions", json={"login": username(3), "password": PASSWORD})
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    feed = http.get("/feed", headers={"Authorization": f"Bearer {token}"})
    assert feed.status_code == 200, feed.text
    assert feed.json()["items"]


def test_likes_and_comments_are_counted_on_their_media(clients: Clients, seeded) -> None:
    rows = _rows(
        clients,
        "SELECT m.like_count, (SELECT count(*) FROM {s}.likes l WHERE l.media_id = m.id), "
        "m.comment_count, (SELECT count(*) FROM {s}.comments c WHERE c.media_id = m.id) "
        "FROM {s}.media m WHERE m.owner_id = ANY(%s)",
        [list(seeded["users"])],
    )
    assert sum(row[0] for row in rows) > MEDIA
    assert all(row[0] == row[1] and row[2] == row[3] for row in rows)


def test_a_seeded_stack_is_not_seeded_again(seeded) -> None:
    result = CliRunner().invoke(cli, SEED)
    assert result.exit_code != 0
    assert "seeded already" in result.output
