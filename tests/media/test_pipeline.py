"""End to end on the local stack: the API reserves, `requests` POSTs the file to the
presigned URL, moto stores it and notifies the uploads queue, the stack's pump hands the
notification to the thumbnail handler, and the API serves what came out.

Every photo of this module is posted at once (the `pipeline` fixture) and processed by
the pump while the module waits once; each test then looks at its own photo.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

import pytest
import requests
from botocore.exceptions import ClientError
from PIL import ExifTags, Image

from chalicelib.media.keys import PENDING_TAGGING
from tests.media import images
from tests.media.media_events import MediaEvents, subscribed
from tests.media.uploading import (
    Reservation,
    download,
    media_of,
    post_original,
    rendition_urls,
    reserve,
    wait_until_settled,
)

RENDITION_CACHE_CONTROL = "public, max-age=31536000, immutable"
ORIENTATIONS = range(1, 9)
FORMATS = {
    "png": ("image/png", "PNG"),
    "webp": ("image/webp", "WEBP"),
    "heic": ("image/heic", "HEIF"),
}
SIZES_OF_800x600 = {
    "large": (800, 600),  # never upscaled
    "medium": (640, 480),
    "small": (320, 240),
    "square": (150, 150),
}


@dataclass(frozen=True)
class Posted:
    """A photo posted through the presigned form, and its media once processing settled."""

    owner: Any  # tests.conftest.Member
    reservation: Reservation
    media: dict[str, Any]

    @property
    def media_id(self) -> int:
        return self.reservation.media_id


@dataclass(frozen=True)
class Unposted:
    """A reservation whose file is never sent, and when it was made."""

    owner: Any  # tests.conftest.Member
    reservation: Reservation
    asked_at: datetime
    answered_at: datetime


@pytest.fixture(scope="module")
def media_events(clients, settings) -> Iterator[MediaEvents]:
    with subscribed(clients.sqs, clients.sns, settings.media_events_topic_arn) as events:
        yield events


@pytest.fixture(scope="module")
def unposted(sign_up) -> Unposted:
    owner = sign_up(prefix="idle")
    asked_at = datetime.now(UTC)
    reservation = reserve(owner, "image/webp", 123_456)
    return Unposted(owner, reservation, asked_at, datetime.now(UTC))


def _photos() -> dict[str, tuple[str, bytes, dict[str, str] | None]]:
    """name -> (reserved content type, file, form fields sent over the form's own)."""
    photos: dict[str, tuple[str, bytes, dict[str, str] | None]] = {
        f"orientation-{n}": ("image/jpeg", images.quadrants_jpeg_with_orientation(n), None)
        for n in ORIENTATIONS
    }
    photos["camera-metadata"] = ("image/jpeg", images.jpeg_with_camera_metadata(), None)
    photos["colour-profile"] = ("image/jpeg", images.jpeg_with_profile(), None)
    for name, (content_type, pillow_format) in FORMATS.items():
        photos[name] = (content_type, images.encoded(images.photo(800, 600), pillow_format), None)
    photos["not-an-image"] = ("image/jpeg", images.not_an_image(), None)
    # moto enforces no policy condition, so a client can send another Content-Type field.
    png = images.encoded(images.photo(64, 48), "PNG")
    photos["content-type-overridden"] = ("image/jpeg", png, {"Content-Type": "image/png"})
    return photos


@pytest.fixture(scope="module")
def poison(clients, settings) -> str:
    """The key of an object under originals/ that names no media: its notification is
    poison for the thumbnail handler."""
    key = f"originals/not-a-media-{uuid.uuid4().hex}"
    clients.s3.put_object(Bucket=settings.bucket, Key=key, Body=b"x", ContentType="image/jpeg")
    return key


@pytest.fixture(scope="module")
def pipeline(sign_up, unposted, poison, media_events: MediaEvents) -> dict[str, Posted]:
    """Every photo of the module, posted at once (after the poison and the unposted
    reservation), as its owner sees it once settled."""
    # Two owners: a user may have only so many uploads pending at once.
    turner, poster = sign_up(prefix="turner"), sign_up(prefix="poster")
    posted: dict[str, tuple[Any, Reservation]] = {}
    for name, (content_type, data, fields) in _photos().items():
        owner = turner if name.startswith("orientation-") else poster
        reservation = reserve(owner, content_type, len(data))
        post_original(reservation, data, fields=fields)
        posted[name] = (owner, reservation)
    settled: dict[int, dict[str, Any]] = {}
    for owner in (turner, poster):
        ids = [r.media_id for o, r in posted.values() if o is owner]
        settled.update(wait_until_settled(owner, ids))
    return {
        name: Posted(owner, reservation, settled[reservation.media_id])
        for name, (owner, reservation) in posted.items()
    }


def _renditions(posted: Posted) -> dict[tuple[str, str], Image.Image]:
    """Every rendition of a ready media, downloaded from the URLs its media lists."""
    assert posted.media["status"] == "ready", posted.media
    urls = rendition_urls(posted.media)
    assert len(urls) == 8, urls
    return {where: Image.open(io.BytesIO(download(url).content)) for where, url in urls.items()}


# --- orientation, metadata, colour ------------------------------------------------------


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_a_jpeg_with_exif_orientation_is_served_upright(orientation, pipeline):
    posted = pipeline[f"orientation-{orientation}"]

    assert (posted.media["width"], posted.media["height"]) == images.UPRIGHT_SIZE
    upright = images.quadrant_colours(images.quadrants())
    for (name, fmt), rendition in _renditions(posted).items():
        seen = images.quadrant_colours(rendition)
        assert images.near(seen, upright), f"{name}.{fmt}: {seen} is not {upright}"
        if name == "large":
            assert rendition.size == images.UPRIGHT_SIZE, f"{name}.{fmt}"


def test_no_rendition_carries_exif_gps_xmp_or_comments(pipeline):
    # GIVEN a photo that came with a camera make, a GPS position, XMP and a comment
    with Image.open(io.BytesIO(images.jpeg_with_camera_metadata())) as original:
        exif = original.getexif()
        assert exif[ExifTags.Base.Make] == images.CAMERA_MAKE
        assert dict(exif.get_ifd(ExifTags.IFD.GPSInfo)) == images.GPS_POSITION
        assert images.XMP_MARKER in original.info["xmp"]
        assert original.info["comment"] == images.COMMENT_MARKER
    posted = pipeline["camera-metadata"]

    # THEN none of it is in any rendition
    urls = rendition_urls(posted.media)
    assert len(urls) == 8

    for where, url in urls.items():
        data = download(url).content
        with Image.open(io.BytesIO(data)) as rendition:
            assert not rendition.getexif(), where
            assert not {"exif", "xmp", "comment"} & set(rendition.info), where
        for marker in (b"Exif\x00\x00", images.CAMERA_MAKE.encode(), images.XMP_MARKER):
            assert marker not in data, (where, marker)
        assert images.COMMENT_MARKER not in data, where


def test_a_photo_with_a_colour_profile_keeps_it_in_every_rendition(pipeline):
    for where, rendition in _renditions(pipeline["colour-profile"]).items():
        assert rendition.info.get("icc_profile") == images.RGB_PROFILE, where


# --- formats ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FORMATS))
def test_an_upload_of_an_allowed_format_becomes_ready_with_jpeg_and_webp_renditions(name, pipeline):
    posted = pipeline[name]

    assert (posted.media["width"], posted.media["height"]) == (800, 600)
    for (rendition_name, fmt), rendition in _renditions(posted).items():
        assert rendition.format == fmt.upper(), (rendition_name, fmt)
        assert rendition.size == SIZES_OF_800x600[rendition_name], (rendition_name, fmt)


def test_a_ready_upload_is_announced_once_for_fan_out(pipeline, media_events):
    posted = pipeline["png"]

    events = media_events.of(posted.media_id)

    assert [(e["type"], e["owner_id"]) for e in events] == [("media.ready", posted.owner.id)]


# --- what is served ---------------------------------------------------------------------


def test_renditions_are_served_with_their_type_and_a_year_of_immutable_caching(pipeline):
    for (name, fmt), url in rendition_urls(pipeline["webp"].media).items():
        served = download(url)
        assert served.headers["Content-Type"] == f"image/{fmt}", name
        assert served.headers["Cache-Control"] == RENDITION_CACHE_CONTROL, name


def test_the_original_is_kept_but_never_served(pipeline, clients, settings):
    posted = pipeline["heic"]
    # GIVEN a ready media whose original is still in the bucket
    clients.s3.head_object(Bucket=settings.bucket, Key=posted.reservation.key)

    # WHEN anyone asks the CDN for it, THEN there is nothing there
    answer = requests.get(f"{settings.public_media_base_url}{posted.reservation.key}", timeout=10)
    assert answer.status_code == 404


# --- refusals ---------------------------------------------------------------------------


def test_a_posted_file_that_is_not_an_image_fails_with_a_reason_its_owner_reads(pipeline):
    media = pipeline["not-an-image"].media

    assert (media["status"], media["failure_reason"]) == (
        "failed",
        "not an image of the declared type",
    )


def test_a_post_with_another_content_type_than_reserved_fails(pipeline):
    media = pipeline["content-type-overridden"].media

    assert (media["status"], media["failure_reason"]) == (
        "failed",
        "the file was uploaded as 'image/png', not 'image/jpeg'",
    )


def test_a_failed_upload_is_hidden_from_others(pipeline, sign_up):
    stranger = sign_up(prefix="other")

    answer = stranger.get(f"/media/{pipeline['not-an-image'].media_id}")

    assert answer.status_code == 404


def test_an_upload_never_posted_stays_pending(pipeline, unposted, clients, settings):
    # GIVEN every photo posted after this reservation has been processed
    assert all(p.media["status"] in ("ready", "failed") for p in pipeline.values())

    # THEN the one never posted waits, with no original in the bucket
    assert media_of(unposted.owner, unposted.reservation.media_id)["status"] == "pending"
    with pytest.raises(ClientError):
        clients.s3.head_object(Bucket=settings.bucket, Key=unposted.reservation.key)


# --- the presigned POST -----------------------------------------------------------------


def test_the_upload_policy_binds_the_exact_key(unposted):
    reservation = unposted.reservation
    key = f"originals/{reservation.media_id}"

    assert reservation.key == key
    assert {"key": key} in reservation.policy["conditions"]


def test_the_upload_policy_binds_the_exact_content_type(unposted):
    reservation = unposted.reservation

    assert reservation.form["fields"]["Content-Type"] == "image/webp"
    assert {"Content-Type": "image/webp"} in reservation.policy["conditions"]


def test_the_upload_policy_allows_one_byte_up_to_the_upload_limit(unposted, settings):
    limit = settings.limits.max_upload_bytes

    assert ["content-length-range", 1, limit] in unposted.reservation.policy["conditions"]
    assert unposted.reservation.form["max_bytes"] == limit


def test_the_upload_policy_has_no_other_condition(unposted, settings):
    conditions = unposted.reservation.policy["conditions"]

    # no `starts-with` anywhere: nothing but these exact values is allowed
    assert sorted(map(str, conditions)) == sorted(
        map(
            str,
            [
                {"Content-Type": "image/webp"},
                ["content-length-range", 1, settings.limits.max_upload_bytes],
                {"bucket": settings.bucket},
                {"key": unposted.reservation.key},
                # S3 tags the original pending until processed (the bucket's lifecycle)
                {"tagging": PENDING_TAGGING},
            ],
        )
    )


def test_the_upload_policy_expires_within_the_upload_url_lifetime(unposted, settings):
    lifetime = timedelta(seconds=settings.limits.upload_url_seconds)
    expiration = datetime.fromisoformat(unposted.reservation.policy["expiration"])
    expires_at = datetime.fromisoformat(unposted.reservation.form["expires_at"])

    # The policy's expiration is whole seconds.
    assert unposted.asked_at + lifetime - timedelta(seconds=1) <= expiration
    assert expiration <= unposted.answered_at + lifetime
    assert abs(expires_at - expiration) < timedelta(seconds=1)


# --- poison -----------------------------------------------------------------------------


def _dead_letters(sqs: Any, dlq_url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(
        QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=0
    ).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def _keys_in(notification: dict[str, Any]) -> list[str]:
    return [unquote_plus(r["s3"]["object"]["key"]) for r in notification.get("Records", [])]


def test_a_poison_notification_is_dead_lettered_after_bounded_retries(
    poison, pipeline, clients, settings
):
    # GIVEN a notification the handler refuses, delivered in batches with good ones
    deadline = time.monotonic() + 30

    # WHEN the pump has retried it its queue's maxReceiveCount times
    # THEN it lands in the uploads dead-letter queue, and the good ones were processed
    dead: list[str] = []
    while poison not in dead and time.monotonic() < deadline:
        dead += [
            key
            for body in _dead_letters(clients.sqs, settings.uploads_dlq_url)
            for key in _keys_in(body)
        ]
    assert poison in dead
    assert pipeline["png"].media["status"] == "ready"
