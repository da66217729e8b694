"""S3 notifications, as SQS hands them to the thumbnail Lambda, read into UploadedObjects."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.errors import InvalidInput
from chalicelib.media.uploads import MalformedNotification, UploadedObject, uploaded_objects

BUCKET = "photofeed-local-photos"


def _s3_record(
    key: str,
    *,
    event_name: str = "ObjectCreated:Put",
    size: int = 1024,
    etag: str = "d41d8cd98f00b204e9800998ecf8427e",
    sequencer: str = "0055AED6DCD90281E5",
    event_time: str = "2024-05-01T12:00:00.000Z",
) -> dict[str, Any]:
    """One record of an S3 event notification, shaped as AWS documents it (version 2.1)."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": event_time,
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "uploads",
            "bucket": {
                "name": BUCKET,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{BUCKET}",
            },
            "object": {"key": key, "size": size, "eTag": etag, "sequencer": sequencer},
        },
    }


def _notification(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


S3_TEST_EVENT = {
    "Service": "Amazon S3",
    "Event": "s3:TestEvent",
    "Time": "2024-05-01T12:00:00.000Z",
    "Bucket": BUCKET,
    "RequestId": "5582815E1AEA5ADF",
    "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
}


def test_a_put_notification_becomes_one_uploaded_object():
    body = json.dumps(
        _notification(
            _s3_record(
                "originals%2F42",
                size=2048,
                etag="0123456789abcdef0123456789abcdef",
                sequencer="0A1B2C3D4E5F678901",
                event_time="2024-05-01T12:34:56.789Z",
            )
        )
    )

    assert uploaded_objects(body) == [
        UploadedObject(
            bucket=BUCKET,
            key="originals/42",
            size=2048,
            etag="0123456789abcdef0123456789abcdef",
            sequencer="0A1B2C3D4E5F678901",
            event_time="2024-05-01T12:34:56.789Z",
        )
    ]


def test_every_created_record_of_a_notification_is_returned_in_order():
    body = json.dumps(
        _notification(
            _s3_record("originals/1"),
            _s3_record("originals/2", event_name="ObjectCreated:CompleteMultipartUpload"),
            _s3_record("originals/3", event_name="ObjectCreated:Post"),
        )
    )

    assert [o.key for o in uploaded_objects(body)] == ["originals/1", "originals/2", "originals/3"]


def test_keys_are_url_decoded_with_plus_as_space_and_percent_2f_as_slash():
    body = json.dumps(
        _notification(
            _s3_record("originals%2Fmy+holiday+photo.jpg"),
            _s3_record("originals/caf%C3%A9%2B1.jpg"),
        )
    )

    assert [o.key for o in uploaded_objects(body)] == [
        "originals/my holiday photo.jpg",
        "originals/café+1.jpg",
    ]


def test_s3_test_event_names_no_objects():
    assert uploaded_objects(json.dumps(S3_TEST_EVENT)) == []


def test_object_removed_records_are_ignored():
    body = json.dumps(
        _notification(
            _s3_record("originals/1", event_name="ObjectRemoved:Delete"),
            _s3_record("originals/2"),
            _s3_record("originals/3", event_name="ObjectRemoved:DeleteMarkerCreated"),
        )
    )

    assert [o.key for o in uploaded_objects(body)] == ["originals/2"]


def test_a_notification_of_only_removals_names_no_objects():
    body = json.dumps(_notification(_s3_record("originals/1", event_name="ObjectRemoved:Delete")))

    assert uploaded_objects(body) == []


def test_a_malformed_notification_is_invalid_input():
    # The thumbnail handler fails (and eventually dead-letters) every InvalidInput.
    assert issubclass(MalformedNotification, InvalidInput)


@pytest.mark.parametrize("body", ["", "not json", "{'Records': []}", '{"Records": ['])
def test_a_body_that_is_not_json_is_malformed(body):
    with pytest.raises(MalformedNotification):
        uploaded_objects(body)


def test_a_json_list_is_malformed():
    with pytest.raises(MalformedNotification):
        uploaded_objects(json.dumps([_s3_record("originals/1")]))


@pytest.mark.parametrize("document", [{}, {"records": []}, {"Records": None}, {"Records": {}}])
def test_a_json_object_without_a_records_list_is_malformed(document):
    with pytest.raises(MalformedNotification):
        uploaded_objects(json.dumps(document))


def test_a_created_record_without_an_object_key_is_malformed():
    record = _s3_record("originals/1")
    del record["s3"]["object"]["key"]

    with pytest.raises(MalformedNotification):
        uploaded_objects(json.dumps(_notification(record)))


@pytest.mark.parametrize(
    "path", [("s3",), ("s3", "object"), ("s3", "bucket"), ("s3", "bucket", "name")]
)
def test_a_created_record_missing_part_of_its_s3_entity_is_malformed(path):
    record = _s3_record("originals/1")
    parent = record
    for name in path[:-1]:
        parent = parent[name]
    del parent[path[-1]]

    with pytest.raises(MalformedNotification):
        uploaded_objects(json.dumps(_notification(record)))


def test_one_malformed_record_makes_the_whole_notification_malformed():
    broken = _s3_record("originals/2")
    del broken["s3"]["object"]["key"]
    body = json.dumps(_notification(_s3_record("originals/1"), broken))

    with pytest.raises(MalformedNotification):
        uploaded_objects(body)
