"""ElastiCache for Redis and the physical PostgreSQL databases behind their RDS proxies."""

from __future__ import annotations

import json

from deploy.cfn import Plan, Template, get_att, ref, sub, tags
from deploy.network import POSTGRES_PORT, REDIS_PORT, group_id, subnet_ids

POSTGRES_VERSION = "17.7"
POSTGRES_FAMILY = "postgres17"
REDIS_VERSION = "7.1"
DATABASE_NAME = "photofeed"
DATABASE_USER = "photofeed"
# How long a client waits for the proxy to lend it a database connection: well below
# API Gateway's 29 s, so a saturated pool answers in time, with an error we can shed.
BORROW_TIMEOUT_SECONDS = 5
# What the application never sets itself (a SET would pin proxy connections).
STATEMENT_TIMEOUT_MS = 5000
IDLE_IN_TRANSACTION_TIMEOUT_MS = 10000
# Operators' sessions: a shard move holds one side's transaction open while the other
# copies, so neither the statement timeout nor the idle-in-transaction one may apply.
ADMIN_OPTIONS = "-c%20statement_timeout%3D0%20-c%20idle_in_transaction_session_timeout%3D0"
# Storage autoscaling's ceiling per database; more means another physical database.
MAX_STORAGE_GIB = 4000

# Template parameters this part reads.
PARAMETERS: Template = {
    "DatabaseInstanceClass": {
        "Type": "String",
        "Default": "db.r7g.large",
        "AllowedPattern": "db\\.[a-z0-9]+\\.[a-z0-9]+",
        "Description": "Instance class of every physical PostgreSQL database",
    },
    "DatabaseStorageGiB": {
        "Type": "Number",
        "Default": 100,
        "MinValue": 20,
        "MaxValue": 2000,
        "Description": "Initial storage of each database, in GiB (it grows by itself)",
    },
    "RedisNodeType": {
        "Type": "String",
        "Default": "cache.r7g.large",
        "AllowedPattern": "cache\\.[a-z0-9]+\\.[a-z0-9]+",
        "Description": "Node type of the Redis cluster",
    },
    "RedisShards": {
        "Type": "Number",
        "Default": 2,
        "MinValue": 1,
        "MaxValue": 500,
        "Description": "Node groups (shards) of the Redis cluster; each has one replica",
    },
}


def secret_id(name: str) -> str:
    return f"{Plan.database_id(name)}Secret"


def proxy_id(name: str) -> str:
    return f"{Plan.database_id(name)}Proxy"


def proxy_name(plan: Plan, name: str) -> str:
    return f"{plan.prefix}-{name}"


def redis_resources(plan: Plan) -> Template:
    return {
        "RedisAuthSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Name": f"{plan.prefix}/redis-auth",
                "Description": "Redis AUTH token (read by the functions at start)",
                # ElastiCache takes 16-128 printable characters, without @, " or /.
                "GenerateSecretString": {
                    "SecretStringTemplate": "{}",
                    "GenerateStringKey": "token",
                    "PasswordLength": 64,
                    "ExcludePunctuation": True,
                },
            },
        },
        "RedisSubnetGroup": {
            "Type": "AWS::ElastiCache::SubnetGroup",
            "Properties": {
                "Description": f"Photofeed {plan.stage}: Redis",
                "SubnetIds": subnet_ids(),
            },
        },
        "RedisParameters": {
            "Type": "AWS::ElastiCache::ParameterGroup",
            "Properties": {
                "CacheParameterGroupFamily": "redis7",
                "Description": f"Photofeed {plan.stage}: cluster mode, evict any key",
                "Properties": {
                    "cluster-enabled": "yes",
                    # Everything in Redis is derived and rebuilt on a miss: under memory
                    # pressure any key may go, least recently used first.
                    "maxmemory-policy": "allkeys-lru",
                },
            },
        },
        "Redis": {
            "Type": "AWS::ElastiCache::ReplicationGroup",
            "Properties": {
                "ReplicationGroupId": plan.prefix,
                "ReplicationGroupDescription": f"Photofeed {plan.stage}: feeds, caches, counters",
                "Engine": "redis",
                "EngineVersion": REDIS_VERSION,
                "CacheNodeType": ref("RedisNodeType"),
                "CacheParameterGroupName": ref("RedisParameters"),
                "CacheSubnetGroupName": ref("RedisSubnetGroup"),
                "SecurityGroupIds": [group_id("Redis")],
                "Port": REDIS_PORT,
                "NumNodeGroups": ref("RedisShards"),
                "ReplicasPerNodeGroup": 1,
                "AutomaticFailoverEnabled": True,
                "MultiAZEnabled": True,
                "TransitEncryptionEnabled": True,
                "AtRestEncryptionEnabled": True,
                "AuthToken": sub(
                    "{{resolve:secretsmanager:${RedisAuthSecret}:SecretString:token}}"
                ),
                "AutoMinorVersionUpgrade": True,
                # Derived data only: nothing to restore from a snapshot.
                "SnapshotRetentionLimit": 0,
                "Tags": tags(plan),
            },
        },
    }


