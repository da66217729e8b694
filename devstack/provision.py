"""Apply `chalicelib.resources` (CloudFormation) to moto with boto3.

moto's own CloudFormation leaves out queue policies, SNS subscriptions, bucket
notifications and TTLs, so the handful of resource types Photofeed uses are applied
here, one function each, from the very description that goes to AWS.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError

from chalicelib.resources import SETTINGS_FROM_RESOURCES, service_resources

Attributes = dict[str, str]  # "Ref", "Arn"


def provision(session: boto3.Session, endpoint_url: str, prefix: str) -> dict[str, str]:
    """Create every service resource named `{prefix}-...`; returns their settings."""
    made: dict[str, Attributes] = {}
    for logical_id, resource in service_resources(prefix).items():
        properties = _resolve(resource["Properties"], made)
        client = session.client(_SERVICE[resource["Type"]], endpoint_url=endpoint_url)
        made[logical_id] = _APPLY[resource["Type"]](client, properties)
    settings = {
        setting: made[lid][attr] for setting, (lid, attr) in SETTINGS_FROM_RESOURCES.items()
    }
    sns = session.client("sns", endpoint_url=endpoint_url)
    return {**settings, **_platform_applications(sns, prefix)}


# SNS platform applications are not CloudFormation resources (they hold the APNs key and
# FCM's credentials): operators make them in AWS; locally moto takes any credential.
_PLATFORMS = {"apns": "APNS", "fcm": "GCM"}


def _platform_applications(sns: Any, prefix: str) -> dict[str, str]:
    """One platform application a push platform, as their settings."""
    made = {}
    for platform, sns_platform in _PLATFORMS.items():
        arn = sns.create_platform_application(
            Name=f"{prefix}-{platform}",
            Platform=sns_platform,
            Attributes={"PlatformCredential": "local", "PlatformPrincipal": "local"},
        )["PlatformApplicationArn"]
        made[f"PHOTOFEED_{platform.upper()}_APPLICATION_ARN"] = arn
    return made


def _resolve(value: Any, made: dict[str, Attributes]) -> Any:
    """Replace Ref and Fn::GetAtt with what earlier resources turned out to be."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return made[value["Ref"]]["Ref"]
        if set(value) == {"Fn::GetAtt"}:
            logical_id, attribute = value["Fn::GetAtt"]
            return made[logical_id][attribute]
        return {key: _resolve(item, made) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, made) for item in value]
    return value


def _queue(sqs: Any, p: dict[str, Any]) -> Attributes:
    attributes = {key: _sqs_attribute(value) for key, value in p.items() if key != "QueueName"}
    url = sqs.create_queue(QueueName=p["QueueName"], Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return {"Ref": url, "Arn": arn["Attributes"]["QueueArn"]}


def _sqs_attribute(value: Any) -> str:
    """SQS takes every attribute as a string: JSON for policies, lower-case booleans."""
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _queue_policy(sqs: Any, p: dict[str, Any]) -> Attributes:
    for url in p["Queues"]:
        sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": json.dumps(p["PolicyDocument"])}
        )
    return {"Ref": ""}


def _topic(sns: Any, p: dict[str, Any]) -> Attributes:
    arn = sns.create_topic(Name=p["TopicName"])["TopicArn"]
    return {"Ref": arn, "Arn": arn}


def _subscription(sns: Any, p: dict[str, Any]) -> Attributes:
    answer = sns.subscribe(
        TopicArn=p["TopicArn"],
        Protocol=p["Protocol"],
        Endpoint=p["Endpoint"],
        Attributes={"RawMessageDelivery": str(p.get("RawMessageDelivery", False)).lower()},
        ReturnSubscriptionArn=True,
    )
    return {"Ref": answer["SubscriptionArn"]}


def _bucket(s3: Any, p: dict[str, Any]) -> Attributes:
    name = p["BucketName"]
    try:
        s3.create_bucket(Bucket=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise
    s3.put_public_access_block(
        Bucket=name, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"]
    )
    rules = [
        {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
        for rule in p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    ]
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    s3.put_bucket_cors(
        Bucket=name,
        CORSConfiguration={
            "CORSRules": [_cors_rule(r) for r in p["CorsConfiguration"]["CorsRules"]]
        },
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=name,
        LifecycleConfiguration={
            "Rules": [_lifecycle_rule(r) for r in p["LifecycleConfiguration"]["Rules"]]
        },
    )
    queues = p["NotificationConfiguration"]["QueueConfigurations"]
    s3.put_bucket_notification_configuration(
        Bucket=name,
        NotificationConfiguration={"QueueConfigurations": [_queue_notification(q) for q in queues]},
    )
    return {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}


def _cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's spelling of a CORS rule, in the S3 API's spelling."""
    renamed = {"MaxAge": "MaxAgeSeconds"}
    return {renamed.get(key, key): value for key, value in rule.items()}


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's spelling of a lifecycle rule, in the S3 API's spelling."""
    tags = [{"Key": t["Key"], "Value": t["Value"]} for t in rule.get("TagFilters", [])]
    if tags:
        conditions = {"Prefix": rule["Prefix"], "Tags": tags}
        selection = {"And": conditions} if len(tags) > 1 or rule["Prefix"] else {"Tag": tags[0]}
    else:
        selection = {"Prefix": rule["Prefix"]}
    made: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"], "Filter": selection}
    if "ExpirationInDays" in rule:
        made["Expiration"] = {"Days": rule["ExpirationInDays"]}
    if "AbortIncompleteMultipartUpload" in rule:
        made["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    return made


def _queue_notification(q: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's spelling of a queue notification, in the S3 API's spelling."""
    return {
        "QueueArn": q["Queue"],
        "Events": [q["Event"]],
        "Filter": {"Key": {"FilterRules": q["Filter"]["S3Key"]["Rules"]}},
    }


def _table(dynamodb: Any, p: dict[str, Any]) -> Attributes:
    name = p["TableName"]
    indexes = (
        {"GlobalSecondaryIndexes": p["GlobalSecondaryIndexes"]}
        if "GlobalSecondaryIndexes" in p
        else {}
    )
    try:
        dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=p["AttributeDefinitions"],
            KeySchema=p["KeySchema"],
            BillingMode=p["BillingMode"],
            **indexes,
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    if "TimeToLiveSpecification" in p:
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification=p["TimeToLiveSpecification"]
        )
    arn = dynamodb.describe_table(TableName=name)["Table"]["TableArn"]
    return {"Ref": name, "Arn": arn}


_SERVICE = {
    "AWS::SQS::Queue": "sqs",
    "AWS::SQS::QueuePolicy": "sqs",
    "AWS::SNS::Topic": "sns",
    "AWS::SNS::Subscription": "sns",
    "AWS::S3::Bucket": "s3",
    "AWS::DynamoDB::Table": "dynamodb",
}
_APPLY: dict[str, Callable[[Any, dict[str, Any]], Attributes]] = {
    "AWS::SQS::Queue": _queue,
    "AWS::SQS::QueuePolicy": _queue_policy,
    "AWS::SNS::Topic": _topic,
    "AWS::SNS::Subscription": _subscription,
    "AWS::S3::Bucket": _bucket,
    "AWS::DynamoDB::Table": _table,
}
