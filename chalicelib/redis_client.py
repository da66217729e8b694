"""Redis as the domain uses it, on one node locally or a cluster in AWS (ElastiCache's
cluster mode), with the same code.

- `REDIS_ERRORS`: what "Redis is away" raises. redis-py's cluster client raises
  `RedisClusterException`, which is not a `RedisError`, when it cannot reach any node.
- `run_scripts`: Lua scripts in one pipeline round trip. redis-py refuses script objects
  in cluster pipelines, so EVALSHA is queued as a plain command (routed by its keys).
- `LazyCluster`: a cluster client that connects at its first command. redis-py's asks
  the cluster for its slots when built, which would make a Lambda's cold start fail,
  instead of its requests degrading, while Redis is away.
- `SecretToken`: the AUTH token, read from its secret when a connection authenticates
  and kept a few minutes, so a rotated token reaches new connections.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from redis.commands.core import Script
from redis.connection import Encoder
from redis.credentials import CredentialProvider
from redis.exceptions import (
    AuthenticationError,
    NoScriptError,
    RedisClusterException,
    RedisError,
)
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)

REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, RedisClusterException)

# One script call: the script, its keys, its arguments.
ScriptCall = tuple[Script, Sequence[Any], Sequence[Any]]


def run_scripts(cache: Any, calls: Sequence[ScriptCall]) -> list[Any]:
    """Each call's result, in order, from one pipeline. A script the server does not
    know yet (a new or restarted node) answers NOSCRIPT without running: the scripts are
    then loaded (on every node of a cluster) and only those calls run again, in their
    order, in one more pipeline. Any other error is raised."""
    results = _evalsha(cache, calls)
    missed = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    if missed:
        for script in {id(calls[i][0]): calls[i][0] for i in missed}.values():
            script.sha = cache.script_load(script.script)
        for i, result in zip(missed, _evalsha(cache, [calls[i] for i in missed]), strict=True):
            results[i] = result
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


def _evalsha(cache: Any, calls: Sequence[ScriptCall]) -> list[Any]:
    if not calls:
        return []
    with cache.pipeline(transaction=False) as pipe:
        for script, keys, args in calls:
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        return pipe.execute(raise_on_error=False)


class LazyCluster:
    """A `RedisCluster` built at its first command; until then, failing to reach the
    cluster raises redis-py's ConnectionError at that command, as a lost node would."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._client: Any = None
        self._lock = threading.Lock()

    def _cluster(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    try:
                        self._client = self._connect()
                    except RedisError:
                        raise
                    except Exception as exc:  # the cluster, or its AUTH secret, unreachable
                        raise RedisConnectionError(f"Redis unreachable: {exc}") from exc
        return self._client

    def register_script(self, script: str) -> Script:
        return Script(self, script)

    def get_encoder(self) -> Encoder:
        """What Script hashes its text with: redis-py's defaults, as Clients builds it."""
        return Encoder(encoding="utf-8", encoding_errors="strict", decode_responses=False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cluster(), name)


class SecretToken(CredentialProvider):
    """Redis's AUTH token, read with `read` (from Secrets Manager) when a connection
    authenticates, and kept for `ttl_seconds`: a rotated token reaches new connections
    without a restart. A failed read is an AuthenticationError: Redis is away."""

    def __init__(self, read: Callable[[], str], ttl_seconds: float = 300) -> None:
        self._read = read
        self._ttl = ttl_seconds
        self._token: str | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def get_credentials(self) -> tuple[str]:
        with self._lock:
            if self._token is None or time.monotonic() - self._read_at > self._ttl:
                try:
                    self._token = self._read()
                except Exception as exc:
                    # The exception's type only: never anything that could hold the token.
                    raise AuthenticationError(
                        f"the Redis AUTH secret could not be read ({type(exc).__name__})"
                    ) from exc
                self._read_at = time.monotonic()
            return (self._token,)
