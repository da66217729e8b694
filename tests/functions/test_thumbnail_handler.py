"""The thumbnail Lambda, called directly with SQS events of S3 notifications.

The media are reserved through the API and their originals are real objects in the
stack's bucket; only the SQS events are built here. While this module runs the bucket
notifies nothing (see `_bucket_notifies_nothing`), so the stack's own pump never
processes these originals behind the tests' backs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from PIL import Image

from chalicelib.media import records
from chalicelib.media.keys import PENDING_TAG, InvalidUploadKey, original_key
from chalicelib.media.originals import Outcome
from chalicelib.media.uploads import MalformedNotification, uploaded_objects
from chalicelib.shards.ids import encode
from devstack.pump import LambdaContext
from functions.thumbnail import handler as thumbnail
from tests.functions.s3_events import new_sequencer, object_created, s3_test_event
from tests.functions.sqs import sqs_event, sqs_record
from tests.media import images
from tests.media.media_events import MediaEvents, subscribed
from tests.media.uploading import media_count, media_of, reserve

QUEUE = "photofeed-local-uploads"
NO_FAILURES = {"batchItemFailures": []}
RENDITION_CACHE_CONTROL = "public, max-age=31536000, immutable"
RENDITION_KEYS = sorted(
    f"{name}.{ext}" for name in ("large", "medium", "small", "square") for ext in ("jpg", "webp")
)
EXPECTED_SIZES = {  # of a 1200x900 original
    "large": (1080, 810),
    "medium": (640, 480),
    "small": (320, 240),
    "square": (150, 150),
}
CONTENT_TYPES = {"jpg": "image/jpeg", "webp": "image/webp"}


@dataclasses.dataclass(frozen=True)
class Original:
    """An original in the bucket and the notification S3 sends for it."""

    media_id: int
    key: str
    notification: str
    sequencer: str


# --- the stack ---------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _bucket_notifies_nothing(clients, settings) -> Iterator[None]:
    """The stack's pump processes whatever the bucket notifies; here the handler is
    driven by hand, so the bucket's notifications are off while this module runs."""
    s3 = clients.s3
    saved = s3.get_bucket_notification_configuration(Bucket=settings.bucket)
    saved.pop("ResponseMetadata", None)
    s3.put_bucket_notification_configuration(Bucket=settings.bucket, NotificationConfiguration={})
    try:
        yield
    finally:
        s3.put_bucket_notification_configuration(
            Bucket=settings.bucket, NotificationConfiguration=saved
        )


@pytest.fixture(scope="module")
def owner(sign_up):
    return sign_up(prefix="thumb")


@pytest.fixture(scope="module")
def stranger(sign_up):
    return sign_up(prefix="other")


@pytest.fixture(scope="module")
def media_events(clients, settings) -> Iterator[MediaEvents]:
    with subscribed(clients.sqs, clients.sns, settings.media_events_topic_arn) as events:
        yield events


@pytest.fixture(autouse=True)
def _capture_handler_logs(caplog) -> None:
    caplog.set_level(logging.INFO, logger=thumbnail.SERVICE)


@pytest.fixture
def s3_puts() -> Iterator[list[str]]:
    """The keys the handler's own S3 client writes while the test runs."""
    puts: list[str] = []
    events = thumbnail.clients.s3.meta.events
    unique_id = f"test-puts-{uuid.uuid4().hex}"

    def record(params: dict[str, Any], **_: Any) -> None:
        puts.append(params["Key"])

    events.register("before-parameter-build.s3.PutObject", record, unique_id=unique_id)
    try:
        yield puts
    finally:
        events.unregister("before-parameter-build.s3.PutObject", unique_id=unique_id)


