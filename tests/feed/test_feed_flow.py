"""The home feed end to end: upload -> thumbnail -> media-events topic -> fan-out -> GET /feed."""

from __future__ import annotations

import time

from tests.media.test_upload_flow import _jpeg, _upload, _wait_for

WITHIN_SECONDS = 30


def _post_photo(member, caption: str) -> str:
    photo = _jpeg(400, 300)
    reserved = member.post(
        "/media/uploads",
        json={"content_type": "image/jpeg", "byte_size": len(photo), "caption": caption},
    ).json()
    assert _upload(reserved["upload"], photo, "image/jpeg").status_code in (200, 201, 204)
    media = _wait_for(member, reserved["media"]["id"], {"ready", "failed"})
    assert media["status"] == "ready", media
    return media["id"]


def _feed_ids(member, **params) -> list[str]:
    response = member.get("/feed", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_a_followers_feed_shows_a_new_post_newest_first(sign_up):
    ada, bob = sign_up(), sign_up()
    assert bob.post(f"/users/{ada.id}/follow").status_code == 200
    assert _feed_ids(bob) == []  # builds bob's feed (empty) and marks him active

    first = _post_photo(ada, "one")
    second = _post_photo(ada, "two")

    deadline = time.monotonic() + WITHIN_SECONDS
    while _feed_ids(bob) != [second, first] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _feed_ids(bob) == [second, first]
    assert _feed_ids(ada) == [second, first]
    assert _feed_ids(bob, count=1) == [second]
    assert _feed_ids(bob, max_id=second) == [first]
