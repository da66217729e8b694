"""The packaged template holds every resource of the stage, wired by reference: event
sources to their queues, queues to their dead letters, the bucket to its queue, the CDN to
renditions only, each proxy to its own database and secret."""

from __future__ import annotations

import pytest

from tests.deploy.cloudformation import get_att, listed, ref
from tests.deploy.expected import (
    API_GATEWAY_TIMEOUT_SECONDS,
    CONSUMERS,
    DEAD_LETTERS,
    TABLES,
)

ORIGINALS = "originals/"
RENDITIONS = "renditions/"
# AWS's rule for an SQS event source's queue: six times the function's timeout, plus the
# batching window.
VISIBILITY_FACTOR = 6


def _sqs_event(template, function_id: str) -> dict:
    events = template.properties(function_id).get("Events", {})
    sqs = [event["Properties"] for event in events.values() if event["Type"] == "SQS"]
    assert len(sqs) == 1, f"{function_id} has {len(sqs)} SQS event sources"
    return sqs[0]


def _bucket_arn(template) -> str:
    return f"arn:aws:s3:::{template.properties('PhotosBucket')['BucketName']}"


def _queue_policy_statements(template, queue_id: str) -> list[dict]:
    policies = [
        p
        for p in template.of_type("AWS::SQS::QueuePolicy").values()
        if ref(queue_id) in p["Properties"]["Queues"]
    ]
    assert len(policies) == 1, f"{len(policies)} policies for {queue_id}"
    return listed(policies[0]["Properties"]["PolicyDocument"]["Statement"])


# --- queues and event sources


@pytest.mark.parametrize(("function_id", "queue_id"), CONSUMERS)
def test_a_function_consumes_its_own_queue_reporting_partial_failures(
    template, function_id, queue_id
):
    event = _sqs_event(template, function_id)

    assert event["Queue"] == get_att(queue_id, "Arn")
    assert "ReportBatchItemFailures" in event["FunctionResponseTypes"]
    assert 1 <= event["BatchSize"] <= 10


@pytest.mark.parametrize(("function_id", "queue_id"), CONSUMERS)
def test_a_queue_hides_a_message_longer_than_six_tries_of_its_consumer(
    template, function_id, queue_id
):
    event = _sqs_event(template, function_id)
    timeout = template.properties(function_id)["Timeout"]
    window = event.get("MaximumBatchingWindowInSeconds", 0)

    visibility = template.properties(queue_id)["VisibilityTimeout"]

    assert visibility >= VISIBILITY_FACTOR * timeout + window


@pytest.mark.parametrize(("function_id", "queue_id"), CONSUMERS)
def test_no_other_function_consumes_a_queue(template, function_id, queue_id):
    consumers = [
        other
        for other, properties in template.lambdas().items()
        for event in properties.get("Events", {}).values()
        if event["Type"] == "SQS" and event["Properties"]["Queue"] == get_att(queue_id, "Arn")
    ]

    assert consumers == [function_id]


@pytest.mark.parametrize(("queue_id", "dlq_id"), DEAD_LETTERS)
def test_a_queue_redrives_to_its_own_dead_letter_queue(template, queue_id, dlq_id):
    redrive = template.properties(queue_id)["RedrivePolicy"]

    assert redrive["deadLetterTargetArn"] == get_att(dlq_id, "Arn")
    assert 1 <= int(redrive["maxReceiveCount"]) <= 10
    dlq = template.properties(dlq_id)
    assert "RedrivePolicy" not in dlq
    # A dead letter keeps its first enqueue time: the DLQ must keep it longer.
    kept = template.properties(queue_id).get("MessageRetentionPeriod", 4 * 24 * 3600)
    assert dlq["MessageRetentionPeriod"] > kept


# --- the photo bucket


def test_the_bucket_is_private_and_encrypted(template):
    bucket = template.properties("PhotosBucket")

    block = bucket["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "AccessControl" not in bucket
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}


def test_the_bucket_takes_browser_posts_and_expires_abandoned_uploads(template):
    bucket = template.properties("PhotosBucket")

    (cors,) = bucket["CorsConfiguration"]["CorsRules"]
    assert "POST" in cors["AllowedMethods"]
    rules = bucket["LifecycleConfiguration"]["Rules"]
    abandoned = [
        r
        for r in rules
        if r["Status"] == "Enabled" and r.get("Prefix") == ORIGINALS and r.get("ExpirationInDays")
    ]
    assert len(abandoned) == 1, rules
    assert any(r.get("AbortIncompleteMultipartUpload") for r in rules)


