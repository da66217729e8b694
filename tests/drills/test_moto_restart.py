"""Drill: the local AWS (moto) restarts while uploads are in flight.

What "nothing lost" means here. In AWS an S3, SQS or DynamoDB outage makes the service
unreachable for a while and keeps its data; moto, restarted, comes back empty: every
object, message, table item and resource is gone. So the drill re-provisions what a
stack's start provisions (devstack/provision.py, and the shard map by `photofeed db
migrate`), and holds the service to what the truth can promise:

- PostgreSQL is the truth. Every upload reserved there before or during the outage ends
  `ready` with all eight renditions served, none stays `pending`, none `failed`, and no
  dead letter is left, once the client has followed the upload protocol: a POST that
  fails is sent again, and after an outage every upload still pending is POSTed again
  with its presigned form (valid for 10 minutes; processing is idempotent, so a file
  whose first notification did survive is not processed twice).
- The uploads in flight here are the worst case: their files were in S3 and their
  notifications waiting in SQS (the pump, Lambda's poller, had not taken them yet) when
  moto died, so both are lost, and two more POSTs failed while it was down.
- What moto's restart loses that AWS never would (sessions and name claims in DynamoDB,
  renditions of media finished earlier) is out of the drill: the owner's session is
  still served from its Redis cache, and a member who signs up after the restart is
  served in full.

The API process is never restarted: its clients reconnect by themselves.
"""

from __future__ import annotations

import time

from tests.drills.stackctl import DrillStack, wait_for
from tests.drills.uploads import reserved, status_of, try_post, uploaded, wait_ready
from tests.media.uploading import download, media_of, rendition_urls

RENDITIONS = 8  # 4 sizes, JPEG and WebP


def test_uploads_in_flight_when_moto_restarts_all_end_ready_once_retried(drills: DrillStack):
    # GIVEN four uploads reserved (pending in PostgreSQL)
    owner = drills.members(1)[0]
    uploads = [reserved(owner) for _ in range(4)]

    # WHEN two files reach S3 and wait to be processed, moto dies, two POSTs fail
    # meanwhile, and moto comes back (empty, re-provisioned)
    with drills.pump_stopped():
        assert [try_post(u) for u in uploads[:2]] == [True, True]
        drills.kill_moto()
        down_at = time.monotonic()
        assert [try_post(u) for u in uploads[2:]] == [False, False]
        drills.start_moto()
    wait_for(drills.healthy, "/health to be green again", within=30)
    print(f"moto down and back in {time.monotonic() - down_at:.1f} s")

    # THEN the client re-POSTs every upload still pending, and each ends ready
    ids = [u.media_id for u in uploads]
    pending = [u for u in uploads if status_of(drills, owner, u.media_id) == "pending"]
    assert len(pending) == 4  # all four were lost with moto: the worst case
    assert all(try_post(u) for u in pending)
    wait_ready(drills, owner, ids)

    # with every rendition served, and nothing left in any queue
    for media_id in ids:
        urls = rendition_urls(media_of(owner, media_id))
        assert len(urls) == RENDITIONS
        for url in urls.values():
            download(url)
    wait_for(drills.queues_drained, "the queues to drain")
    assert set(drills.dead_letters().values()) == {0}  # no queue dead-lettered anything

    # AND the service as a whole resumed: a new member signs up and uploads
    newcomer = drills.members(1)[0]
    wait_ready(drills, newcomer, [uploaded(newcomer)])
