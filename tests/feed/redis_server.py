"""The test session's redis-server, which a test may kill (SIGKILL) and start again, empty,
on the same port with the same command line: an ElastiCache node replaced by a new one.

Only the session's private stack (tests/conftest.py) is touched: its redis-server is the
process listening on the port of the stack's PHOTOFEED_REDIS_URL, and it is started
again through the stack's own Process, so the stack still stops it at the end. A stack
given by PHOTOFEED_STACK_ENV is left alone (devstack's watchdog would stop all of it on
seeing its Redis die).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import redis

from devstack.processes import Process, start_time
from devstack.stack import Stack
from tests import conftest

_LISTEN = "0A"  # TCP_LISTEN, as /proc/net/tcp spells it


class RedisServer:
    """The private stack's running redis-server."""

    def __init__(self, stack: Stack, url: str) -> None:
        self.url = url
        self.port = redis.connection.parse_url(url)["port"]
        self._stack = stack
        pid = _listener(self.port)
        found = [p for p in stack.processes if p.name == "redis" and p.pid == pid]
        if pid is None or not found:
            raise AssertionError(f"the stack's redis-server does not listen on {self.port}")
        self._process: Process = found[0]

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def kill(self) -> None:
        """SIGKILL the server (no shutdown, nothing saved); return once its port is closed."""
        assert self._process.popen is not None
        os.kill(self._process.popen.pid, signal.SIGKILL)
        self._process.popen.wait(timeout=10)
        _wait(lambda: _listener(self.port) is None, "the port to close")

    def start(self) -> None:
        """Start the same command line again: an empty server on the same port."""
        self._process.start()
        started = [(p.pid, start_time(p.pid)) for p in self._stack.processes if p.pid]
        self._stack.pids_file.write_text(json.dumps(started))  # as Stack keeps it
        _wait(self.answers, "the restarted redis-server to answer")

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False


def private_stack() -> Stack | None:
    """The stack this test session started, if it started one."""
    return conftest._stack


def _listener(port: int) -> int | None:
    """The pid of the process listening on TCP `port`, found through /proc."""
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                sockets.add(f"socket:[{inode}]")
    if not sockets:
        return None
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _holds_any(entry, sockets):
            return int(entry.name)
    return None


def _holds_any(process: Path, sockets: set[str]) -> bool:
    try:
        descriptors = list((process / "fd").iterdir())
    except OSError:
        return False
    for descriptor in descriptors:
        try:
            if os.readlink(descriptor) in sockets:
                return True
        except OSError:
            continue
    return False


def _wait(condition: Callable[[], bool], what: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within} s for {what}")
        time.sleep(0.05)
