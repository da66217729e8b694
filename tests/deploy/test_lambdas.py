"""Every Lambda of the stage: traced, logging to a log group that is kept, running as a
least-privilege role, and given the settings its code reads in AWS."""

from __future__ import annotations

import json
import os

import pytest

from chalicelib.config import EnvSettings, Settings
from deploy.functions import WILDCARD_ACTIONS
from tests.deploy.cloudformation import ACCOUNT, REGION, get_att, listed, ref
from tests.deploy.expected import CONSUMERS, LAMBDAS

# The settings every Lambda needs in AWS, and the resources that must fill them.
WIRED_SETTINGS = {
    "PHOTOFEED_BUCKET": ref("PhotosBucket"),
    "PHOTOFEED_UPLOADS_QUEUE_URL": ref("UploadsQueue"),
    "PHOTOFEED_UPLOADS_DLQ_URL": ref("UploadsDeadLetterQueue"),
    "PHOTOFEED_FANOUT_QUEUE_URL": ref("FanoutQueue"),
    "PHOTOFEED_FANOUT_DLQ_URL": ref("FanoutDeadLetterQueue"),
    "PHOTOFEED_MEDIA_EVENTS_TOPIC_ARN": ref("MediaEventsTopic"),
    "PHOTOFEED_SHARD_MAP_TABLE": ref("ShardMapTable"),
    "PHOTOFEED_NAME_CLAIMS_TABLE": ref("NameClaimsTable"),
    "PHOTOFEED_SESSIONS_TABLE": ref("SessionsTable"),
    "PHOTOFEED_IDEMPOTENCY_TABLE": ref("IdempotencyTable"),
    "PHOTOFEED_REDIS_AUTH_SECRET_ARN": ref("RedisAuthSecret"),
}
# What an SQS event source calls with its function's role.
QUEUE_CONSUMPTION = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
)


def _setting_variables(settings: type[EnvSettings]) -> set[str]:
    """The variables a settings class reads: its fields', and its nested settings'."""
    names = set()
    for name, field in settings.model_fields.items():
        names.add(f"{settings.env_prefix}{name}".upper())
        if isinstance(field.annotation, type) and issubclass(field.annotation, EnvSettings):
            names |= _setting_variables(field.annotation)
    return names


@pytest.fixture
def settings_in_aws(template, monkeypatch):
    """`settings_in_aws(function_id)`: the Settings that Lambda's code would read in AWS."""

    def read(function_id: str) -> Settings:
        for name in list(os.environ):
            if name.upper().startswith("PHOTOFEED_"):
                monkeypatch.delenv(name)
        for name, value in template.resolve(template.environment(function_id)).items():
            monkeypatch.setenv(name, str(value))
        return Settings.from_env()

    return read


# --- tracing and logs


@pytest.mark.parametrize("function_id", LAMBDAS)
def test_a_lambda_is_traced_by_x_ray(template, function_id):
    assert template.properties(function_id)["Tracing"] == "Active"


@pytest.mark.parametrize("function_id", LAMBDAS)
def test_a_lambda_logs_to_its_own_group_kept_for_a_while(template, function_id):
    name = template.properties(function_id)["FunctionName"]
    groups = {
        logical_id: group["Properties"]
        for logical_id, group in template.of_type("AWS::Logs::LogGroup").items()
        if group["Properties"]["LogGroupName"] == f"/aws/lambda/{name}"
    }

    ((group_id, group),) = groups.items()
    assert int(template.resolve(group["RetentionInDays"])) > 0
    # Made before the function, or Lambda makes it first, kept forever.
    assert group_id in listed(template.resources[function_id].get("DependsOn", []))
    writes = template.granted(template.role_of(function_id), "logs:PutLogEvents")
    streams = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{name}:*"
    assert [template.resolve(w) for w in writes] == [streams]


# --- least privilege


