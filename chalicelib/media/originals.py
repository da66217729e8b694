"""What the thumbnail Lambda does with an uploaded original: trust nothing, render, publish.

The rendering itself (Pillow) is handed in by functions/thumbnail, so that this module
and the API never import an image library. Every step is idempotent: S3 and SQS deliver
late, twice and out of order, and a crash anywhere is finished by the redelivery.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

from chalicelib.config import Limits
from chalicelib.errors import PhotofeedError
from chalicelib.feed.events import MediaReady
from chalicelib.media import records
from chalicelib.media.keys import (
    EXTENSIONS,
    InvalidUploadKey,
    media_id_from_original_key,
    new_rendition_token,
    original_key,
    rendition_key,
    rendition_keys,
    renditions_record,
)
from chalicelib.media.records import Media
from chalicelib.media.uploads import UploadedObject
from chalicelib.shards.routing import Router
from chalicelib.users.counters import Counters

# Renditions never change under their key: browsers and the CDN may keep them a year.
RENDITION_CACHE_CONTROL = "public, max-age=31536000, immutable"
_PARALLEL_PUTS = 8


class Outcome(enum.Enum):
    """What became of one notified original."""

    READY = "ready"
    FAILED = "failed"  # a bad file: its media is marked failed, with a reason
    # S3 delivers late and twice: these are done, not errors.
    GONE = "gone"  # the object was deleted since
    DONE_BEFORE = "done_before"  # the media was processed (or deleted) already
    UNKNOWN = "unknown"  # no media was reserved under this key


class ImageRefused(PhotofeedError):
    """Raised by a renderer for a file that is not an acceptable image; the message is
    the reason the client reads."""


class Rendition(Protocol):
    name: str
    format: str
    content_type: str
    width: int
    height: int
    data: bytes


class Rendered(Protocol):
    width: int
    height: int
    blurhash: str
    renditions: list[Rendition]


# (file bytes, declared content type, pixel limit) -> Rendered; raises ImageRefused.
Render = Callable[[bytes, str, int], Rendered]


@dataclass(frozen=True)
class Processor:
    """What processing an original needs, handed in by the Lambda."""

    s3: Any
    bucket: str
    router: Router
    counters: Counters
    render: Render
    publish: Callable[[MediaReady], None]
    limits: Limits

    def process(self, uploaded: UploadedObject) -> Outcome:
        """Turn one uploaded original into a ready (or failed) media, and announce it."""
        media_id = media_id_from_original_key(uploaded.key)  # InvalidUploadKey: poison
        if not self.router.holds(media_id):
            raise InvalidUploadKey(f"media {media_id} names no shard of this deployment")
        if uploaded.bucket != self.bucket:
            return Outcome.UNKNOWN  # not ours (the queue policy admits only our bucket)
        media = self._load(media_id)
        if media is None or media.status != records.PENDING:
            return self._not_pending(uploaded, media)
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=uploaded.key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return Outcome.GONE
            raise
        refusal = self._refusal(media, head)
        if refusal:
            return self._fail(media, refusal)
        data = self.s3.get_object(Bucket=self.bucket, Key=uploaded.key)["Body"].read()
        try:
            rendered = self.render(data, media.content_type or "", self.limits.max_image_pixels)
        except ImageRefused as exc:
            return self._fail(media, exc.message)
        return self._finish(media, rendered)

    def _not_pending(self, uploaded: UploadedObject, media: Media | None) -> Outcome:
        if media is None or media.status in (records.DELETED, records.FAILED):
            # Nobody reserved it, or its media is gone or refused: the file is not kept
            # (a form stays usable until it expires, so a second file may come).
            self._delete([uploaded.key])
            return Outcome.UNKNOWN if media is None else Outcome.DONE_BEFORE
        return self._done_before(media)

    def _refusal(self, media: Media, head: dict[str, Any]) -> str | None:
        """Why the stored object breaks its upload's conditions (moto does not enforce
        presigned-POST policies; S3 does, but nothing is trusted twice over)."""
        size = int(head.get("ContentLength", 0))
        limit = self.limits.max_upload_bytes
        if size == 0:
            return "the file is empty"
        if size > limit:
            return f"the file is {size} bytes; at most {limit} are allowed"
        stored_type = head.get("ContentType", "")
        if stored_type != media.content_type:
            return f"the file was uploaded as {stored_type!r}, not {media.content_type!r}"
        return None

    def _finish(self, media: Media, rendered: Rendered) -> Outcome:
        token = new_rendition_token()
        self._put_renditions(media.id, token, rendered.renditions)
        record = renditions_record(token, rendered.renditions)
        with self.counters.changing([media.owner_id]) as counted:
            ready = self.router.run_for_id(
                media.id,
                lambda c, s: records.mark_ready(
                    c,
                    s,
                    media.id,
                    width=rendered.width,
                    height=rendered.height,
                    blurhash=rendered.blurhash,
                    renditions=record,
                ),
            )
            if ready is not None:
                counted.append((media.owner_id, "media", 1))
        if ready is None:  # deleted, or finished by a twin delivery, meanwhile
            current = self._load(media.id)
            if current is None or current.status == records.DELETED:
                self._delete(rendition_keys(media.id, record))
                return Outcome.DONE_BEFORE
            return self._done_before(current)
        self._keep_original(ready.id)
        self.publish(_ready_event(ready))
        return Outcome.READY

    def _done_before(self, media: Media) -> Outcome:
        # A crash between marking ready and publishing is healed here: keeping the
        # original and announcing again are harmless (fan-out is idempotent).
        if media.status == records.READY:
            self._keep_original(media.id)
            self.publish(_ready_event(media))
        return Outcome.DONE_BEFORE

    def _keep_original(self, media_id: int) -> None:
        """The original of a ready media is kept: its pending tag goes, so the bucket's
        lifecycle no longer takes it for an abandoned upload."""
        try:
            self.s3.delete_object_tagging(Bucket=self.bucket, Key=original_key(media_id))
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
                raise

    def _fail(self, media: Media, reason: str) -> Outcome:
        self.router.run_for_id(media.id, lambda c, s: records.mark_failed(c, s, media.id, reason))
        self._delete([original_key(media.id)])  # a refused file is not kept
        return Outcome.FAILED

    def _put_renditions(self, media_id: int, token: str, renditions: list[Rendition]) -> None:
        def put(rendition: Rendition) -> None:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=rendition_key(media_id, token, rendition.name, EXTENSIONS[rendition.format]),
                Body=rendition.data,
                ContentType=rendition.content_type,
                CacheControl=RENDITION_CACHE_CONTROL,
            )

        with ThreadPoolExecutor(max_workers=_PARALLEL_PUTS) as pool:
            list(pool.map(put, renditions))

    def _load(self, media_id: int) -> Media | None:
        found = self.router.run_for_id(media_id, lambda c, s: records.load(c, s, media_id))
        return found[0] if found else None

    def _delete(self, keys: list[str]) -> None:
        if keys:
            self.s3.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
            )


def _ready_event(media: Media) -> MediaReady:
    return MediaReady(
        media_id=media.id,
        owner_id=media.owner_id,
        uploaded_at=media.created_at,
        ready_at=media.ready_at or media.created_at,
    )
