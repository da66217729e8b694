"""Clients of the datastores and AWS services, built once per process from Settings.

Entry points (app.py, the Lambda handlers) build one `Clients` and pass what the
domain needs; domain functions never build a client themselves.

Every client is built at its first use, and the libraries behind it (boto3, redis-py)
are imported then too: a Lambda's cold start pays only for what its first request uses.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import TYPE_CHECKING, Any

from chalicelib.config import Settings
from chalicelib.shards.connections import Databases, PasswordSource

if TYPE_CHECKING:
    import redis

    from chalicelib.shards.routing import Router
    from chalicelib.shards.shard_map import CachedShardMap, ShardMapStore

# Fail fast: an API request has 29 s at most, and a slow dependency should shed, not pile up.
_AWS_TIMEOUTS = {"connect_timeout": 2, "read_timeout": 5}
_AWS_RETRIES = {"max_attempts": 3, "mode": "standard"}
_REDIS_TIMEOUT_SECONDS = 2


class Clients:
    """Lazily built, process-wide clients of one deployment's dependencies."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _aws(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            service,
            region_name=self.settings.region,
            endpoint_url=self.settings.endpoint_url,
            config=Config(**_AWS_TIMEOUTS, retries=_AWS_RETRIES),
        )

    @cached_property
    def s3(self) -> Any:
        return self._aws("s3")

    @cached_property
    def sqs(self) -> Any:
        return self._aws("sqs")

    @cached_property
    def sns(self) -> Any:
        return self._aws("sns")

    @cached_property
    def dynamodb(self) -> Any:
        return self._aws("dynamodb")

    @cached_property
    def rds(self) -> Any:
        return self._aws("rds")

    @cached_property
    def secrets(self) -> Any:
        return self._aws("secretsmanager")

    @cached_property
    def redis(self) -> redis.Redis:
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        s = self.settings
        options: dict[str, Any] = {
            "socket_timeout": _REDIS_TIMEOUT_SECONDS,
            "socket_connect_timeout": _REDIS_TIMEOUT_SECONDS,
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        }
        if s.redis_auth_secret_arn:
            from chalicelib.redis_client import SecretToken

            options["credential_provider"] = SecretToken(self.redis_auth_token)
        if s.redis_cluster:
            from redis.cluster import RedisCluster

            from chalicelib.redis_client import LazyCluster

            # Cluster mode routes every command by its key's hash slot, behind the same
            # API: the domain code does not know the difference (see redis_client).
            url = str(s.redis_url)
            return LazyCluster(lambda: RedisCluster.from_url(url, **options))  # type: ignore[return-value]
        from redis import Redis

        return Redis.from_url(str(s.redis_url), health_check_interval=30, **options)

    def redis_auth_token(self) -> str:
        """ElastiCache's AUTH token, read from its secret (see Settings)."""
        secret = self.secrets.get_secret_value(SecretId=self.settings.redis_auth_secret_arn)
        return json.loads(secret["SecretString"])["token"]

    def database_token(self, host: str, port: int, user: str) -> str:
        """An IAM auth token for one connection to RDS Proxy (signed here, no request)."""
        return self.rds.generate_db_auth_token(
            DBHostname=host, Port=port, DBUsername=user, Region=self.settings.region
        )

    @cached_property
    def databases(self) -> Databases:
        s = self.settings
        password = self.database_token if s.database_iam_auth else None
        return Databases({name: str(dsn) for name, dsn in s.databases.items()}, password)

    @cached_property
    def admin_databases(self) -> Databases:
        """Operators' connections (see Settings.admin_databases): straight to the
        databases with their own credentials when set, else the application's."""
        s = self.settings
        if not s.admin_databases:
            dsns = {name: str(dsn) for name, dsn in s.databases.items()}
            return Databases(dsns, self.database_token if s.database_iam_auth else None)
        dsns = {name: str(dsn) for name, dsn in s.admin_databases.items()}
        password = self._secret_passwords(dsns) if s.admin_database_secrets else None
        return Databases(dsns, password)

    def _secret_passwords(self, dsns: dict[str, str]) -> PasswordSource:
        """Each database's password, read from its secret at every new connection (so a
        rotated password is picked up)."""
        from psycopg2.extensions import parse_dsn

        secrets = self.settings.admin_database_secrets
        by_host = {parse_dsn(dsn)["host"]: secrets[name] for name, dsn in dsns.items()}

        def password(host: str, port: int, user: str) -> str:
            secret = self.secrets.get_secret_value(SecretId=by_host[host])
            return json.loads(secret["SecretString"])["password"]

        return password

    @cached_property
    def shard_map_store(self) -> ShardMapStore:
        from chalicelib.shards.shard_map import ShardMapStore

        s = self.settings
        return ShardMapStore(s.shard_map_table, s.region, s.endpoint_url)

    @cached_property
    def shard_map(self) -> CachedShardMap:
        from chalicelib.shards.shard_map import CachedShardMap

        return CachedShardMap(self.shard_map_store, self.settings.shard_map_ttl_seconds)

    @cached_property
    def router(self) -> Router:
        from chalicelib.shards.routing import Router

        return Router(self.databases, self.shard_map)