def _wildcard_name(resource: str) -> bool:
    """Whether a resource ARN leaves a name open that is known (object keys, log streams
    and SNS endpoints under a named bucket, group or platform application are not names)."""
    if resource.startswith("arn:aws:s3:::"):
        bucket = resource.removeprefix("arn:aws:s3:::").partition("/")[0]
        return "*" in bucket
    if ":log-group:" in resource:
        return "*" in resource.removesuffix(":*")
    if ":endpoint/" in resource:  # SNS names a platform application's endpoints itself
        return "*" in resource.removesuffix("/*")
    return "*" in resource


def _privilege_problems(template, statement: dict) -> list[str]:
    if statement["Effect"] != "Allow":
        return []
    if "NotAction" in statement or "NotResource" in statement:
        return [f"NotAction/NotResource in {statement}"]
    actions = listed(statement["Action"])
    resources = [template.resolve(r) for r in listed(statement["Resource"])]
    problems = [f"wildcard action {a}" for a in actions if "*" in a]
    if "*" in resources:
        problems += [f"{a} on *" for a in actions if a not in WILDCARD_ACTIONS]
    problems += [f"{r} for {actions}" for r in resources if r != "*" and _wildcard_name(r)]
    return problems


def test_no_role_allows_wildcards_where_a_name_is_known(template):
    problems = [
        f"{role_id}: {problem}"
        for role_id in template.of_type("AWS::IAM::Role")
        for statement in template.role_statements(role_id)
        for problem in _privilege_problems(template, statement)
    ]

    assert problems == []


def test_only_the_api_may_query_and_only_the_username_search_index(template):
    claims = template.resolve(get_att("NameClaimsTable", "Arn"))

    queries = {
        function_id: [
            template.resolve(r)
            for r in template.granted(template.role_of(function_id), "dynamodb:Query")
        ]
        for function_id in LAMBDAS
    }

    assert queries == {
        function_id: [f"{claims}/index/username-search"] if function_id == "APIHandler" else []
        for function_id in LAMBDAS
    }


@pytest.mark.parametrize("function_id", LAMBDAS)
def test_a_lambda_runs_as_a_role_of_its_own_policies_only(template, function_id):
    properties = template.properties(function_id)

    role_id = template.role_of(function_id)

    assert template.resources[role_id]["Type"] == "AWS::IAM::Role"
    assert "ManagedPolicyArns" not in template.properties(role_id)
    assert "Policies" not in properties  # SAM would make a role of its own
    others = [f for f in template.lambdas() if f != function_id and template.role_of(f) == role_id]
    assert others == []


@pytest.mark.parametrize(("function_id", "queue_id"), CONSUMERS)
def test_a_consumer_may_take_messages_from_its_queue(template, function_id, queue_id):
    role_id = template.role_of(function_id)

    for action in QUEUE_CONSUMPTION:
        assert get_att(queue_id, "Arn") in template.granted(role_id, action), action


def test_the_thumbnail_function_may_announce_ready_media(template):
    role_id = template.role_of("ThumbnailFunction")

    assert template.granted(role_id, "sns:Publish") == [ref("MediaEventsTopic")]


def test_the_fanout_function_may_queue_chunks_of_an_audience(template):
    role_id = template.role_of("FanoutFunction")

    assert template.granted(role_id, "sqs:SendMessage") == [get_att("FanoutQueue", "Arn")]


@pytest.mark.parametrize("function_id", LAMBDAS)
def test_a_lambda_may_read_the_redis_auth_token(template, function_id):
    granted = template.granted(template.role_of(function_id), "secretsmanager:GetSecretValue")

    assert ref("RedisAuthSecret") in granted


def _database_user(template) -> str:
    users = {
        json.loads(s["Properties"]["GenerateSecretString"]["SecretStringTemplate"])["username"]
        for s in template.of_type("AWS::SecretsManager::Secret").values()
        if "username" in s["Properties"]["GenerateSecretString"].get("SecretStringTemplate", "")
    }
    (user,) = users
    return user


