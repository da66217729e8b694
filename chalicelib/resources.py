"""The AWS resources Photofeed's code talks to, described once as CloudFormation.

The local stack applies this description to moto (`devstack.provision`); `make package`
merges the same description into the template for AWS, so the two cannot drift.
Only data lives here: no clients, no network.
"""

from __future__ import annotations

from typing import Any

from chalicelib.media.keys import ORIGINALS_PREFIX, PENDING_TAG

# A message that failed this many receives is poison: it goes to the dead-letter queue.
MAX_RECEIVE_COUNT = 3
# Lambda's timeouts, and how long an event source waits to fill a batch. AWS asks for a
# visibility timeout of at least six times the timeout plus that window.
THUMBNAIL_TIMEOUT_SECONDS = 60
FANOUT_TIMEOUT_SECONDS = 120
NOTIFY_TIMEOUT_SECONDS = 30
BATCH_WINDOW_SECONDS = 1
# A pending upload's original that nothing processed within this many days is removed
# by the bucket's lifecycle: longer than a dead letter is kept, so a replay finds it.
ABANDONED_UPLOAD_DAYS = 15
# Dead letters are kept the longest SQS allows, for operators to inspect and redrive.
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# The name-claims table's sparse index of active usernames, for search by prefix
# (chalicelib.accounts.claims): partitioned by the folded name's first character, sorted
# by the folded name. Only active username claims carry these attributes.
USERNAME_SEARCH_INDEX = "username-search"
SEARCH_PREFIX_ATTRIBUTE = "search_prefix"
SEARCH_NAME_ATTRIBUTE = "search_name"

Template = dict[str, Any]


def _get_arn(logical_id: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def _queue_pair(prefix: str, name: str, function_timeout: int) -> Template:
    """A work queue and its dead-letter queue, with redrive after MAX_RECEIVE_COUNT."""
    title = name.capitalize()
    return {
        f"{title}DeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": f"{prefix}-{name}-dlq",
                "MessageRetentionPeriod": DLQ_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
            },
        },
        f"{title}Queue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": f"{prefix}-{name}",
                "VisibilityTimeout": 6 * function_timeout + BATCH_WINDOW_SECONDS,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": _get_arn(f"{title}DeadLetterQueue"),
                    "maxReceiveCount": MAX_RECEIVE_COUNT,
                },
            },
        },
    }


def _queue_policy(queue: str, service: str, source_arn: Any) -> Template:
    """Lets one AWS service (S3, SNS) send to one queue, from one source only."""
    return {
        "Type": "AWS::SQS::QueuePolicy",
        "Properties": {
            "Queues": [{"Ref": queue}],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": service},
                        "Action": "sqs:SendMessage",
                        "Resource": _get_arn(queue),
                        "Condition": {"ArnEquals": {"aws:SourceArn": source_arn}},
                    }
                ],
            },
        },
    }


def _table(
    name: str,
    key: str,
    ttl_attribute: str | None = None,
    indexes: tuple[Template, ...] = (),
) -> Template:
    """A table keyed by one string attribute, with its global secondary indexes."""
    index_keys = [k["AttributeName"] for index in indexes for k in index["KeySchema"]]
    properties: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": attribute, "AttributeType": "S"}
            for attribute in dict.fromkeys([key, *index_keys])
        ],
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
    }
    if indexes:
        properties["GlobalSecondaryIndexes"] = list(indexes)
    if ttl_attribute:
        properties["TimeToLiveSpecification"] = {"AttributeName": ttl_attribute, "Enabled": True}
    return {"Type": "AWS::DynamoDB::Table", "Properties": properties}


