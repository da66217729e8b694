"""Drill: a poison message lands in the dead-letter queue, and an operator replays it
with `photofeed dlq replay` once the cause is fixed.

The poison: an upload whose media lives on a database that is down. Its S3 notification
fails in the thumbnail handler three times and is dead-lettered (the media stays
pending, nothing is lost). The fix: the database is back. The operator lists the dead
letters, reads them, replays them, and the media becomes ready, from the real queues
(moto's SQS): listed and read through the ops Lambda's handler (as in AWS), replayed
with the `photofeed` command line (as from a shell).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from unittest import mock

from devstack.pump import LambdaContext
from devstack.services import ROOT
from functions.ops import handler as ops
from tests.drills.stackctl import DrillStack, wait_for
from tests.drills.uploads import reserved, status_of, try_post, wait_ready


def test_a_dead_lettered_upload_is_replayed_by_the_operator_after_the_fix(
    drills: DrillStack,
):
    # GIVEN an upload reserved by a member whose shard is on db1
    owner = drills.member_on("db1")
    reservation = reserved(owner)

    # WHEN its file arrives while db1 is down: processing fails until dead-lettered
    with drills.database_down("db1"):
        assert try_post(reservation)
        wait_for(
            lambda: drills.dead_letters()["uploads"] == 1, "the upload's dead letter", within=30
        )

    # THEN it waits there, the media pending; the operator sees it and reads it
    assert status_of(drills, owner, reservation.media_id) == "pending"
    listed = _ops_lambda(drills, "dlq", "list")
    assert "uploads: 1 dead letters" in listed
    assert "fanout: 0 dead letters" in listed
    shown = _ops_lambda(drills, "dlq", "show", "uploads")
    assert f"originals%2F{reservation.media_id}" in shown  # the S3 notification's key
    assert drills.dead_letters()["uploads"] == 1  # showing leaves it where it was

    # WHEN, the cause fixed (db1 is back), the operator replays the queue
    replayed = _photofeed(drills, "dlq", "replay", "uploads")

    # THEN the letter went back, was processed, and the media is ready
    assert "1 dead letters moved back to uploads" in replayed
    wait_ready(drills, owner, [reservation.media_id])
    assert drills.dead_letters()["uploads"] == 0
    assert "0 dead letters moved back" in _ops_lambda(drills, "dlq", "replay", "uploads")


def test_dlq_commands_refuse_an_unknown_queue(drills):
    with mock.patch.dict(os.environ, drills.env):
        answer = ops.run(["dlq", "replay", "nonesuch"])
    assert answer["exit_status"] == 2
    assert "nonesuch" in answer["output"]


def _ops_lambda(drills: DrillStack, *args: str) -> str:
    """The command's output through the ops Lambda's handler, with the drill stack's
    settings (exit status 0 or the drill fails)."""
    context = LambdaContext("ops", aws_request_id=str(uuid.uuid4()))
    with mock.patch.dict(os.environ, drills.env):
        answer = ops.lambda_handler({"command": list(args)}, context)
    assert answer["exit_status"] == 0, answer["output"]
    return answer["output"]


def _photofeed(drills: DrillStack, *args: str) -> str:
    """`photofeed` (this checkout's) in a shell, with the drill stack's settings."""
    answer = subprocess.run(
        [sys.executable, "-m", "chalicelib.ops.cli", *args],
        env={**os.environ, **drills.env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    return answer.stdout