@pytest.fixture
def upload(owner, clients, settings) -> Callable[..., Original]:
    """Reserve a media through the API and put its original in the bucket, as S3 stores
    a POSTed file: `upload(data, declared=..., stored=...)`."""

    def make(
        data: bytes,
        *,
        declared: str = "image/jpeg",
        stored: str | None = None,
        reserved_size: int | None = None,
    ) -> Original:
        limit = settings.limits.max_upload_bytes
        reservation = reserve(owner, declared, reserved_size or min(max(len(data), 1), limit))
        return put_original(
            clients, settings, reservation.media_id, data, content_type=stored or declared
        )

    return make


def put_original(
    clients, settings, media_id: int, data: bytes, *, content_type: str = "image/jpeg"
) -> Original:
    key = original_key(media_id)
    # Tagged as S3 tags a POST of our form (moto leaves the form's tagging field out).
    clients.s3.put_object(
        Bucket=settings.bucket,
        Key=key,
        Body=data,
        ContentType=content_type,
        Tagging=urlencode([PENDING_TAG]),
    )
    sequencer = new_sequencer()
    notification = object_created(settings.bucket, key, size=len(data), sequencer=sequencer)
    return Original(media_id, key, notification, sequencer)


# --- calling the handler ----------------------------------------------------------------


def _record(body: str) -> dict[str, Any]:
    return sqs_record(body, queue=QUEUE)


def _handle(*records_: dict[str, Any]) -> dict[str, Any]:
    context = LambdaContext("thumbnail", aws_request_id=str(uuid.uuid4()))
    return thumbnail.lambda_handler(sqs_event(*records_), context)


def _deliver(*originals: Original) -> dict[str, Any]:
    """Hand the handler one batch holding each original's notification."""
    return _handle(*(_record(o.notification) for o in originals))


def _outcomes(caplog) -> list[tuple[str, str]]:
    """(key, outcome) of every original the handler logged as processed, in order."""
    return [
        (r.key, r.outcome)
        for r in caplog.records
        if r.name == thumbnail.SERVICE and r.getMessage() == "original processed"
    ]


# --- looking at the stack ---------------------------------------------------------------


def _row(clients, media_id: int) -> records.Media:
    found = clients.router.run_for_id(media_id, lambda c, s: records.load(c, s, media_id))
    assert found is not None
    return found[0]


def _exists(clients, settings, key: str) -> bool:
    listed = clients.s3.list_objects_v2(Bucket=settings.bucket, Prefix=key)
    return any(item["Key"] == key for item in listed.get("Contents", []))


def _rendition_files(clients, settings, media_id: int) -> list[str]:
    """The file names stored under the media's renditions prefix (after its random token)."""
    prefix = f"renditions/{media_id}/"
    listed = clients.s3.list_objects_v2(Bucket=settings.bucket, Prefix=prefix)
    return sorted(
        item["Key"][len(prefix) :].split("/", 1)[1] for item in listed.get("Contents", [])
    )


def _rendition_key(clients, media_id: int, file_name: str) -> str:
    """A rendition's key, with the random token its media row records."""
    token = _row(clients, media_id).renditions["token"]
    return f"renditions/{media_id}/{token}/{file_name}"


def _idempotency_items(clients, settings) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in clients.dynamodb.get_paginator("scan").paginate(
        TableName=settings.idempotency_table
    ):
        items.extend(page["Items"])
    return items


def _idempotency_record(clients, settings, original: Original) -> dict[str, Any] | None:
    """The handler's idempotency record of the S3 event: Powertools keys it on
    `{function}#{md5 of the JSON of [bucket, key, sequencer, etag]}`."""
    etag = json.loads(original.notification)["Records"][0]["s3"]["object"]["eTag"]
    selected = json.dumps([settings.bucket, original.key, original.sequencer, etag], sort_keys=True)
    digest = hashlib.md5(selected.encode(), usedforsecurity=False).hexdigest()
    found = [
        item
        for item in _idempotency_items(clients, settings)
        if item["id"]["S"].endswith(f"#{digest}")
    ]
    assert len(found) <= 1, found
    return found[0] if found else None


