"""The Lambdas (the API from `chalice package`; thumbnail, fanout, notify and ops from our zips),
their settings, their least-privilege roles and their logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.media.keys import ORIGINALS_PREFIX, RENDITIONS_PREFIX
from chalicelib.resources import (
    BATCH_WINDOW_SECONDS,
    FANOUT_TIMEOUT_SECONDS,
    NOTIFY_TIMEOUT_SECONDS,
    SETTINGS_FROM_RESOURCES,
    THUMBNAIL_TIMEOUT_SECONDS,
    USERNAME_SEARCH_INDEX,
    bucket_arn,
)
from deploy.cfn import (
    ARCHITECTURE,
    PYTHON_311,
    PYTHON_312,
    Plan,
    Runtime,
    Template,
    get_att,
    ref,
    sub,
)
from deploy.datastores import (
    admin_dsns,
    admin_secrets,
    database_dsns,
    proxy_user_arns,
    redis_url,
    secret_id,
)
from deploy.network import group_id, subnet_ids

PARAMETERS: Template = {
    "LogRetentionDays": {
        "Type": "Number",
        "Default": 30,
        "AllowedValues": [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731],
        "Description": "Days the functions' logs are kept",
    },
    # SNS platform applications hold the APNs key and FCM's credentials: operators make
    # them (docs/operations.md), the stage is told their names. Empty: not pushed to.
    **{
        f"{title}ApplicationName": {
            "Type": "String",
            "Default": "",
            "Description": f"The SNS platform application ({sns}) devices register with",
        }
        for title, sns in (("Apns", "APNS"), ("Fcm", "GCM"))
    },
}
# platform -> (its parameters' stem, SNS's name of the platform)
PUSH_PLATFORMS = {"apns": ("Apns", "APNS"), "fcm": ("Fcm", "GCM")}
CONDITIONS: Template = {
    f"Has{title}Application": {"Fn::Not": [{"Fn::Equals": [ref(f"{title}ApplicationName"), ""]}]}
    for title, _ in PUSH_PLATFORMS.values()
}

# X-Ray and Lambda's network interfaces have no resource-level permissions: these
# actions can only be granted on "*". Nothing else may be.
WILDCARD_ACTIONS = frozenset(
    {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    }
)

# What a DynamoDB table is used for, and the calls that needs (pynamodb describes a table
# once per process to learn its keys).
_TABLE_READ = ["dynamodb:DescribeTable", "dynamodb:GetItem"]
_TABLE_WRITE = [*_TABLE_READ, "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
_QUEUE_CONSUME = [
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
]


@dataclass(frozen=True, kw_only=True)
class Function:
    """One of the function Lambdas: its zip, entry point, event source and limits."""

    role: str
    timeout: int
    memory: int
    runtime: Runtime
    # The queue it consumes (None: invoked by operators only), in batches of this size,
    # by at most this many instances at once.
    queue: str | None = None
    batch_size: int = 0
    max_concurrency: int = 0
    security_group: str = "Functions"
    # /tmp, in MB: a shard move spools large tables' COPY there.
    ephemeral_storage: int = 512

    @property
    def logical_id(self) -> str:
        return f"{self.role.capitalize()}Function"

    @property
    def handler(self) -> str:
        return f"functions.{self.role}.handler.lambda_handler"

    @property
    def zip_name(self) -> str:
        return f"{self.role}.zip"


FUNCTIONS = (
    # Image work is CPU-bound: 2 GiB buys more than one vCPU. At most 50 at once, so a
    # burst of uploads cannot exhaust the databases' connections.
    Function(
        role="thumbnail",
        queue="UploadsQueue",
        timeout=THUMBNAIL_TIMEOUT_SECONDS,
        memory=2048,
        batch_size=5,
        max_concurrency=50,
        runtime=PYTHON_312,
    ),
    Function(
        role="fanout",
        queue="FanoutQueue",
        timeout=FANOUT_TIMEOUT_SECONDS,
        memory=1024,
        batch_size=10,
        max_concurrency=100,
        runtime=PYTHON_311,
    ),
    # Pushes are small and wait on SNS: many light instances.
    Function(
        role="notify",
        queue="NotificationsQueue",
        timeout=NOTIFY_TIMEOUT_SECONDS,
        memory=512,
        batch_size=10,
        max_concurrency=50,
        runtime=PYTHON_311,
    ),
    # Operators' commands (migrations, shard moves, repairs) inside the VPC: Lambda's
    # longest timeout; straight to the databases, as the Operators group may.
    Function(
        role="ops",
        timeout=900,
        memory=1024,
        runtime=PYTHON_311,
        security_group="Operators",
        ephemeral_storage=10240,
    ),
)


def environment(plan: Plan, service: str) -> dict[str, Any]:
    """The settings every Lambda of the stage reads (chalicelib.config), for `service`."""
    variables: dict[str, Any] = {
        "PHOTOFEED_STAGE": plan.stage,
        "PHOTOFEED_REGION": ref("AWS::Region"),
        "PHOTOFEED_LOGICAL_SHARDS": str(plan.logical_shards),
        "PHOTOFEED_DATABASES": database_dsns(plan),
        "PHOTOFEED_DATABASE_IAM_AUTH": "true",
        "PHOTOFEED_REDIS_URL": redis_url(),
        "PHOTOFEED_REDIS_CLUSTER": "true",
        "PHOTOFEED_REDIS_AUTH_SECRET_ARN": ref("RedisAuthSecret"),
        "PHOTOFEED_PUBLIC_MEDIA_BASE_URL": sub("https://${Cdn.DomainName}/"),
        "POWERTOOLS_SERVICE_NAME": service,
        "POWERTOOLS_METRICS_NAMESPACE": "Photofeed",
    }
    for setting, (logical_id, attribute) in SETTINGS_FROM_RESOURCES.items():
        variables[setting] = (
            ref(logical_id) if attribute == "Ref" else get_att(logical_id, attribute)
        )
    for platform, (title, _) in PUSH_PLATFORMS.items():
        variables[f"PHOTOFEED_{platform.upper()}_APPLICATION_ARN"] = {
            "Fn::If": [f"Has{title}Application", _sns_arn(platform, "app"), ""]
        }
    return variables


def _sns_arn(platform: str, kind: str, suffix: str = "") -> Template:
    """A platform application's ARN (kind "app") or its endpoints' ("endpoint", "/*")."""
    title, sns_platform = PUSH_PLATFORMS[platform]
    return sub(
        "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:"
        f"{kind}/{sns_platform}/${{{title}ApplicationName}}{suffix}"
    )


def _endpoint_arns() -> list[Template]:
    return [_sns_arn(platform, "endpoint", "/*") for platform in PUSH_PLATFORMS]


def vpc_config(security_group: str = "Functions") -> Template:
    return {"SubnetIds": subnet_ids(), "SecurityGroupIds": [group_id(security_group)]}


def _log_group(plan: Plan, role: str) -> Template:
    return {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {
            "LogGroupName": f"/aws/lambda/{plan.function_name(role)}",
            "RetentionInDays": ref("LogRetentionDays"),
        },
    }


def _allow(actions: list[str] | str, resources: list[Any] | Any) -> Template:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def _table_arn(logical_id: str) -> Template:
    return get_att(logical_id, "Arn")


def _index_arn(table: str, index: str) -> Template:
    return sub(f"${{{table}.Arn}}/index/{index}")


def _objects(plan: Plan, prefix: str) -> str:
    return f"{bucket_arn(plan.prefix)}/{prefix}*"


def _common_statements(plan: Plan, role: str) -> list[Template]:
    """What every Lambda of ours needs: its logs, traces, network, Redis, the databases
    and the shard map."""
    log_group = sub(
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
        f"/aws/lambda/{plan.function_name(role)}:*"
    )
    return [
        _allow(["logs:CreateLogStream", "logs:PutLogEvents"], log_group),
        _allow(sorted(a for a in WILDCARD_ACTIONS if a.startswith("xray:")), "*"),
        _allow(sorted(a for a in WILDCARD_ACTIONS if a.startswith("ec2:")), "*"),
        _allow("secretsmanager:GetSecretValue", ref("RedisAuthSecret")),
        _allow("rds-db:connect", proxy_user_arns(plan)),
        _allow(_TABLE_READ, _table_arn("ShardMapTable")),
    ]


def api_statements(plan: Plan) -> list[Template]:
    queues = [get_att(q, "Arn") for q in _QUEUES]
    return [
        *_common_statements(plan, "api"),
        _allow(_TABLE_WRITE, [_table_arn("NameClaimsTable"), _table_arn("SessionsTable")]),
        # User search reads the claims' username index, and nothing else by query.
        _allow("dynamodb:Query", _index_arn("NameClaimsTable", USERNAME_SEARCH_INDEX)),
        # The presigned POST is signed with the API's credentials: it may only put
        # originals (tagged pending, see chalicelib.resources.PENDING_TAG).
        _allow(["s3:PutObject", "s3:PutObjectTagging"], _objects(plan, ORIGINALS_PREFIX)),
        _allow(
            "s3:DeleteObject",
            [_objects(plan, ORIGINALS_PREFIX), _objects(plan, RENDITIONS_PREFIX)],
        ),
        # /health: each dependency is asked something harmless.
        _allow("s3:ListBucket", bucket_arn(plan.prefix)),
        _allow("sqs:GetQueueAttributes", queues),
        _allow("sns:GetTopicAttributes", ref("MediaEventsTopic")),
        _allow("dynamodb:DescribeTable", [_table_arn(t) for t in _TABLES]),
        # Devices: endpoints made in the stage's platform applications, and removed.
        _allow(
            "sns:CreatePlatformEndpoint",
            [_sns_arn(platform, "app") for platform in PUSH_PLATFORMS],
        ),
        _allow(["sns:SetEndpointAttributes", "sns:DeleteEndpoint"], _endpoint_arns()),
        # Likes, comments, follows and requests ask for pushes.
        _allow("sqs:SendMessage", get_att("NotificationsQueue", "Arn")),
    ]


def thumbnail_statements(plan: Plan) -> list[Template]:
    return [
        *_common_statements(plan, "thumbnail"),
        _allow(_QUEUE_CONSUME, get_att("UploadsQueue", "Arn")),
        _allow(_TABLE_WRITE, _table_arn("IdempotencyTable")),
        _allow(
            ["s3:GetObject", "s3:DeleteObject", "s3:DeleteObjectTagging"],
            _objects(plan, ORIGINALS_PREFIX),
        ),
        _allow(["s3:PutObject", "s3:DeleteObject"], _objects(plan, RENDITIONS_PREFIX)),
        # Without it S3 answers a missing original with 403, not 404: a notification
        # of an object deleted since would be retried into the dead-letter queue.
        {
            **_allow("s3:ListBucket", bucket_arn(plan.prefix)),
            "Condition": {"StringLike": {"s3:prefix": f"{ORIGINALS_PREFIX}*"}},
        },
        _allow("sns:Publish", ref("MediaEventsTopic")),
    ]


def fanout_statements(plan: Plan) -> list[Template]:
    return [
        *_common_statements(plan, "fanout"),
        # Large audiences are cut into chunk messages sent back to the same queue.
        _allow([*_QUEUE_CONSUME, "sqs:SendMessage"], get_att("FanoutQueue", "Arn")),
        _allow(_TABLE_WRITE, _table_arn("IdempotencyTable")),
    ]


def notify_statements(plan: Plan) -> list[Template]:
    return [
        *_common_statements(plan, "notify"),
        _allow(_QUEUE_CONSUME, get_att("NotificationsQueue", "Arn")),
        _allow(_TABLE_WRITE, _table_arn("IdempotencyTable")),
        # Pushes, and a device SNS disabled is deleted.
        _allow(["sns:Publish", "sns:DeleteEndpoint"], _endpoint_arns()),
    ]


def ops_statements(plan: Plan) -> list[Template]:
    return [
        *_common_statements(plan, "ops"),
        # Migrations create the shard map; moves rewrite it with conditional writes.
        _allow(_TABLE_WRITE, _table_arn("ShardMapTable")),
        _allow(
            "secretsmanager:GetSecretValue",
            [ref(secret_id(name)) for name in plan.databases],
        ),
        # `dlq replay` takes letters from the dead-letter queues back to their queues.
        _allow([*_QUEUE_CONSUME, "sqs:SendMessage"], [get_att(q, "Arn") for q in _QUEUES]),
    ]


def ops_environment(plan: Plan) -> dict[str, Any]:
    """Operators connect to the instances themselves, with their own credentials."""
    return {
        **environment(plan, "ops"),
        "PHOTOFEED_ADMIN_DATABASES": admin_dsns(plan),
        "PHOTOFEED_ADMIN_DATABASE_SECRETS": admin_secrets(plan),
    }


_QUEUES = (
    "UploadsQueue",
    "UploadsDeadLetterQueue",
    "FanoutQueue",
    "FanoutDeadLetterQueue",
    "NotificationsQueue",
    "NotificationsDeadLetterQueue",
)
_TABLES = ("ShardMapTable", "NameClaimsTable", "SessionsTable", "IdempotencyTable")
_STATEMENTS = {
    "thumbnail": thumbnail_statements,
    "fanout": fanout_statements,
    "notify": notify_statements,
    "ops": ops_statements,
}


def _role(statements: list[Template], description: str) -> Template:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": description,
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": "least-privilege",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                }
            ],
        },
    }


def function_resources(plan: Plan) -> Template:
    made: Template = {}
    for f in FUNCTIONS:
        role_id = f"{f.role.capitalize()}Role"
        made[role_id] = _role(_STATEMENTS[f.role](plan), f"Photofeed {plan.stage}: {f.role}")
        made[f"{f.role.capitalize()}LogGroup"] = _log_group(plan, f.role)
        properties: Template = {
            "FunctionName": plan.function_name(f.role),
            "Runtime": f.runtime.name,
            "Architectures": [ARCHITECTURE],
            "Handler": f.handler,
            "CodeUri": f"./{f.zip_name}",
            "MemorySize": f.memory,
            "Timeout": f.timeout,
            "EphemeralStorage": {"Size": f.ephemeral_storage},
            "Tracing": "Active",
            "Role": get_att(role_id, "Arn"),
            "VpcConfig": vpc_config(f.security_group),
            "Environment": {
                "Variables": ops_environment(plan) if f.role == "ops" else environment(plan, f.role)
            },
        }
        if f.queue:
            properties["Events"] = {
                "Queue": {
                    "Type": "SQS",
                    "Properties": {
                        "Queue": get_att(f.queue, "Arn"),
                        "BatchSize": f.batch_size,
                        "MaximumBatchingWindowInSeconds": BATCH_WINDOW_SECONDS,
                        "FunctionResponseTypes": ["ReportBatchItemFailures"],
                        # Not reserved concurrency: throttled SQS deliveries would
                        # count as receives and dead-letter healthy messages.
                        "ScalingConfig": {"MaximumConcurrency": f.max_concurrency},
                    },
                }
            }
        made[f.logical_id] = {
            "Type": "AWS::Serverless::Function",
            "DependsOn": [f"{f.role.capitalize()}LogGroup"],
            "Properties": properties,
        }
    return made


def api_overrides(plan: Plan) -> Template:
    """What the template adds to the resources `chalice package` generates for the API."""
    return {
        "ApiLogGroup": _log_group(plan, "api"),
        "APIHandler": {
            "DependsOn": ["ApiLogGroup"],
            "Properties": {
                "FunctionName": plan.function_name("api"),
                "VpcConfig": vpc_config(),
                "Environment": {"Variables": environment(plan, "api")},
            },
        },
        # Chalice's own policy grants logs on every group and nothing we use: replaced.
        "DefaultRole": {
            "Properties": {
                "Policies": [
                    {
                        "PolicyName": "least-privilege",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": api_statements(plan),
                        },
                    }
                ]
            }
        },
    }
