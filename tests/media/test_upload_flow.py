"""End to end on the local stack: reserve an upload, POST a real JPEG to the presigned
URL with an ordinary HTTP client, and the media becomes ready with its renditions."""

from __future__ import annotations

import base64
import io
import json
import time

import requests
from PIL import Image

from chalicelib.media.keys import PENDING_TAGGING

READY_WITHIN_SECONDS = 30


def _jpeg(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height), (200, 80, 40))
    for x in range(0, width, 7):
        image.putpixel((x, height // 2), (0, 0, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _wait_for(member, media_id: str, wanted: set[str]) -> dict:
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    while True:
        media = member.get(f"/media/{media_id}").json()
        if media["status"] in wanted or time.monotonic() > deadline:
            return media
        time.sleep(0.2)


def _upload(form: dict, data: bytes, content_type: str) -> requests.Response:
    return requests.post(
        form["url"],
        data=form["fields"],
        files={"file": ("photo", data, content_type)},
        timeout=30,
    )


def test_a_jpeg_posted_to_the_presigned_url_becomes_ready_with_its_renditions(sign_up):
    # GIVEN a signed-up user who asks to upload a 1600x1200 JPEG
    ada = sign_up()
    photo = _jpeg(1600, 1200)
    reserved = ada.post(
        "/media/uploads",
        json={"content_type": "image/jpeg", "byte_size": len(photo), "caption": "hi #Sunset"},
    )
    assert reserved.status_code == 201, reserved.text
    body = reserved.json()
    assert body["media"]["status"] == "pending"
    form = body["upload"]
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    conditions = policy["conditions"]
    assert {"Content-Type": "image/jpeg"} in conditions
    assert ["content-length-range", 1, 20 * 1024 * 1024] in conditions
    assert {"key": f"originals/{body['media']['id']}"} in conditions
    # S3 tags the original as pending (the lifecycle expires it if never processed)
    assert {"tagging": PENDING_TAGGING} in conditions
    assert form["fields"]["tagging"] == PENDING_TAGGING

    # WHEN the phone POSTs the file to S3
    assert _upload(form, photo, "image/jpeg").status_code in (200, 201, 204)

    # THEN within seconds the media is ready, with renditions of the promised sizes
    media = _wait_for(ada, body["media"]["id"], {"ready", "failed"})
    assert media["status"] == "ready", media
    assert (media["width"], media["height"]) == (1600, 1200)
    assert media["blurhash"]
    sizes = {}
    for name, rendition in media["renditions"].items():
        for fmt in ("jpeg", "webp"):
            got = requests.get(rendition[fmt], timeout=10)
            assert got.status_code == 200
            assert got.headers["Content-Type"] == f"image/{fmt}"
            with Image.open(io.BytesIO(got.content)) as image:
                assert image.format == fmt.upper()
                sizes[name] = image.size
    assert sizes == {
        "large": (1080, 810),
        "medium": (640, 480),
        "small": (320, 240),
        "square": (150, 150),
    }