def _unknown_media_id(settings) -> int:
    """An ID on one of the deployment's shards that no media was ever given."""
    shard = random.randrange(settings.logical_shards)
    return encode(int(time.time() * 1000) - 3_600_000, shard, random.randrange(1024))


# --- a valid photo ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Processed:
    original: Original
    answer: dict[str, Any]
    count_before: int


@pytest.fixture(scope="module")
def processed(owner, clients, settings, media_events) -> Processed:
    """A 1200x900 JPEG reserved by `owner`, handed to the handler once."""
    reservation = reserve(owner, "image/jpeg", 200_000)
    count_before = media_count(owner)
    original = put_original(clients, settings, reservation.media_id, images.jpeg(1200, 900))
    return Processed(original, _deliver(original), count_before)


def test_a_reserved_jpeg_becomes_ready_without_batch_failures(processed, owner):
    assert processed.answer == NO_FAILURES
    assert media_of(owner, processed.original.media_id)["status"] == "ready"


def test_a_ready_media_has_eight_renditions_under_its_renditions_prefix(
    processed, clients, settings
):
    assert _rendition_files(clients, settings, processed.original.media_id) == RENDITION_KEYS


def test_every_rendition_is_stored_with_its_content_type_and_a_year_of_immutable_caching(
    processed, clients, settings
):
    for name in RENDITION_KEYS:
        head = clients.s3.head_object(
            Bucket=settings.bucket,
            Key=_rendition_key(clients, processed.original.media_id, name),
        )
        assert head["ContentType"] == CONTENT_TYPES[name.rsplit(".", 1)[1]], name
        assert head["CacheControl"] == RENDITION_CACHE_CONTROL, name


def test_every_rendition_is_an_image_of_its_format_and_promised_size(processed, clients, settings):
    for name in RENDITION_KEYS:
        stem, ext = name.rsplit(".", 1)
        body = clients.s3.get_object(
            Bucket=settings.bucket,
            Key=_rendition_key(clients, processed.original.media_id, name),
        )["Body"].read()
        with Image.open(io.BytesIO(body)) as image:
            assert image.format == {"jpg": "JPEG", "webp": "WEBP"}[ext], name
            assert image.size == EXPECTED_SIZES[stem], name


def test_the_media_row_records_size_blurhash_renditions_and_when_it_became_ready(
    processed, clients
):
    row = _row(clients, processed.original.media_id)

    assert row.status == records.READY
    assert (row.width, row.height) == (1200, 900)
    assert re.fullmatch(r"[0-9A-Za-z#$%*+,\-.:;=?@\[\]^_{|}~]{28}", row.blurhash or "")
    assert len(row.renditions["token"]) >= 22  # 128 random bits: paths cannot be guessed
    assert row.renditions == {
        "token": row.renditions["token"],
        "sizes": {
            name: {"width": w, "height": h, "formats": ["jpeg", "webp"]}
            for name, (w, h) in EXPECTED_SIZES.items()
        },
    }
    assert row.ready_at is not None
    assert row.created_at <= row.ready_at <= row.created_at + timedelta(minutes=1)


def test_the_owner_reads_the_ready_media_with_rendition_urls(processed, owner, settings, clients):
    media = media_of(owner, processed.original.media_id)
    token = _row(clients, processed.original.media_id).renditions["token"]

    assert (media["width"], media["height"]) == (1200, 900)
    assert media["blurhash"]
    assert media["failure_reason"] is None
    base = f"{settings.public_media_base_url}renditions/{processed.original.media_id}/{token}/"
    assert media["renditions"] == {
        name: {"width": w, "height": h, "jpeg": f"{base}{name}.jpg", "webp": f"{base}{name}.webp"}
        for name, (w, h) in EXPECTED_SIZES.items()
    }