def _username_search_index() -> Template:
    """Active usernames by folded prefix; carries the user's ID, nothing else."""
    return {
        "IndexName": USERNAME_SEARCH_INDEX,
        "KeySchema": [
            {"AttributeName": SEARCH_PREFIX_ATTRIBUTE, "KeyType": "HASH"},
            {"AttributeName": SEARCH_NAME_ATTRIBUTE, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["user_id"]},
    }


def _bucket(prefix: str) -> Template:
    bucket_name = f"{prefix}-photos"
    return {
        "Type": "AWS::S3::Bucket",
        "DependsOn": ["UploadsQueuePolicy"],
        "Properties": {
            "BucketName": bucket_name,
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "CorsConfiguration": {
                "CorsRules": [
                    {
                        "AllowedMethods": ["POST"],
                        "AllowedOrigins": ["*"],
                        "AllowedHeaders": ["*"],
                        "MaxAge": 3000,
                    }
                ]
            },
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "Id": "abandoned-uploads",
                        "Status": "Enabled",
                        "Prefix": ORIGINALS_PREFIX,
                        "TagFilters": [{"Key": PENDING_TAG[0], "Value": PENDING_TAG[1]}],
                        "ExpirationInDays": ABANDONED_UPLOAD_DAYS,
                    },
                    {
                        "Id": "incomplete-multipart-uploads",
                        "Status": "Enabled",
                        "Prefix": "",
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                    },
                ]
            },
            "NotificationConfiguration": {
                "QueueConfigurations": [
                    {
                        "Event": "s3:ObjectCreated:*",
                        "Queue": _get_arn("UploadsQueue"),
                        "Filter": {
                            "S3Key": {"Rules": [{"Name": "prefix", "Value": ORIGINALS_PREFIX}]}
                        },
                    }
                ]
            },
        },
    }


def bucket_arn(prefix: str) -> str:
    """The photo bucket's ARN, known before the bucket exists (S3 ARNs hold no account)."""
    return f"arn:aws:s3:::{prefix}-photos"


def service_resources(prefix: str) -> Template:
    """Bucket, queues, DLQs, topic and tables, named `{prefix}-...`, in creation order."""
    return {
        **_queue_pair(prefix, "uploads", THUMBNAIL_TIMEOUT_SECONDS),
        "UploadsQueuePolicy": _queue_policy("UploadsQueue", "s3.amazonaws.com", bucket_arn(prefix)),
        "PhotosBucket": _bucket(prefix),
        **_queue_pair(prefix, "fanout", FANOUT_TIMEOUT_SECONDS),
        "MediaEventsTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": f"{prefix}-media-events"},
        },
        "FanoutQueuePolicy": _queue_policy(
            "FanoutQueue", "sns.amazonaws.com", {"Ref": "MediaEventsTopic"}
        ),
        "FanoutSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": "MediaEventsTopic"},
                "Protocol": "sqs",
                "Endpoint": _get_arn("FanoutQueue"),
                "RawMessageDelivery": True,
            },
        },
        **_queue_pair(prefix, "notifications", NOTIFY_TIMEOUT_SECONDS),
        "ShardMapTable": _table(f"{prefix}-shard-map", "pk"),
        "NameClaimsTable": _table(
            f"{prefix}-name-claims", "pk", indexes=(_username_search_index(),)
        ),
        "SessionsTable": _table(f"{prefix}-sessions", "pk", ttl_attribute="expires_at"),
        # Powertools idempotency's default key and expiry attributes.
        "IdempotencyTable": _table(f"{prefix}-idempotency", "id", ttl_attribute="expiration"),
    }


# Which setting each resource fills, and with which of its attributes.
SETTINGS_FROM_RESOURCES: dict[str, tuple[str, str]] = {
    "PHOTOFEED_BUCKET": ("PhotosBucket", "Ref"),
    "PHOTOFEED_UPLOADS_QUEUE_URL": ("UploadsQueue", "Ref"),
    "PHOTOFEED_UPLOADS_DLQ_URL": ("UploadsDeadLetterQueue", "Ref"),
    "PHOTOFEED_FANOUT_QUEUE_URL": ("FanoutQueue", "Ref"),
    "PHOTOFEED_FANOUT_DLQ_URL": ("FanoutDeadLetterQueue", "Ref"),
    "PHOTOFEED_MEDIA_EVENTS_TOPIC_ARN": ("MediaEventsTopic", "Ref"),
    "PHOTOFEED_NOTIFICATIONS_QUEUE_URL": ("NotificationsQueue", "Ref"),
    "PHOTOFEED_NOTIFICATIONS_DLQ_URL": ("NotificationsDeadLetterQueue", "Ref"),
    "PHOTOFEED_SHARD_MAP_TABLE": ("ShardMapTable", "Ref"),
    "PHOTOFEED_NAME_CLAIMS_TABLE": ("NameClaimsTable", "Ref"),
    "PHOTOFEED_SESSIONS_TABLE": ("SessionsTable", "Ref"),
    "PHOTOFEED_IDEMPOTENCY_TABLE": ("IdempotencyTable", "Ref"),
}