@pytest.mark.parametrize("function_id", LAMBDAS)
def test_a_lambda_may_connect_through_each_proxy_as_the_database_user(template, function_id):
    user = _database_user(template)
    proxies = template.of_type("AWS::RDS::DBProxy")
    # rds-db:connect names a proxy by its resource ID: the last part of its ARN.
    expected = {
        f"arn:aws:rds-db:{REGION}:{ACCOUNT}:dbuser:"
        f"{template.resolve(get_att(proxy_id, 'DBProxyArn')).rsplit(':', 1)[1]}/{user}"
        for proxy_id in proxies
    }

    granted = template.granted(template.role_of(function_id), "rds-db:connect")

    assert {template.resolve(g) for g in granted} == expected
    assert len(expected) == len(proxies)


# --- settings


@pytest.mark.parametrize("function_id", LAMBDAS)
def test_a_lambdas_photofeed_variables_are_all_settings(template, function_id):
    known = _setting_variables(Settings)

    variables = template.environment(function_id)

    unknown = [
        v for v in variables if v.upper().startswith("PHOTOFEED_") and v.upper() not in known
    ]
    assert unknown == []


@pytest.mark.parametrize("function_id", LAMBDAS)
def test_a_lambda_is_given_the_resources_it_uses(template, function_id):
    variables = template.environment(function_id)

    wrong = {
        name: variables.get(name)
        for name, wired in WIRED_SETTINGS.items()
        if variables.get(name) != wired
    }
    assert wrong == {}


@pytest.mark.parametrize("function_id", LAMBDAS)
def test_a_lambdas_settings_in_aws_name_the_stages_redis_cluster(
    template, settings_in_aws, function_id
):
    settings = settings_in_aws(function_id)

    (redis_id,) = template.of_type("AWS::ElastiCache::ReplicationGroup")
    assert settings.redis_cluster is True
    assert settings.redis_url.scheme == "rediss"
    assert settings.redis_url.host == template.resolve(
        get_att(redis_id, "ConfigurationEndPoint.Address")
    )
    assert settings.endpoint_url is None
    assert settings.stage == "dev"


@pytest.mark.parametrize("function_id", LAMBDAS)
def test_a_lambdas_settings_in_aws_reach_each_database_through_its_proxy_with_iam(
    packaged, template, settings_in_aws, function_id
):
    instances = template.named("AWS::RDS::DBInstance", "DBInstanceIdentifier")
    proxy_of = {}
    for group in template.of_type("AWS::RDS::DBProxyTargetGroup").values():
        (instance,) = group["Properties"]["DBInstanceIdentifiers"]
        proxy_of[instance["Ref"]] = group["Properties"]["DBProxyName"]["Ref"]

    settings = settings_in_aws(function_id)

    assert settings.database_iam_auth is True
    assert len(settings.databases) == len(instances)
    for name, dsn in settings.databases.items():
        (instance_id,) = [
            i for i, ident in instances.items() if ident == f"{packaged.plan.prefix}-{name}"
        ]
        (host,) = dsn.hosts()
        assert host["host"] == template.resolve(get_att(proxy_of[instance_id], "Endpoint"))
        assert host["username"] == _database_user(template)
        assert host["password"] is None  # IAM tokens, never a password in the environment
        assert dsn.path == "/" + template.properties(instance_id)["DBName"]
        assert "sslmode=require" in (dsn.query or "")


# Lambda refuses a function whose environment variables take more than 4 KB in all.
LAMBDA_ENVIRONMENT_BYTES = 4096


@pytest.mark.parametrize("function_id", LAMBDAS)
def test_a_lambdas_environment_fits_lambdas_limit_with_room_for_more_databases(
    template, function_id
):
    variables = template.resolve(template.environment(function_id))
    size = sum(len(name) + len(str(value)) for name, value in variables.items())

    # Each physical database adds up to ~370 bytes (proxy DSN, admin DSN, secret ARN):
    # two more must still fit before the DSNs have to move out of the environment.
    assert size + 2 * 370 < LAMBDA_ENVIRONMENT_BYTES, size
