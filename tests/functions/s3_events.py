"""S3 event notifications of the real shape, as S3 puts them on the uploads queue."""

from __future__ import annotations

import itertools
import json
import time
from urllib.parse import quote_plus

REGION = "us-east-1"
_sequence = itertools.count()


def new_sequencer() -> str:
    """A sequencer as S3 writes one: hex, growing with each event for a key."""
    return f"{time.time_ns():016X}{next(_sequence) % 256:02X}"


def object_created(
    bucket: str,
    key: str,
    *,
    size: int,
    etag: str = "9b2cf535f27731c974343645a3985328",
    sequencer: str | None = None,
) -> str:
    """The body S3 sends when `key` is created (its key URL-encoded, as S3 does)."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": REGION,
                    "eventTime": "2024-05-01T12:00:00.000Z",
                    "eventName": "ObjectCreated:Post",
                    "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
                    "requestParameters": {"sourceIPAddress": "203.0.113.7"},
                    "responseElements": {
                        "x-amz-request-id": "C3D13FE58DE4C810",
                        "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5",
                    },
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "configurationId": "uploads",
                        "bucket": {
                            "name": bucket,
                            "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                            "arn": f"arn:aws:s3:::{bucket}",
                        },
                        "object": {
                            "key": quote_plus(key),
                            "size": size,
                            "eTag": etag,
                            "sequencer": sequencer or new_sequencer(),
                        },
                    },
                }
            ]
        }
    )


def s3_test_event(bucket: str) -> str:
    """The body S3 sends once when a bucket's notifications are configured."""
    return json.dumps(
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": "2024-05-01T12:00:00.000Z",
            "Bucket": bucket,
            "RequestId": "5582815E1AEA5ADF",
            "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
        }
    )
