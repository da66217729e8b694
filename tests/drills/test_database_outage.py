"""Drill: one physical database stops while members read and write.

Reads degrade: a feed page leaves out the media whose shards live on the stopped
database and says so (`"partial": true`); the other reading surfaces answer 200 (partial
too) or 503, never 500. Writes to a shard on the stopped database answer 503
`unavailable` in the project's error body; writes elsewhere go on. Once the database is
back, pages are whole and writes succeed, and the API process was never restarted.
"""

from __future__ import annotations

import pytest

from chalicelib import redis_keys
from tests.answers import error_of
from tests.drills.stackctl import DrillStack, wait_for
from tests.drills.uploads import feed_page, uploaded, wait_ready

DOWN = "db1"
UP = "db0"
TAG = "drillsunset"
# Every reading surface but the feed, and what it may answer while a database is down.
READING_SURFACES = [
    f"/tags/{TAG}/media",
    "/tags/search?q=drill",
    "/media/search?lat=48.85&lng=2.35",
    "/explore",
    "/activity",
    "/users/search?q=u_",
]


@pytest.fixture(scope="module")
def cast(drills: DrillStack):
    """A reader and an author on db0, an author on db1, the reader following both, each
    author with two ready media (tagged and placed, for the other surfaces)."""
    reader, near = drills.member_on(UP), drills.member_on(UP)
    far = drills.member_on(DOWN)
    for author in (near, far):
        assert reader.post(f"/users/{author.id}/follow").status_code == 200
    place = {"latitude": 48.85, "longitude": 2.35, "place_name": "Paris"}
    media = {
        author.id: [uploaded(author, caption=f"#{TAG}", location=place) for _ in range(2)]
        for author in (near, far)
    }
    for author in (near, far):
        wait_ready(drills, author, media[author.id])
    # Fanned out: no push left to cancel the rebuild of a list read before the outage.
    wait_for(drills.queues_drained, "the fan-out to finish")
    return reader, near, far, media


def test_a_database_down_degrades_reads_refuses_its_writes_and_recovers(drills, cast):
    reader, near, far, media = cast
    everything = sorted(media[near.id] + media[far.id], reverse=True)
    # GIVEN a whole feed (built: a feed missing while a database is down is a 503)
    assert _feed(reader) == (everything, False)
    assert drills.clients.redis.exists(redis_keys.feed(reader.id))

    with drills.database_down(DOWN):
        # WHEN db1 is down, THEN the feed shows db0's media only, and says it is partial
        assert _feed(reader) == (sorted(media[near.id], reverse=True), True)
        # writes to db1's shards are refused with 503, in the error body ...
        refused = reader.post(f"/media/{media[far.id][0]}/like")
        assert error_of(refused, 503)["code"] == "unavailable"
        assert error_of(far.patch("/users/me", json={"bio": "down"}), 503)["code"] == (
            "unavailable"
        )
        # ... while writes to db0's go on
        assert reader.post(f"/media/{media[near.id][0]}/like").status_code == 200
        # and no other reading surface fails with a 500
        far_media = media[far.id][0]
        on_db1 = [f"/users/{far.id}/media", f"/media/{far_media}", f"/media/{far_media}/likes"]
        for path in [*READING_SURFACES, *on_db1]:
            answer = reader.get(path)
            assert answer.status_code in (200, 503), (path, answer.text)
            if answer.status_code == 503:
                assert error_of(answer, 503)["code"] == "unavailable"
        assert error_of(reader.get(f"/users/{far.id}"), 503)["code"] == "unavailable"

    # WHEN it is back, THEN pages are whole again and its writes succeed, no restart
    wait_for(lambda: _feed(reader) == (everything, False), "a whole feed page")
    assert reader.post(f"/media/{media[far.id][0]}/like").status_code == 200
    assert far.patch("/users/me", json={"bio": "up"}).status_code == 200
    liked = reader.get(f"/media/{media[far.id][0]}").json()
    assert liked["liked"] is True
    assert liked["like_count"] == 1
    wait_for(drills.healthy, "/health to be green again")


def test_a_tag_page_while_a_database_is_down_is_partial(drills, cast):
    reader, near, _, media = cast
    assert reader.get(f"/tags/{TAG}/media").status_code == 200
    assert drills.clients.redis.exists(redis_keys.tag(TAG))  # built before the outage
    with drills.database_down(DOWN):
        answer = reader.get(f"/tags/{TAG}/media")
    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert page["partial"] is True
    assert {int(item["id"]) for item in page["items"]} == set(media[near.id])


def _feed(member) -> tuple[list[int], bool]:
    page = feed_page(member)
    return [int(item["id"]) for item in page["items"]], page["partial"]
