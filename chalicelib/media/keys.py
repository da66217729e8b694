"""The S3 key layout of the photo bucket: the only module that spells it out."""

from __future__ import annotations

import re
import secrets
from typing import Any

from chalicelib.errors import InvalidInput

# Originals are private forever; only renditions are ever served (through the CDN).
ORIGINALS_PREFIX = "originals/"
RENDITIONS_PREFIX = "renditions/"
# An original carries this tag from its upload (the presigned POST sets it) until it is
# processed: the bucket's lifecycle removes originals that keep it too long, the uploads
# nothing ever processed (chalicelib.resources).
PENDING_TAG = ("photofeed-state", "pending")
PENDING_TAGGING = (
    f"<Tagging><TagSet><Tag><Key>{PENDING_TAG[0]}</Key><Value>{PENDING_TAG[1]}</Value>"
    "</Tag></TagSet></Tagging>"
)

_ORIGINAL_KEY = re.compile(r"originals/(?P<media_id>[1-9][0-9]{0,18})")
_MAX_MEDIA_ID = 2**63 - 1


class InvalidUploadKey(InvalidInput):
    """Raised when an object key is not an original's key of this layout."""


def original_key(media_id: int) -> str:
    """The key a client uploads the original of `media_id` to."""
    return f"{ORIGINALS_PREFIX}{media_id}"


def rendition_key(media_id: int, token: str, name: str, extension: str) -> str:
    """The key of one rendition (`large.jpg`, `square.webp`, ...) of `media_id`. The
    token is random per media: renditions are served publicly (by the CDN), and media
    IDs are guessable, so a private account's photos must not be reachable by ID."""
    return f"{RENDITIONS_PREFIX}{media_id}/{token}/{name}.{extension}"


# A rendition format's file extension.
EXTENSIONS = {"jpeg": "jpg", "webp": "webp"}
# 128 random bits in a rendition's path.
TOKEN_BYTES = 16


def new_rendition_token() -> str:
    """The random path segment of a media's renditions."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def rendition_keys(media_id: int, record: dict[str, Any] | None) -> list[str]:
    """Every rendition's key, from the media's renditions record (see `renditions_record`)."""
    if not record:
        return []
    return [
        rendition_key(media_id, record["token"], name, EXTENSIONS[fmt])
        for name, size in record["sizes"].items()
        for fmt in size["formats"]
    ]


def renditions_record(token: str, renditions: list[Any]) -> dict[str, Any]:
    """What a media row keeps of its renditions: their token, and per name the size
    and the formats."""
    sizes: dict[str, Any] = {}
    for r in renditions:
        entry = sizes.setdefault(r.name, {"width": r.width, "height": r.height, "formats": []})
        entry["formats"].append(r.format)
    return {"token": token, "sizes": sizes}


def media_id_from_original_key(key: str) -> int:
    """The media ID an original's key names; InvalidUploadKey for any other key."""
    match = _ORIGINAL_KEY.fullmatch(key)
    if match is None or int(match["media_id"]) > _MAX_MEDIA_ID:
        raise InvalidUploadKey(f"not an original's key: {key!r}")
    return int(match["media_id"])