def test_the_bucket_notifies_the_uploads_queue_of_new_originals(template):
    bucket = template.resources["PhotosBucket"]
    notifications = bucket["Properties"]["NotificationConfiguration"]

    (queue,) = notifications["QueueConfigurations"]
    assert queue["Queue"] == get_att("UploadsQueue", "Arn")
    assert queue["Event"] == "s3:ObjectCreated:*"
    assert queue["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": ORIGINALS}]
    assert set(notifications) == {"QueueConfigurations"}
    # S3 checks it may send when the bucket is made: the policy must exist first.
    assert "UploadsQueuePolicy" in bucket["DependsOn"]


def test_only_the_bucket_may_send_to_the_uploads_queue(template):
    (statement,) = _queue_policy_statements(template, "UploadsQueue")

    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == get_att("UploadsQueue", "Arn")
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == _bucket_arn(template)


# --- fan-out


def test_the_media_events_topic_delivers_raw_messages_to_the_fanout_queue(template):
    subscriptions = [
        s["Properties"]
        for s in template.of_type("AWS::SNS::Subscription").values()
        if s["Properties"]["TopicArn"] == ref("MediaEventsTopic")
    ]

    (subscription,) = subscriptions
    assert subscription["Protocol"] == "sqs"
    assert subscription["Endpoint"] == get_att("FanoutQueue", "Arn")
    # The fan-out handler parses a message's body as the event itself.
    assert subscription["RawMessageDelivery"] is True


def test_only_the_media_events_topic_may_send_to_the_fanout_queue(template):
    (statement,) = _queue_policy_statements(template, "FanoutQueue")

    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == get_att("FanoutQueue", "Arn")
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == ref("MediaEventsTopic")


# --- CloudFront


def test_cloudfront_reads_the_bucket_through_an_origin_access_control(template):
    distribution = template.properties("Cdn")["DistributionConfig"]

    (origin,) = distribution["Origins"]
    assert origin["DomainName"] == get_att("PhotosBucket", "RegionalDomainName")
    access = origin["OriginAccessControlId"]
    assert access["Fn::GetAtt"][1] == "Id"
    control = template.resources[access["Fn::GetAtt"][0]]
    assert control["Type"] == "AWS::CloudFront::OriginAccessControl"
    config = control["Properties"]["OriginAccessControlConfig"]
    assert config["OriginAccessControlOriginType"] == "s3"
    assert config["SigningBehavior"] == "always"
    behavior = distribution["DefaultCacheBehavior"]
    assert behavior["TargetOriginId"] == origin["Id"]
    assert set(behavior["AllowedMethods"]) == {"GET", "HEAD"}
    assert behavior["ViewerProtocolPolicy"] in {"redirect-to-https", "https-only"}


def test_the_bucket_policy_lets_only_the_distribution_read_only_renditions(template):
    (policy,) = [
        p["Properties"]
        for p in template.of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == ref("PhotosBucket")
    ]
    allows = [s for s in listed(policy["PolicyDocument"]["Statement"]) if s["Effect"] == "Allow"]

    (allow,) = allows
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert listed(allow["Action"]) == ["s3:GetObject"]
    assert listed(allow["Resource"]) == [f"{_bucket_arn(template)}/{RENDITIONS}*"]
    (source,) = allow["Condition"]["StringEquals"].values()
    account, distribution = template.resolve(ref("AWS::AccountId")), template.resolve(ref("Cdn"))
    assert template.resolve(source) == f"arn:aws:cloudfront::{account}:distribution/{distribution}"


# --- RDS proxies


def _proxies(template) -> dict[str, dict]:
    return {k: r["Properties"] for k, r in template.of_type("AWS::RDS::DBProxy").items()}


def _target_group(template, proxy_id: str) -> dict:
    (group,) = [
        g["Properties"]
        for g in template.of_type("AWS::RDS::DBProxyTargetGroup").values()
        if g["Properties"]["DBProxyName"] == ref(proxy_id)
    ]
    return group


def test_every_database_has_exactly_one_proxy(template):
    databases = set(template.of_type("AWS::RDS::DBInstance"))

    targets = [
        target["Ref"]
        for proxy_id in _proxies(template)
        for target in _target_group(template, proxy_id)["DBInstanceIdentifiers"]
    ]

    assert sorted(targets) == sorted(databases)
    assert len(databases) == 2


