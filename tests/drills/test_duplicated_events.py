"""Drill: every event is delivered twice, in random order, for a whole run.

The same run (follows, uploads, likes) is played twice by new members: once with the
stack's pump, once with a pump that sends every S3 notification and media-ready event
back to its queue as a copy (after a random delay) and hands each batch over shuffled
(`python -m devstack.pump --duplicate-seed`). Both runs must end in the same state,
members and media named by their part in the run: feeds, profiles' counts, media
(status, counts, renditions) and the rendition files in S3.
"""

from __future__ import annotations

import json
from typing import Any

from tests.drills.stackctl import DrillStack, wait_for
from tests.drills.uploads import feed_page, uploaded, wait_ready
from tests.media.uploading import media_of

SEED = "7"
# Who follows whom, who uploads how many, who likes what: by part in the run.
FOLLOWS = [("reader", "ada"), ("reader", "bo"), ("bo", "ada")]
UPLOADS = {"ada": 2, "bo": 2}
LIKES = [("reader", "ada0"), ("reader", "bo1"), ("bo", "ada1"), ("ada", "bo0")]


def test_a_run_with_every_event_duplicated_and_shuffled_ends_as_a_clean_run(drills: DrillStack):
    clean, _ = _run(drills)
    drills.restart_pump("--duplicate-seed", SEED)
    try:
        duplicated, deliveries = _run(drills)
    finally:
        drills.restart_pump()
    # every notification and event was delivered twice (at least: retries add more)
    assert deliveries["thumbnail"] >= 2 * sum(UPLOADS.values())
    assert deliveries["fanout"] >= 2 * sum(UPLOADS.values())
    assert duplicated == clean


def _run(drills: DrillStack) -> tuple[dict[str, Any], dict[str, int]]:
    """Play the run with new members; its final state by part, and how many records the
    pump handed each function meanwhile."""
    before = _deliveries(drills)
    people = dict(zip(["reader", "ada", "bo"], drills.members(3), strict=True))
    for source, target in FOLLOWS:
        assert people[source].post(f"/users/{people[target].id}/follow").status_code == 200
    media = {
        f"{name}{index}": uploaded(people[name], caption=f"#dupdrill {name} {index}")
        for name, count in UPLOADS.items()
        for index in range(count)
    }
    for name in UPLOADS:
        wait_ready(drills, people[name], [i for part, i in media.items() if part[:-1] == name])
    for who, part in LIKES:
        assert people[who].post(f"/media/{media[part]}/like").status_code == 200
    wait_for(drills.queues_drained, "every event to be delivered", within=30)
    state = _state(drills, people, media)
    after = _deliveries(drills)
    return state, {name: after[name] - before[name] for name in after}


def _state(drills: DrillStack, people: dict[str, Any], media: dict[str, int]) -> dict[str, Any]:
    part_of = {str(i): part for part, i in media.items()}
    viewer = people["reader"]
    return {
        "feeds": {
            name: [part_of[item["id"]] for item in feed_page(member)["items"]]
            for name, member in people.items()
        },
        "counts": {
            name: viewer.get(f"/users/{member.id}").json()["counts"]
            for name, member in people.items()
        },
        "media": {part: _media(drills, viewer, media_id) for part, media_id in media.items()},
    }


def _media(drills: DrillStack, viewer: Any, media_id: int) -> dict[str, Any]:
    shown = media_of(viewer, media_id)
    stored = drills.clients.s3.list_objects_v2(
        Bucket=drills.settings.bucket, Prefix=f"renditions/{media_id}/"
    ).get("Contents", [])
    return {
        "status": shown["status"],
        "likes": shown["like_count"],
        "comments": shown["comment_count"],
        "size": (shown["width"], shown["height"]),
        "renditions": sorted(shown["renditions"]),
        "files": len(stored),
        "caption": shown["caption"].split(" ", 1)[1],
    }


def _deliveries(drills: DrillStack) -> dict[str, int]:
    """Records the pump has handed each function so far (from its log)."""
    counts = {"thumbnail": 0, "fanout": 0, "notify": 0}
    for line in (drills.stack.logs / "pump.log").read_text().splitlines():
        if '"batch delivered"' in line:
            batch = json.loads(line)
            counts[batch["function"]] += batch["received"]
    return counts
