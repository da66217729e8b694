"""devstack.provision applies chalicelib.resources to moto: read every promise back from moto."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib.media.keys import PENDING_TAG
from chalicelib.resources import (
    ABANDONED_UPLOAD_DAYS,
    BATCH_WINDOW_SECONDS,
    DLQ_RETENTION_SECONDS,
    FANOUT_TIMEOUT_SECONDS,
    MAX_RECEIVE_COUNT,
    SETTINGS_FROM_RESOURCES,
    THUMBNAIL_TIMEOUT_SECONDS,
    service_resources,
)
from devstack.provision import provision
from devstack.stack import FAKE_AWS


def _session() -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        region_name=FAKE_AWS["AWS_DEFAULT_REGION"],
    )


def _prefix() -> str:
    return f"prov-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def private(settings) -> dict[str, str]:
    """The settings of a set of resources of this module's own."""
    return provision(_session(), settings.endpoint_url, _prefix())


def _queue_attributes(clients, url: str) -> dict[str, str]:
    return clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def _queue_arn(clients, url: str) -> str:
    return _queue_attributes(clients, url)["QueueArn"]


def test_provision_returns_every_setting_the_resources_fill(private):
    # and the platform applications', which CloudFormation does not describe
    platform_applications = {"PHOTOFEED_APNS_APPLICATION_ARN", "PHOTOFEED_FCM_APPLICATION_ARN"}
    assert set(private) == set(SETTINGS_FROM_RESOURCES) | platform_applications
    assert all(private.values()), private


def test_the_platform_applications_are_apns_and_fcm(clients, private):
    platforms = {
        arn: clients.sns.get_platform_application_attributes(PlatformApplicationArn=arn)
        for arn in (
            private["PHOTOFEED_APNS_APPLICATION_ARN"],
            private["PHOTOFEED_FCM_APPLICATION_ARN"],
        )
    }

    assert [arn.split(":app/")[1].split("/")[0] for arn in platforms] == ["APNS", "GCM"]


