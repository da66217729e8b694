"""Uploads as a phone makes them: reserve through the API, POST the file to the presigned
URL with an ordinary HTTP client, and watch the media until processing settles."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import requests

# The stack's pump long-polls every second; processing a small photo takes milliseconds.
SETTLED_WITHIN_SECONDS = 30
SETTLED = frozenset({"ready", "failed"})
RENDITION_NAMES = ("large", "medium", "small", "square")
RENDITION_FORMATS = ("jpeg", "webp")


@dataclass(frozen=True)
class Reservation:
    """A pending media and the presigned POST its original goes up with."""

    media_id: int
    media: dict[str, Any]
    form: dict[str, Any]

    @property
    def key(self) -> str:
        return self.form["fields"]["key"]

    @property
    def policy(self) -> dict[str, Any]:
        """The presigned POST's policy document, decoded."""
        return json.loads(base64.b64decode(self.form["fields"]["policy"]))


def reserve(member: Any, content_type: str, byte_size: int, **extra: Any) -> Reservation:
    """Reserve an upload through the API (201 or the test fails)."""
    answer = member.post(
        "/media/uploads",
        json={"content_type": content_type, "byte_size": byte_size, **extra},
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return Reservation(int(body["media"]["id"]), body["media"], body["upload"])


def post_original(
    reservation: Reservation, data: bytes, *, fields: dict[str, str] | None = None
) -> requests.Response:
    """POST the file to the presigned URL: every field of the form (or `fields` over them),
    then the file, as a browser's multipart form does."""
    content_type = (fields or {}).get("Content-Type", reservation.form["fields"]["Content-Type"])
    answer = requests.post(
        reservation.form["url"],
        data={**reservation.form["fields"], **(fields or {})},
        files={"file": ("photo", data, content_type)},
        timeout=30,
    )
    assert answer.status_code in (200, 201, 204), answer.text
    return answer


def wait_until_settled(member: Any, media_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each media as its owner sees it once ready or failed (or when time is up)."""
    deadline = time.monotonic() + SETTLED_WITHIN_SECONDS
    seen: dict[int, dict[str, Any]] = {}
    waiting = list(media_ids)
    while waiting:
        for media_id in list(waiting):
            seen[media_id] = media_of(member, media_id)
            if seen[media_id]["status"] in SETTLED:
                waiting.remove(media_id)
        if waiting and time.monotonic() > deadline:
            break
        if waiting:
            time.sleep(0.1)
    return seen


def media_of(member: Any, media_id: int) -> dict[str, Any]:
    """GET /media/{id} as `member` (200 or the test fails)."""
    answer = member.get(f"/media/{media_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def media_count(member: Any) -> int:
    """The member's own media count, as their profile shows it."""
    answer = member.get("/users/me")
    assert answer.status_code == 200, answer.text
    return answer.json()["counts"]["media"]


def rendition_urls(media: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(name, format) -> URL of every rendition the media lists."""
    return {
        (name, fmt): rendition[fmt]
        for name, rendition in (media["renditions"] or {}).items()
        for fmt in RENDITION_FORMATS
        if rendition.get(fmt)
    }


def download(url: str) -> requests.Response:
    """GET a served file (200 or the test fails)."""
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200, f"{url}: {answer.status_code} {answer.text[:200]}"
    return answer