def _emitted_metrics(output: str) -> dict[str, Any]:
    """The EMF metrics (name -> values) printed in `output`."""
    found: dict[str, Any] = {}
    for line in output.splitlines():
        if '"_aws"' in line:
            entry = json.loads(line)
            for directive in entry["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = entry[metric["Name"]]
                    found[metric["Name"]] = value if isinstance(value, list) else [value]
    return found


def test_a_ready_media_measures_the_seconds_from_its_upload(sign_up, clients, settings, capsys):
    # GIVEN an original S3 says was created at a known time
    reservation = reserve(sign_up(), "image/jpeg", 100_000)
    original = put_original(clients, settings, reservation.media_id, images.jpeg(400, 300))
    created = json.loads(original.notification)["Records"][0]["eventTime"]
    capsys.readouterr()

    # WHEN the handler makes it ready
    assert _deliver(original) == NO_FAILURES

    # THEN the upload-to-ready lag is the time since then (the dashboard's and the alarm's)
    metrics = _emitted_metrics(capsys.readouterr().out)
    expected = thumbnail.seconds_since(created)
    assert metrics["OriginalsReady"] == [1]
    (lag,) = metrics["UploadToReadyLag"]
    assert 0 <= expected - lag < 60


@pytest.mark.parametrize("event_time", ["", "yesterday", "2024-05-01T12:00:00"])
def test_an_event_time_that_is_not_an_instant_measures_nothing(event_time):
    assert thumbnail.seconds_since(event_time) is None


def test_a_ready_medias_original_is_kept_no_longer_tagged_as_an_abandoned_upload(
    processed, clients, settings
):
    tags = clients.s3.get_object_tagging(Bucket=settings.bucket, Key=processed.original.key)

    assert tags["TagSet"] == []


def test_an_original_waiting_for_processing_is_tagged_for_the_lifecycle(owner, clients, settings):
    reservation = reserve(owner, "image/jpeg", 1000)
    original = put_original(clients, settings, reservation.media_id, images.jpeg(20, 20))

    tags = clients.s3.get_object_tagging(Bucket=settings.bucket, Key=original.key)

    key, value = PENDING_TAG
    assert tags["TagSet"] == [{"Key": key, "Value": value}]


def test_others_see_a_ready_media(processed, stranger):
    assert media_of(stranger, processed.original.media_id)["status"] == "ready"


def test_a_ready_media_counts_once_for_its_owner(processed, owner):
    assert media_count(owner) == processed.count_before + 1


def test_a_ready_media_is_announced_on_the_media_events_topic(processed, media_events, clients):
    row = _row(clients, processed.original.media_id)

    events = media_events.of(processed.original.media_id)

    assert len(events) == 1
    (event,) = events
    assert event["type"] == "media.ready"
    assert event["owner_id"] == row.owner_id
    assert datetime.fromisoformat(event["uploaded_at"]) == row.created_at
    assert datetime.fromisoformat(event["ready_at"]) == row.ready_at


# --- delivered more than once -----------------------------------------------------------


def test_a_notification_delivered_twice_in_one_batch_is_processed_once(
    upload, owner, media_events, s3_puts
):
    # GIVEN a valid original whose notification SQS delivers twice, in one batch
    original = upload(images.jpeg(640, 480))
    count_before = media_count(owner)

    # WHEN the handler takes the batch
    answer = _handle(_record(original.notification), _record(original.notification))

    # THEN both records succeed, but the renditions are written, the media counted and
    # the event published once
    assert answer == NO_FAILURES
    assert len(s3_puts) == 8
    assert len(set(s3_puts)) == 8
    assert media_count(owner) == count_before + 1
    assert len(media_events.of(original.media_id)) == 1


def test_a_notification_redelivered_later_is_processed_once(
    upload, owner, clients, media_events, s3_puts, caplog
):
    # GIVEN a valid original, processed
    original = upload(images.jpeg(640, 480))
    count_before = media_count(owner)
    assert _deliver(original) == NO_FAILURES
    puts_before, row_before = len(s3_puts), _row(clients, original.media_id)

    # WHEN its notification comes again in a later invocation
    answer = _deliver(original)

    # THEN nothing is done again: the stored answer of the first time is returned
    assert answer == NO_FAILURES
    assert puts_before == 8
    assert len(s3_puts) == 8
    assert media_count(owner) == count_before + 1
    assert len(media_events.of(original.media_id)) == 1
    assert _row(clients, original.media_id) == row_before
    assert _outcomes(caplog) == [(original.key, "ready"), (original.key, "ready")]


def test_processing_leaves_an_idempotency_record_for_the_s3_event(upload, clients, settings):
    original = upload(images.jpeg(320, 240))

    assert _deliver(original) == NO_FAILURES

    record = _idempotency_record(clients, settings, original)
    assert record is not None
    assert record["id"]["S"].split("#")[0].endswith("functions.thumbnail.handler.process")
    assert record["status"]["S"] == "COMPLETED"
    assert json.loads(record["data"]["S"]) == Outcome.READY.value
    expires_in = int(record["expiration"]["N"]) - time.time()
    assert thumbnail.IDEMPOTENCY_SECONDS - 60 < expires_in <= thumbnail.IDEMPOTENCY_SECONDS


def test_a_new_s3_event_for_the_same_key_is_a_new_idempotency_record(upload, clients, settings):
    # GIVEN an original processed, and the same key notified again with a later sequencer
    # (a second POST with the same form)
    first = upload(images.jpeg(320, 240))
    assert _deliver(first) == NO_FAILURES
    second_sequencer = new_sequencer()
    second = dataclasses.replace(
        first,
        sequencer=second_sequencer,
        notification=object_created(
            settings.bucket, first.key, size=100, sequencer=second_sequencer
        ),
    )

    # WHEN the second event is handled
    assert _deliver(second) == NO_FAILURES

    # THEN each event has its own record
    assert _idempotency_record(clients, settings, first) is not None
    assert _idempotency_record(clients, settings, second) is not None


def test_a_ready_media_redelivered_after_its_idempotency_record_was_deleted_is_announced_again(
    upload, owner, clients, settings, media_events, s3_puts, caplog
):
    # GIVEN a ready media whose idempotency record is gone (expired and removed by TTL)
    original = upload(images.jpeg(640, 480))
    assert _deliver(original) == NO_FAILURES
    before = _row(clients, original.media_id)
    count_before = media_count(owner)
    record = _idempotency_record(clients, settings, original)
    assert record is not None
    clients.dynamodb.delete_item(TableName=settings.idempotency_table, Key={"id": record["id"]})

    # WHEN its notification is redelivered
    answer = _deliver(original)

    # THEN it is done before: announced again (fan-out is idempotent), nothing else changes
    assert answer == NO_FAILURES
    assert _outcomes(caplog)[-1] == (original.key, "done_before")
    assert len(media_events.of(original.media_id)) == 2
    assert len(s3_puts) == 8
    assert media_count(owner) == count_before
    assert _row(clients, original.media_id) == before


def test_an_idempotency_record_past_its_expiry_is_not_honoured(upload, clients, settings, caplog):
    # GIVEN a ready media whose idempotency record expired but is still in the table
    # (DynamoDB's TTL removes items up to days late)
    original = upload(images.jpeg(320, 240))
    assert _deliver(original) == NO_FAILURES
    record = _idempotency_record(clients, settings, original)
    assert record is not None
    clients.dynamodb.update_item(
        TableName=settings.idempotency_table,
        Key={"id": record["id"]},
        UpdateExpression="SET expiration = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 60)}},
    )

    # WHEN its notification is redelivered
    assert _deliver(original) == NO_FAILURES

    # THEN the original is looked at again (and found done), not answered from the record
    assert _outcomes(caplog) == [(original.key, "ready"), (original.key, "done_before")]


# --- bad images -------------------------------------------------------------------------

BAD_IMAGES = {
    "random-bytes-declared-jpeg": (images.not_an_image, "image/jpeg"),
    "png-declared-jpeg": (lambda: images.encoded(images.photo(64, 48), "PNG"), "image/jpeg"),
    "truncated-jpeg": (images.truncated_jpeg, "image/jpeg"),
    "png-header-claiming-20000x20000": (
        lambda: images.png_header_claiming(20000, 20000),
        "image/png",
    ),
    "png-header-claiming-8000x8000": (lambda: images.png_header_claiming(8000, 8000), "image/png"),
}
# {limit}: the pixel limit in megapixels (settings.limits.max_image_pixels).
REASONS = {
    "random-bytes-declared-jpeg": r"not an image of the declared type",
    "png-declared-jpeg": r"not an image of the declared type",
    "truncated-jpeg": r"the file is corrupt or truncated",
    "png-header-claiming-20000x20000": (
        r"the image is too large: more than \d+ megapixels, at most {limit}"
    ),
    "png-header-claiming-8000x8000": r"the image is too large: 64 megapixels, at most {limit}",
}


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_a_bad_image_fails_its_media_with_a_reason_its_owner_reads(
    case, upload, owner, settings, caplog
):
    make, declared = BAD_IMAGES[case]
    reason = REASONS[case].format(limit=f"{settings.limits.max_image_pixels / 1e6:.3g}")
    original = upload(make(), declared=declared)

    answer = _deliver(original)

    # THEN it is not retried (no batch failure), and its owner reads why it failed
    assert answer == NO_FAILURES
    assert _outcomes(caplog) == [(original.key, "failed")]
    media = media_of(owner, original.media_id)
    assert media["status"] == "failed"
    assert re.fullmatch(reason, media["failure_reason"]), media["failure_reason"]
    assert media["renditions"] is None


def test_a_refused_original_is_deleted(upload, clients, settings):
    original = upload(images.not_an_image())

    assert _deliver(original) == NO_FAILURES

    assert not _exists(clients, settings, original.key)


def test_a_failed_media_is_hidden_from_others(upload, stranger):
    original = upload(images.truncated_jpeg())

    assert _deliver(original) == NO_FAILURES

    assert stranger.get(f"/media/{original.media_id}").status_code == 404


def test_a_failed_media_is_neither_counted_nor_announced_nor_rendered(
    upload, owner, clients, settings, media_events
):
    original = upload(images.png_header_claiming(20000, 20000), declared="image/png")
    count_before = media_count(owner)

    assert _deliver(original) == NO_FAILURES

    assert media_count(owner) == count_before
    assert media_events.of(original.media_id) == []
    assert _rendition_files(clients, settings, original.media_id) == []


# --- what the upload promised -----------------------------------------------------------


def test_an_original_larger_than_the_upload_limit_fails_with_a_reason_about_its_size(
    upload, owner, settings, s3_puts
):
    # GIVEN an original one byte over the limit the presigned POST allowed
    limit = settings.limits.max_upload_bytes
    original = upload(bytes(limit + 1), reserved_size=limit)

    assert _deliver(original) == NO_FAILURES

    media = media_of(owner, original.media_id)
    assert media["status"] == "failed"
    assert media["failure_reason"] == f"the file is {limit + 1} bytes; at most {limit} are allowed"
    assert s3_puts == []


def test_an_empty_original_fails(upload, owner):
    original = upload(b"", reserved_size=1)

    assert _deliver(original) == NO_FAILURES

    media = media_of(owner, original.media_id)
    assert (media["status"], media["failure_reason"]) == ("failed", "the file is empty")


def test_an_original_stored_with_another_content_type_than_reserved_fails(upload, owner):
    # GIVEN a JPEG reservation whose file was stored as a PNG (moto enforces no policy)
    original = upload(images.encoded(images.photo(64, 48), "PNG"), stored="image/png")

    assert _deliver(original) == NO_FAILURES

    media = media_of(owner, original.media_id)
    assert media["status"] == "failed"
    assert media["failure_reason"] == "the file was uploaded as 'image/png', not 'image/jpeg'"


# --- originals with no media, and poison ------------------------------------------------


def test_an_original_with_no_reservation_is_deleted_without_failing(clients, settings, caplog):
    original = put_original(clients, settings, _unknown_media_id(settings), images.jpeg(64, 48))

    answer = _deliver(original)

    assert answer == NO_FAILURES
    assert _outcomes(caplog) == [(original.key, "unknown")]
    assert not _exists(clients, settings, original.key)


@pytest.mark.parametrize(
    "bad_key",
    [
        "originals/photo.jpg",
        "originals/0042",
        "originals/42/large.jpg",
        f"originals/{2**63}",
        "renditions/42/large.jpg",
    ],
)
def test_a_key_outside_the_original_layout_fails_only_its_record(
    bad_key, clients, settings, caplog
):
    # GIVEN a batch of a notification for a key outside the layout and one for an
    # original with no media
    bad = _record(object_created(settings.bucket, bad_key, size=4))
    unknown = put_original(clients, settings, _unknown_media_id(settings), b"jpeg")
    good = _record(unknown.notification)

    # WHEN the handler takes the batch
    answer = _handle(bad, good)

    # THEN only the bad record is reported (to be retried, then dead-lettered), and the
    # other one was processed
    assert answer == {"batchItemFailures": [{"itemIdentifier": bad["messageId"]}]}
    assert _outcomes(caplog) == [(unknown.key, "unknown")]


def test_a_key_naming_a_shard_outside_the_deployment_fails_only_its_record(upload, settings, owner):
    # GIVEN a batch of a valid original and one whose ID names shard 64 of 64
    outside = original_key(encode(int(time.time() * 1000), settings.logical_shards, 1))
    valid = upload(images.jpeg(320, 240))
    first = _record(object_created(settings.bucket, outside, size=4))
    second = _record(valid.notification)

    answer = _handle(first, second)

    assert answer == {"batchItemFailures": [{"itemIdentifier": first["messageId"]}]}
    assert media_of(owner, valid.media_id)["status"] == "ready"


def test_a_batch_in_which_every_record_fails_raises_batch_processing_error(settings):
    # GIVEN a batch of only poison: a key outside the layout and a body that is not JSON
    batch = sqs_event(
        _record(object_created(settings.bucket, "originals/abc", size=4)), _record("{not json")
    )

    # WHEN / THEN Powertools fails the whole batch by raising, with each record's error
    with pytest.raises(BatchProcessingError) as raised:
        _handle(*batch["Records"])
    errors = [type(exc) for _, exc, _ in raised.value.child_exceptions]
    assert errors == [InvalidUploadKey, MalformedNotification]


def test_a_body_that_is_not_json_fails_that_record_only(clients, settings, caplog):
    unknown = put_original(clients, settings, _unknown_media_id(settings), b"jpeg")
    garbage, good = _record("this is not JSON"), _record(unknown.notification)

    answer = _handle(garbage, good)

    assert answer == {"batchItemFailures": [{"itemIdentifier": garbage["messageId"]}]}
    assert _outcomes(caplog) == [(unknown.key, "unknown")]


def test_the_s3_test_event_succeeds_and_processes_nothing(settings, caplog):
    answer = _handle(_record(s3_test_event(settings.bucket)))

    assert answer == NO_FAILURES
    assert _outcomes(caplog) == []


# --- late notifications -----------------------------------------------------------------


def test_an_original_deleted_before_its_notification_arrives_is_gone_and_succeeds(
    upload, owner, clients, settings, caplog
):
    # GIVEN an original deleted after S3 queued its notification
    original = upload(images.jpeg(64, 48))
    clients.s3.delete_object(Bucket=settings.bucket, Key=original.key)

    # WHEN the notification arrives late
    answer = _deliver(original)

    # THEN it is done, not failed, and the media waits for its upload
    assert answer == NO_FAILURES
    assert _outcomes(caplog) == [(original.key, "gone")]
    assert media_of(owner, original.media_id)["status"] == "pending"


def test_a_media_deleted_by_its_owner_before_processing_is_never_made_ready(
    upload, owner, clients, settings, media_events, caplog
):
    # GIVEN an uploaded original whose owner deletes the media before it is processed
    original = upload(images.jpeg(320, 240))
    count_before = media_count(owner)
    assert owner.delete(f"/media/{original.media_id}").status_code == 204

    # WHEN the notification arrives
    answer = _deliver(original)

    # THEN nothing is made: no renditions, no count, no announcement
    assert answer == NO_FAILURES
    assert _outcomes(caplog) == [(original.key, "done_before")]
    assert _row(clients, original.media_id).status == records.DELETED
    assert _rendition_files(clients, settings, original.media_id) == []
    assert media_count(owner) == count_before
    assert media_events.of(original.media_id) == []
    assert owner.get(f"/media/{original.media_id}").status_code == 404


def test_an_original_that_lands_after_its_media_was_deleted_is_deleted(owner, clients, settings):
    # GIVEN a reserved media deleted by its owner, whose upload lands afterwards (the
    # presigned POST stays usable until it expires)
    reservation = reserve(owner, "image/jpeg", 10_000)
    assert owner.delete(f"/media/{reservation.media_id}").status_code == 204
    original = put_original(clients, settings, reservation.media_id, images.jpeg(64, 48))

    assert _deliver(original) == NO_FAILURES

    assert not _exists(clients, settings, original.key)


def test_an_original_that_lands_after_its_media_failed_is_deleted(upload, clients, settings):
    # GIVEN a media failed for a bad file, and a second file POSTed with the same form
    # afterwards (a presigned POST stays usable until it expires)
    first = upload(images.not_an_image())
    assert _deliver(first) == NO_FAILURES
    second = put_original(clients, settings, first.media_id, images.jpeg(64, 48))

    # WHEN the second file's notification arrives
    assert _deliver(second) == NO_FAILURES

    # THEN the file is not kept: its media is failed for good, nothing will look at it
    # again, and a refused media keeps no file
    assert not _exists(clients, settings, second.key)


def test_a_media_deleted_while_its_original_renders_keeps_no_renditions(
    upload, owner, clients, settings, media_events
):
    # GIVEN an original whose owner deletes the media while it is being rendered
    original = upload(images.jpeg(320, 240))
    count_before = media_count(owner)

    def deleted_then_rendered(data: bytes, content_type: str, max_pixels: int) -> Any:
        assert owner.delete(f"/media/{original.media_id}").status_code == 204
        return thumbnail.render(data, content_type, max_pixels)

    processor = dataclasses.replace(thumbnail.originals, render=deleted_then_rendered)

    # WHEN processing finishes
    outcome = processor.process(uploaded_objects(original.notification)[0])

    # THEN the renditions it wrote are removed, and nothing was made ready or counted
    assert outcome is Outcome.DONE_BEFORE
    assert _row(clients, original.media_id).status == records.DELETED
    assert _rendition_files(clients, settings, original.media_id) == []
    assert media_count(owner) == count_before
    assert media_events.of(original.media_id) == []


def test_twin_deliveries_racing_count_the_media_once(upload, owner, clients):
    # GIVEN two deliveries of one original, the second finishing while the first renders
    original = upload(images.jpeg(320, 240))
    uploaded = uploaded_objects(original.notification)[0]
    count_before = media_count(owner)
    twin: list[Outcome] = []

    def twin_finishes_first(data: bytes, content_type: str, max_pixels: int) -> Any:
        twin.append(thumbnail.originals.process(uploaded))
        return thumbnail.render(data, content_type, max_pixels)

    processor = dataclasses.replace(thumbnail.originals, render=twin_finishes_first)

    # WHEN the first finishes last
    outcome = processor.process(uploaded)

    # THEN the twin made it ready, and the first found it done
    assert twin == [Outcome.READY]
    assert outcome is Outcome.DONE_BEFORE
    assert _row(clients, original.media_id).status == records.READY
    assert media_count(owner) == count_before + 1
