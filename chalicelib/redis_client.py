"""Redis as the domain uses it, on one node locally or a cluster in AWS (ElastiCache's
cluster mode), with the same code.

- `REDIS_ERRORS`: what "Redis is away" raises. redis-py's cluster client raises
  `RedisClusterException`, which is not a `RedisError`, when it cannot reach any node.
- `run_scripts`: Lua scripts in one pipeline round trip. redis-py refuses script objects
  in cluster pipelines, so EVALSHA is queued as a plain command (routed by its keys).
- `LazyCluster`: a cluster client that connects at its first command. redis-py's asks
  the cluster for its slots when built, which would make a Lambda's cold start fail,
  instead of its requests degrading, while Redis is away.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from redis.commands.core import Script
from redis.connection import Encoder
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)
from redis.exceptions import (
    NoScriptError,
    RedisClusterException,
    RedisError,
)

REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, RedisClusterException)

# One script call: the script, its keys, its arguments.
ScriptCall = tuple[Script, Sequence[Any], Sequence[Any]]


def run_scripts(cache: Any, calls: Sequence[ScriptCall]) -> list[Any]:
    """Each call's result, in order, from one pipeline. A script the server does not
    know yet (a new or restarted node) answers NOSCRIPT without running: only those calls
    are run again, on their own, which loads the script. Any other error is raised."""
    if not calls:
        return []
    with cache.pipeline(transaction=False) as pipe:
        for script, keys, args in calls:
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        results = pipe.execute(raise_on_error=False)
    for i, result in enumerate(results):
        if isinstance(result, NoScriptError):
            script, keys, args = calls[i]
            results[i] = script(keys=keys, args=args)
        elif isinstance(result, Exception):
            raise result
    return results


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
                    except RedisClusterException as exc:
                        raise RedisConnectionError(str(exc)) from exc
        return self._client

    def register_script(self, script: str) -> Script:
        return Script(self, script)

    def get_encoder(self) -> Encoder:
        """What Script hashes its text with: redis-py's defaults, as Clients builds it."""
        return Encoder(encoding="utf-8", encoding_errors="strict", decode_responses=False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cluster(), name)