def database_resources(plan: Plan) -> Template:
    made: Template = {
        "DatabaseSubnetGroup": {
            "Type": "AWS::RDS::DBSubnetGroup",
            "Properties": {
                "DBSubnetGroupDescription": f"Photofeed {plan.stage}: PostgreSQL",
                "SubnetIds": subnet_ids(),
            },
        },
        "DatabaseParameters": {
            "Type": "AWS::RDS::DBParameterGroup",
            "Properties": {
                "Family": POSTGRES_FAMILY,
                "Description": f"Photofeed {plan.stage}: timeouts set by the server",
                "Parameters": {
                    "statement_timeout": str(STATEMENT_TIMEOUT_MS),
                    "idle_in_transaction_session_timeout": str(IDLE_IN_TRANSACTION_TIMEOUT_MS),
                    "log_min_duration_statement": "500",
                    "rds.force_ssl": "1",
                },
            },
        },
        "ProxyRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": "RDS Proxy reads the databases' credentials",
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "rds.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "read-database-secrets",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "secretsmanager:GetSecretValue",
                                    "Resource": [ref(secret_id(n)) for n in plan.databases],
                                }
                            ],
                        },
                    }
                ],
            },
        },
    }
    for name in plan.databases:
        made.update(_database(plan, name))
    return made