def test_the_bucket_blocks_all_public_access(clients, private):
    block = clients.s3.get_public_access_block(Bucket=private["PHOTOFEED_BUCKET"])

    assert block["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }


def test_the_bucket_encrypts_with_aes256_by_default(clients, private):
    encryption = clients.s3.get_bucket_encryption(Bucket=private["PHOTOFEED_BUCKET"])

    rules = encryption["ServerSideEncryptionConfiguration"]["Rules"]
    assert [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules] == ["AES256"]


def test_the_bucket_notifies_the_uploads_queue_of_created_originals_only(clients, private):
    configuration = clients.s3.get_bucket_notification_configuration(
        Bucket=private["PHOTOFEED_BUCKET"]
    )

    (queue,) = configuration["QueueConfigurations"]
    assert queue["QueueArn"] == _queue_arn(clients, private["PHOTOFEED_UPLOADS_QUEUE_URL"])
    assert queue["Events"] == ["s3:ObjectCreated:*"]
    rules = queue["Filter"]["Key"]["FilterRules"]
    assert [(r["Name"].lower(), r["Value"]) for r in rules] == [("prefix", "originals/")]
    assert configuration.get("TopicConfigurations", []) == []
    assert configuration.get("LambdaFunctionConfigurations", []) == []


def test_the_bucket_expires_unprocessed_originals_after_dead_letters_are_gone(clients, private):
    rules = clients.s3.get_bucket_lifecycle_configuration(Bucket=private["PHOTOFEED_BUCKET"])
    by_id = {rule["ID"]: rule for rule in rules["Rules"]}

    abandoned = by_id["abandoned-uploads"]
    key, value = PENDING_TAG
    assert abandoned["Filter"]["And"] == {
        "Prefix": "originals/",
        "Tags": [{"Key": key, "Value": value}],
    }
    assert abandoned["Expiration"]["Days"] == ABANDONED_UPLOAD_DAYS
    # A dead letter is replayable for 14 days; its original must outlive it.
    assert ABANDONED_UPLOAD_DAYS * 24 * 3600 > DLQ_RETENTION_SECONDS
    multipart = by_id["incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"]
    assert multipart == {"DaysAfterInitiation": 1}


def test_the_bucket_accepts_browser_posts_from_any_origin(clients, private):
    cors = clients.s3.get_bucket_cors(Bucket=private["PHOTOFEED_BUCKET"])

    (rule,) = cors["CORSRules"]
    assert rule["AllowedMethods"] == ["POST"]
    assert rule["AllowedOrigins"] == ["*"]
    assert rule["MaxAgeSeconds"] == 3000


@pytest.mark.parametrize(
    ("queue", "dlq", "function_timeout"),
    [
        ("PHOTOFEED_UPLOADS_QUEUE_URL", "PHOTOFEED_UPLOADS_DLQ_URL", THUMBNAIL_TIMEOUT_SECONDS),
        ("PHOTOFEED_FANOUT_QUEUE_URL", "PHOTOFEED_FANOUT_DLQ_URL", FANOUT_TIMEOUT_SECONDS),
    ],
)
def test_a_work_queue_redrives_to_its_dlq_and_outlives_its_function(
    clients, private, queue, dlq, function_timeout
):
    attributes = _queue_attributes(clients, private[queue])

    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == _queue_arn(clients, private[dlq])
    assert int(redrive["maxReceiveCount"]) == MAX_RECEIVE_COUNT
    # AWS's rule for an SQS event source: six times the timeout plus the batching window.
    assert int(attributes["VisibilityTimeout"]) >= 6 * function_timeout + BATCH_WINDOW_SECONDS


@pytest.mark.parametrize("dlq", ["PHOTOFEED_UPLOADS_DLQ_URL", "PHOTOFEED_FANOUT_DLQ_URL"])
def test_a_dead_letter_queue_keeps_messages_fourteen_days_and_redrives_nowhere(
    clients, private, dlq
):
    attributes = _queue_attributes(clients, private[dlq])

    assert int(attributes["MessageRetentionPeriod"]) == DLQ_RETENTION_SECONDS == 14 * 24 * 3600
    assert "RedrivePolicy" not in attributes


def test_only_the_photo_bucket_may_send_to_the_uploads_queue(clients, private):
    attributes = _queue_attributes(clients, private["PHOTOFEED_UPLOADS_QUEUE_URL"])

    (statement,) = json.loads(attributes["Policy"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == attributes["QueueArn"]
    source = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert source == f"arn:aws:s3:::{private['PHOTOFEED_BUCKET']}"


def test_only_the_media_events_topic_may_send_to_the_fanout_queue(clients, private):
    attributes = _queue_attributes(clients, private["PHOTOFEED_FANOUT_QUEUE_URL"])

    (statement,) = json.loads(attributes["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Resource"] == attributes["QueueArn"]
    source = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert source == private["PHOTOFEED_MEDIA_EVENTS_TOPIC_ARN"]


def test_the_topic_delivers_raw_messages_to_the_fanout_queue(clients, private):
    topic = private["PHOTOFEED_MEDIA_EVENTS_TOPIC_ARN"]
    subscriptions = clients.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]

    (subscription,) = subscriptions
    assert subscription["Protocol"] == "sqs"
    assert subscription["Endpoint"] == _queue_arn(clients, private["PHOTOFEED_FANOUT_QUEUE_URL"])
    attributes = clients.sns.get_subscription_attributes(
        SubscriptionArn=subscription["SubscriptionArn"]
    )["Attributes"]
    assert attributes["RawMessageDelivery"] == "true"


@pytest.mark.parametrize(
    ("table", "hash_key"),
    [
        ("PHOTOFEED_SHARD_MAP_TABLE", "pk"),
        ("PHOTOFEED_NAME_CLAIMS_TABLE", "pk"),
        ("PHOTOFEED_SESSIONS_TABLE", "pk"),
        ("PHOTOFEED_IDEMPOTENCY_TABLE", "id"),
    ],
)
def test_a_table_exists_keyed_by_its_string_hash_key(clients, private, table, hash_key):
    described = clients.dynamodb.describe_table(TableName=private[table])["Table"]

    assert described["TableStatus"] == "ACTIVE"
    assert described["KeySchema"] == [{"AttributeName": hash_key, "KeyType": "HASH"}]
    assert {"AttributeName": hash_key, "AttributeType": "S"} in described["AttributeDefinitions"]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_the_name_claims_table_has_the_username_search_index(clients, private):
    described = clients.dynamodb.describe_table(TableName=private["PHOTOFEED_NAME_CLAIMS_TABLE"])

    (index,) = described["Table"]["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "username-search"
    assert index["KeySchema"] == [
        {"AttributeName": "search_prefix", "KeyType": "HASH"},
        {"AttributeName": "search_name", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["user_id"]}
    assert {
        a["AttributeName"]: a["AttributeType"] for a in described["Table"]["AttributeDefinitions"]
    } == {
        "pk": "S",
        "search_prefix": "S",
        "search_name": "S",
    }


@pytest.mark.parametrize(
    ("table", "ttl_attribute"),
    [("PHOTOFEED_SESSIONS_TABLE", "expires_at"), ("PHOTOFEED_IDEMPOTENCY_TABLE", "expiration")],
)
def test_a_table_of_expiring_items_has_ttl_enabled(clients, private, table, ttl_attribute):
    ttl = clients.dynamodb.describe_time_to_live(TableName=private[table])

    description = ttl["TimeToLiveDescription"]
    assert description["TimeToLiveStatus"] in {"ENABLING", "ENABLED"}
    assert description["AttributeName"] == ttl_attribute


@pytest.mark.parametrize("table", ["PHOTOFEED_SHARD_MAP_TABLE", "PHOTOFEED_NAME_CLAIMS_TABLE"])
def test_a_table_of_lasting_items_has_no_ttl(clients, private, table):
    ttl = clients.dynamodb.describe_time_to_live(TableName=private[table])

    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"


def test_provisioning_the_same_prefix_twice_succeeds_with_the_same_settings(clients, settings):
    # GIVEN resources already provisioned under a prefix
    prefix = _prefix()
    first = provision(_session(), settings.endpoint_url, prefix)

    # WHEN the same prefix is provisioned again (a restarted stack)
    second = provision(_session(), settings.endpoint_url, prefix)

    # THEN nothing fails, the settings are the same, and nothing was made twice
    assert second == first
    topic = first["PHOTOFEED_MEDIA_EVENTS_TOPIC_ARN"]
    subscriptions = clients.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert len(subscriptions) == 1
    queues = clients.sqs.list_queues(QueueNamePrefix=prefix)["QueueUrls"]
    assert len(queues) == 6


# --- the description itself, no network


def _references(value: Any) -> Iterator[str]:
    """The logical IDs a resource's properties name with Ref or Fn::GetAtt."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            yield value["Ref"]
        elif set(value) == {"Fn::GetAtt"}:
            yield value["Fn::GetAtt"][0]
        else:
            for item in value.values():
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def test_every_resource_has_a_type_and_properties():
    for logical_id, resource in service_resources("p").items():
        assert isinstance(resource.get("Type"), str), logical_id
        assert resource["Type"].startswith("AWS::"), logical_id
        assert isinstance(resource.get("Properties"), dict), logical_id


def test_every_reference_names_a_resource_created_earlier():
    created: list[str] = []
    for logical_id, resource in service_resources("p").items():
        named = [*_references(resource["Properties"]), *resource.get("DependsOn", [])]
        for target in named:
            assert target in created, f"{logical_id} names {target} before it exists"
        created.append(logical_id)


def test_the_resources_are_named_after_the_prefix():
    names = [
        value
        for resource in service_resources("p").values()
        for key, value in resource["Properties"].items()
        if key in {"QueueName", "TopicName", "TableName", "BucketName"}
    ]

    assert len(names) == 12
    assert all(name.startswith("p-") for name in names), names


def test_every_setting_comes_from_a_described_resource():
    resources = service_resources("p")

    for setting, (logical_id, attribute) in SETTINGS_FROM_RESOURCES.items():
        assert logical_id in resources, setting
        assert attribute == "Ref", setting
