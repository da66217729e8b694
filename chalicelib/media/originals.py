"""What the thumbnail Lambda does with an uploaded original."""

from __future__ import annotations

import enum
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.media.keys import media_id_from_original_key
from chalicelib.media.uploads import UploadedObject


class Outcome(enum.Enum):
    """What became of one notification."""

    RECEIVED = "received"
    # S3 delivers late and twice: an object deleted since is done, not an error.
    GONE = "gone"


def receive_original(s3: Any, uploaded: UploadedObject) -> Outcome:
    """Check that a notified original exists under a media's key.

    Raises InvalidUploadKey for a key outside the layout (a poison message).
    """
    media_id_from_original_key(uploaded.key)
    try:
        s3.head_object(Bucket=uploaded.bucket, Key=uploaded.key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey"):
            return Outcome.GONE
        raise
    return Outcome.RECEIVED
