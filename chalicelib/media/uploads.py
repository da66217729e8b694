"""Uploads: what a client may upload, and S3's ObjectCreated notifications of them as
they reach the thumbnail Lambda through SQS."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import unquote_plus

from chalicelib.errors import InvalidInput

# What a client may upload: what phones shoot (HEIC/HEIF from iPhones) and the web's.
CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif")


class MalformedNotification(InvalidInput):
    """Raised when an SQS body is neither an S3 notification nor an S3 test event."""


@dataclass(frozen=True)
class UploadedObject:
    """One object an S3 notification says was created."""

    bucket: str
    key: str
    size: int
    etag: str
    sequencer: str
    event_time: str


def uploaded_objects(body: str) -> list[UploadedObject]:
    """The created objects an SQS message body names; [] for S3's test event.

    S3 URL-encodes keys in notifications, spaces as `+`; the keys returned are decoded.
    """
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise MalformedNotification("message body is not JSON") from exc
    if not isinstance(document, dict):
        raise MalformedNotification("message body is not a JSON object")
    if document.get("Event") == "s3:TestEvent":
        return []
    records = document.get("Records")
    if not isinstance(records, list):
        raise MalformedNotification("message body has no Records list")
    return [_uploaded_object(record) for record in records if _is_object_created(record)]


def _is_object_created(record: object) -> bool:
    return isinstance(record, dict) and str(record.get("eventName", "")).startswith(
        "ObjectCreated:"
    )


def _uploaded_object(record: dict) -> UploadedObject:
    try:
        s3 = record["s3"]
        obj = s3["object"]
        return UploadedObject(
            bucket=s3["bucket"]["name"],
            key=unquote_plus(obj["key"]),
            size=int(obj.get("size", 0)),
            etag=str(obj.get("eTag", "")),
            sequencer=str(obj.get("sequencer", "")),
            event_time=str(record.get("eventTime", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedNotification(f"S3 record lacks {exc}") from exc
