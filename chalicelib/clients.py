"""Clients of the datastores and AWS services, built once per process from Settings.

Entry points (app.py, the Lambda handlers) build one `Clients` and pass what the
domain needs; domain functions never build a client themselves.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import boto3
import redis
from botocore.config import Config
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from chalicelib.config import Settings
from chalicelib.shards.connections import Databases
from chalicelib.shards.routing import Router
from chalicelib.shards.shard_map import CachedShardMap, ShardMapStore

# Fail fast: an API request has 29 s at most, and a slow dependency should shed, not pile up.
_AWS_CONFIG = Config(
    connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"}
)


class Clients:
    """Lazily built, process-wide clients of one deployment's dependencies."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _aws(self, service: str) -> Any:
        return boto3.session.Session().client(
            service,
            region_name=self.settings.region,
            endpoint_url=self.settings.endpoint_url,
            config=_AWS_CONFIG,
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
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(
            str(self.settings.redis_url),
            socket_timeout=2,
            socket_connect_timeout=2,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
            health_check_interval=30,
        )

    @cached_property
    def databases(self) -> Databases:
        return Databases({name: str(dsn) for name, dsn in self.settings.databases.items()})

    @cached_property
    def admin_databases(self) -> Databases:
        """Operators' connections: see Settings.admin_databases."""
        dsns = self.settings.admin_databases or self.settings.databases
        return Databases({name: str(dsn) for name, dsn in dsns.items()})

    @cached_property
    def shard_map_store(self) -> ShardMapStore:
        s = self.settings
        return ShardMapStore(s.shard_map_table, s.region, s.endpoint_url)

    @cached_property
    def shard_map(self) -> CachedShardMap:
        return CachedShardMap(self.shard_map_store, self.settings.shard_map_ttl_seconds)

    @cached_property
    def router(self) -> Router:
        return Router(self.databases, self.shard_map)