def _database(plan: Plan, name: str) -> Template:
    stem = Plan.database_id(name)
    secret = secret_id(name)
    return {
        secret: {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Name": f"{plan.prefix}/{name}",
                "Description": f"PostgreSQL {name}: the proxy's and operators' credentials",
                "GenerateSecretString": {
                    "SecretStringTemplate": f'{{"username": "{DATABASE_USER}"}}',
                    "GenerateStringKey": "password",
                    "PasswordLength": 40,
                    "ExcludeCharacters": "\"@/\\' ",
                },
            },
        },
        stem: {
            "Type": "AWS::RDS::DBInstance",
            "DeletionPolicy": "Snapshot",
            "UpdateReplacePolicy": "Snapshot",
            "Properties": {
                "DBInstanceIdentifier": f"{plan.prefix}-{name}",
                "Engine": "postgres",
                "EngineVersion": POSTGRES_VERSION,
                "DBInstanceClass": ref("DatabaseInstanceClass"),
                "DBName": DATABASE_NAME,
                "MasterUsername": sub(
                    f"{{{{resolve:secretsmanager:${{{secret}}}:SecretString:username}}}}"
                ),
                "MasterUserPassword": sub(
                    f"{{{{resolve:secretsmanager:${{{secret}}}:SecretString:password}}}}"
                ),
                "AllocatedStorage": ref("DatabaseStorageGiB"),
                "MaxAllocatedStorage": MAX_STORAGE_GIB,
                "StorageType": "gp3",
                "StorageEncrypted": True,
                "MultiAZ": True,
                "PubliclyAccessible": False,
                "DBSubnetGroupName": ref("DatabaseSubnetGroup"),
                "DBParameterGroupName": ref("DatabaseParameters"),
                "VPCSecurityGroups": [group_id("Databases")],
                "BackupRetentionPeriod": 14,
                "CopyTagsToSnapshot": True,
                "DeletionProtection": True,
                "EnablePerformanceInsights": True,
                "AutoMinorVersionUpgrade": True,
                "Tags": tags(plan, database=name),
            },
        },
        f"{secret}Attachment": {
            "Type": "AWS::SecretsManager::SecretTargetAttachment",
            "Properties": {
                "SecretId": ref(secret),
                "TargetId": ref(stem),
                "TargetType": "AWS::RDS::DBInstance",
            },
        },
        proxy_id(name): {
            "Type": "AWS::RDS::DBProxy",
            "Properties": {
                "DBProxyName": proxy_name(plan, name),
                "EngineFamily": "POSTGRESQL",
                "RoleArn": get_att("ProxyRole", "Arn"),
                "Auth": [
                    {
                        "AuthScheme": "SECRETS",
                        "SecretArn": ref(secret),
                        "IAMAuth": "REQUIRED",
                        "ClientPasswordAuthType": "POSTGRES_SCRAM_SHA_256",
                    }
                ],
                "RequireTLS": True,
                "IdleClientTimeout": 1800,
                "VpcSubnetIds": subnet_ids(),
                "VpcSecurityGroupIds": [group_id("Proxies")],
                "Tags": [{"Key": "stage", "Value": plan.stage}, {"Key": "database", "Value": name}],
            },
        },
        f"{proxy_id(name)}Targets": {
            "Type": "AWS::RDS::DBProxyTargetGroup",
            "DependsOn": [f"{secret}Attachment"],
            "Properties": {
                "DBProxyName": ref(proxy_id(name)),
                "TargetGroupName": "default",
                "DBInstanceIdentifiers": [ref(stem)],
                "ConnectionPoolConfigurationInfo": {
                    "ConnectionBorrowTimeout": BORROW_TIMEOUT_SECONDS,
                    "MaxConnectionsPercent": 90,
                    "MaxIdleConnectionsPercent": 30,
                },
            },
        },
    }


def _json_sub(values: dict[str, str]) -> Template:
    """A JSON object (a setting of dicts) whose values name resources: ${Id.Attribute}."""
    return sub(json.dumps(values))


def database_dsns(plan: Plan) -> Template:
    """PHOTOFEED_DATABASES for the functions: each database through its proxy, IAM auth."""
    return _json_sub(
        {
            name: f"postgresql://{DATABASE_USER}@${{{proxy_id(name)}.Endpoint}}:{POSTGRES_PORT}"
            f"/{DATABASE_NAME}?sslmode=require"
            for name in plan.databases
        }
    )


def admin_dsns(plan: Plan) -> Template:
    """PHOTOFEED_ADMIN_DATABASES for operators: each instance itself, without timeouts."""
    return _json_sub(
        {
            name: f"postgresql://{DATABASE_USER}@${{{Plan.database_id(name)}.Endpoint.Address}}"
            f":{POSTGRES_PORT}/{DATABASE_NAME}?sslmode=require&options={ADMIN_OPTIONS}"
            for name in plan.databases
        }
    )


def admin_secrets(plan: Plan) -> Template:
    """PHOTOFEED_ADMIN_DATABASE_SECRETS: where operators read each database's password."""
    return _json_sub({name: f"${{{secret_id(name)}}}" for name in plan.databases})


def redis_url() -> Template:
    return sub(
        "rediss://${Redis.ConfigurationEndPoint.Address}:${Redis.ConfigurationEndPoint.Port}/0"
    )


def proxy_user_arns(plan: Plan) -> list[Template]:
    """What `rds-db:connect` names: the database user behind each proxy."""
    return [
        {
            "Fn::Sub": [
                "arn:${AWS::Partition}:rds-db:${AWS::Region}:${AWS::AccountId}:dbuser:"
                f"${{ProxyId}}/{DATABASE_USER}",
                # The proxy's resource ID (prx-...) is the last part of its ARN.
                {
                    "ProxyId": {
                        "Fn::Select": [
                            6,
                            {"Fn::Split": [":", get_att(proxy_id(name), "DBProxyArn")]},
                        ]
                    }
                },
            ]
        }
        for name in plan.databases
    ]