def test_a_proxy_requires_iam_auth_and_tls_with_its_own_databases_secret(template):
    for proxy_id, proxy in _proxies(template).items():
        (database,) = _target_group(template, proxy_id)["DBInstanceIdentifiers"]
        secret = _master_secret(template, database["Ref"])

        (auth,) = proxy["Auth"]
        assert auth["AuthScheme"] == "SECRETS", proxy_id
        assert auth["SecretArn"] == ref(secret), proxy_id
        assert auth["IAMAuth"] == "REQUIRED", proxy_id
        assert proxy["RequireTLS"] is True, proxy_id
        assert proxy["EngineFamily"] == "POSTGRESQL", proxy_id


def _master_secret(template, database_id: str) -> str:
    """The secret a database's master credentials are resolved from."""
    username = template.properties(database_id)["MasterUsername"]["Fn::Sub"]
    (secret,) = {
        name
        for name in template.resources
        if f"${{{name}}}" in username
        and template.resources[name]["Type"] == "AWS::SecretsManager::Secret"
    }
    attachments = [
        a["Properties"]
        for a in template.of_type("AWS::SecretsManager::SecretTargetAttachment").values()
        if a["Properties"]["SecretId"] == ref(secret)
    ]
    assert [a["TargetId"] for a in attachments] == [ref(database_id)]
    return secret


def test_a_proxy_lends_connections_within_api_gateways_timeout(template):
    for proxy_id in _proxies(template):
        pool = _target_group(template, proxy_id)["ConnectionPoolConfigurationInfo"]

        assert pool["ConnectionBorrowTimeout"] < API_GATEWAY_TIMEOUT_SECONDS, proxy_id


def test_the_proxies_role_reads_exactly_the_databases_secrets(template):
    for proxy_id, proxy in _proxies(template).items():
        role_id = proxy["RoleArn"]["Fn::GetAtt"][0]
        secrets = {auth["SecretArn"]["Ref"] for auth in proxy["Auth"]}

        granted = template.granted(role_id, "secretsmanager:GetSecretValue")

        assert secrets <= {g["Ref"] for g in granted}, proxy_id


# --- Redis


def test_redis_is_a_multi_az_encrypted_cluster_with_auth(template):
    (redis_id,) = template.of_type("AWS::ElastiCache::ReplicationGroup")
    redis = template.properties(redis_id)

    parameters = redis["CacheParameterGroupName"]["Ref"]
    assert template.properties(parameters)["Properties"]["cluster-enabled"] == "yes"
    assert "NumNodeGroups" in redis
    assert redis["ReplicasPerNodeGroup"] >= 1
    assert redis["AutomaticFailoverEnabled"] is True
    assert redis["MultiAZEnabled"] is True
    assert redis["TransitEncryptionEnabled"] is True
    assert redis["AtRestEncryptionEnabled"] is True
    token = redis["AuthToken"]["Fn::Sub"]
    assert token.startswith("{{resolve:secretsmanager:${RedisAuthSecret}"), token
    assert redis["SecurityGroupIds"] == [get_att("RedisSecurityGroup", "GroupId")]


# --- DynamoDB


@pytest.mark.parametrize("table_id", TABLES)
def test_a_table_has_point_in_time_recovery(template, table_id):
    table = template.resources[table_id]

    assert table["Type"] == "AWS::DynamoDB::Table"
    recovery = table["Properties"]["PointInTimeRecoverySpecification"]
    assert recovery["PointInTimeRecoveryEnabled"] is True


def test_there_are_no_other_tables(template):
    assert set(template.of_type("AWS::DynamoDB::Table")) == set(TABLES)


# --- API Gateway


def test_the_api_stage_is_throttled_and_traced(template):
    api = template.properties("RestAPI")

    (stage_wide,) = [
        s for s in api["MethodSettings"] if (s["ResourcePath"], s["HttpMethod"]) == ("/*", "*")
    ]
    assert int(template.resolve(stage_wide["ThrottlingRateLimit"])) > 0
    assert int(template.resolve(stage_wide["ThrottlingBurstLimit"])) > 0
    assert api["TracingEnabled"] is True


def test_the_api_handler_answers_before_api_gateway_gives_up(template):
    assert template.properties("APIHandler")["Timeout"] < API_GATEWAY_TIMEOUT_SECONDS
