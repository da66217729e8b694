"""Uploads as the drills make them: reserved through the API, the file POSTed to the
presigned URL, processed by the stack's pump; and waiting for what follows."""

from __future__ import annotations

from typing import Any

import requests

from tests.conftest import Member
from tests.drills.stackctl import DrillStack, wait_for
from tests.media.helpers import PHOTO
from tests.media.uploading import Reservation, post_original, reserve


def reserved(member: Member, **fields: Any) -> Reservation:
    """A pending media of `member` and its presigned POST."""
    return reserve(member, "image/jpeg", len(PHOTO), **fields)


def uploaded(member: Member, **fields: Any) -> int:
    """A media reserved and its file POSTed; its ID."""
    reservation = reserved(member, **fields)
    post_original(reservation, PHOTO)
    return reservation.media_id


def try_post(reservation: Reservation) -> bool:
    """POST the file as a phone does; whether S3 took it (False: unreachable or refused)."""
    try:
        answer = requests.post(
            reservation.form["url"],
            data=reservation.form["fields"],
            files={"file": ("photo", PHOTO, "image/jpeg")},
            timeout=10,
        )
    except requests.ConnectionError:
        return False
    return answer.status_code in (200, 201, 204)


def status_of(drills: DrillStack, member: Member, media_id: int) -> str:
    answer = member.get(f"/media/{media_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()["status"]


def wait_ready(
    drills: DrillStack, member: Member, media_ids: list[int], within: float = 30
) -> None:
    """Wait until each media is ready (failed fails the drill at once)."""

    def all_ready() -> bool:
        statuses = {i: status_of(drills, member, i) for i in media_ids}
        assert "failed" not in statuses.values(), statuses
        return all(status == "ready" for status in statuses.values())

    wait_for(all_ready, f"media {media_ids} to be ready", within)


def feed_page(member: Member, count: int = 50) -> dict[str, Any]:
    """GET /feed as `member` (200 or the drill fails)."""
    answer = member.get("/feed", params={"count": count})
    assert answer.status_code == 200, answer.text
    return answer.json()


def feed_ids(member: Member) -> list[int]:
    return [int(item["id"]) for item in feed_page(member)["items"]]
