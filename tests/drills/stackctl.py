"""The drills' own local stack, and the faults they inflict on it.

The drills kill and restart services, and moto forgets everything when it restarts: so
they run on a second devstack Stack of their own (started once for the drills, stopped
after them), never on the session's, which every other test shares. The API process is
never restarted: each drill checks that it answers again by itself.

Faults, each as close to a real outage as the local stack allows:

- Redis: SIGKILL (no shutdown, nothing saved), then the same command line again: an
  empty server on the same port, as an ElastiCache node replaced by a new one.
- One physical database: PgBouncer's admin console (our stand-in for RDS Proxy)
  `DISABLE`s it (new connections refused) and `KILL`s its connections (those open break
  mid-statement), as when an instance dies behind its proxy; `ENABLE` and `RESUME` bring
  it back. The other database, behind the same PgBouncer, is untouched.
- moto: SIGKILL and start again on the same port (empty), then what `make dev` does at
  start: the resources provisioned and `photofeed db migrate` (the shard map).
- The pump: replaced by one started with other arguments (`--duplicate-seed`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import psycopg2
import requests

from chalicelib.clients import Clients
from chalicelib.config import Settings
from chalicelib.shards.ids import shard_of
from devstack import services
from devstack.processes import Process, free_port, start_time
from devstack.provision import provision
from devstack.stack import RESOURCE_PREFIX, Stack
from tests.conftest import BaseUrlSession, Member, new_member

# Signing up hashes a password on both cores of a small machine.
SIGN_UPS_AT_ONCE = 3


def wait_for(condition: Callable[[], Any], what: str, within: float = 20.0) -> Any:
    """Poll `condition` until it returns something true (returned); fail after `within` s."""
    deadline = time.monotonic() + within
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within} s for {what}")
        time.sleep(0.05)


class DrillStack:
    """A running stack of the drills' own, its clients, and its faults."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.env = dict(stack.env)
        self.settings = settings_of(self.env)
        self.clients = Clients(self.settings)
        self.http = BaseUrlSession(self.env["PHOTOFEED_API_URL"])

    # --- members and placement -------------------------------------------------------

    def members(self, count: int) -> list[Member]:
        """`count` new members, signed up side by side."""
        with ThreadPoolExecutor(max_workers=SIGN_UPS_AT_ONCE) as pool:
            return list(pool.map(lambda _: new_member(self.http), range(count)))

    def member_on(self, database: str) -> Member:
        """A new member whose shard lives on `database` (signing up until one does)."""
        for _ in range(40):
            member = new_member(self.http)
            if self.database_of(member.id) == database:
                return member
        raise AssertionError(f"no sign-up landed on {database}")

    def database_of(self, object_id: int) -> str:
        return self.clients.shard_map.get().database_of(shard_of(object_id))

    # --- Redis -----------------------------------------------------------------------

    def kill_redis(self) -> None:
        """SIGKILL the redis-server; return once it is gone."""
        self._kill("redis")

    def start_redis(self) -> None:
        """The same command line again: an empty Redis on the same port."""
        self._restart(self._process("redis"))
        wait_for(lambda: services._redis_ready(self.env["PHOTOFEED_REDIS_URL"]), "Redis")

    # --- PostgreSQL --------------------------------------------------------------------

    @contextmanager
    def database_down(self, name: str) -> Iterator[None]:
        """Physical database `name` is down inside the block (see the module)."""
        database = _pg_name(self.env, name)
        self._pgbouncer(f"DISABLE {database}", f"KILL {database}")
        try:
            yield
        finally:
            self._pgbouncer(f"ENABLE {database}", f"RESUME {database}")

    def _pgbouncer(self, *commands: str) -> None:
        dsn = json.loads(self.env["PHOTOFEED_DATABASES"])["db0"].rsplit("/", 1)[0]
        conn = psycopg2.connect(f"{dsn}/pgbouncer", connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                for command in commands:
                    cursor.execute(command)  # the admin console takes bare names
        finally:
            conn.close()

    # --- moto --------------------------------------------------------------------------

    def kill_moto(self) -> None:
        """SIGKILL moto (with it goes every bucket, queue, message, table and item)."""
        self._kill("moto")

    def start_moto(self) -> None:
        """moto again on its port, provisioned as at a stack's start, the shard map made."""
        self._restart(self._process("moto"))
        url = self.env["PHOTOFEED_AWS_ENDPOINT_URL"]
        wait_for(lambda: services._http_ok(f"{url}/moto-api/data.json"), "moto", within=60)
        made = provision(services.moto_session(self.env), url, RESOURCE_PREFIX)
        assert all(self.env[key] == value for key, value in made.items()), made
        services.migrate(self.stack.logs, {**os.environ, **self.env})

    # --- the pump ----------------------------------------------------------------------

    def restart_pump(self, *arguments: str) -> None:
        """Replace the event pump with one started with `arguments`."""
        process = self._process("pump")
        process.stop()
        process.argv = [sys.executable, "-m", "devstack.pump", *arguments]
        self._restart(process)

    @contextmanager
    def pump_stopped(self) -> Iterator[None]:
        """No pump inside the block: messages wait in their queues."""
        process = self._process("pump")
        process.stop()
        try:
            yield
        finally:
            self._restart(process)

    def queues_drained(self) -> bool:
        """Whether no message waits, is in flight or is delayed in any queue."""
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        for url in self.settings.queue_urls.values():
            found = self.clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)
            if any(int(value) for value in found["Attributes"].values()):
                return False
        return True

    def dead_letters(self) -> dict[str, int]:
        """How many letters each dead-letter queue holds, visible or in flight."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        counts = {}
        for name, url in self.settings.queue_urls.items():
            queue, dlq = name.removesuffix("-dlq"), name.endswith("-dlq")
            if not dlq:
                continue
            found = self.clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)
            counts[queue] = sum(int(value) for value in found["Attributes"].values())
        return counts

    # --- the API -----------------------------------------------------------------------

    def healthy(self) -> bool:
        try:
            return self.http.get("/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    # --- processes ---------------------------------------------------------------------

    def _process(self, name: str) -> Process:
        (found,) = [p for p in self.stack.processes if p.name == name]
        return found

    def _kill(self, name: str) -> None:
        """SIGKILL a service (no shutdown, nothing saved); return once it is gone."""
        process = self._process(name)
        assert process.popen is not None
        os.kill(process.popen.pid, signal.SIGKILL)
        process.popen.wait(timeout=10)

    def _restart(self, process: Process) -> None:
        """Start a stopped service again, kept in the stack's records (so it stops with it)."""
        assert not process.alive()
        process.start()
        started = [(p.pid, start_time(p.pid)) for p in self.stack.processes if p.pid]
        self.stack.pids_file.write_text(json.dumps(started))


def settings_of(env: dict[str, str]) -> Settings:
    """The Settings of a stack's environment (this process's own are the session's)."""
    with mock.patch.dict(os.environ, env):
        return Settings.from_env()


def _pg_name(env: dict[str, str], name: str) -> str:
    return json.loads(env["PHOTOFEED_DATABASES"])[name].rsplit("/", 1)[1]


@contextmanager
def drill_stack(extra_env: dict[str, str]) -> Iterator[DrillStack]:
    """A stack of the drills' own in a temporary directory, with `extra_env` for its
    services; stopped, and its files removed, afterwards."""
    stack = Stack(Path(tempfile.mkdtemp(prefix="photofeed-drills-")), api_port=free_port())
    try:
        with mock.patch.dict(os.environ, extra_env):
            stack.start()
        drills = DrillStack(stack)
        yield drills
        drills.clients.databases.close()
        drills.http.close()
    finally:
        pg_data = services.postgres_home(stack.directory)
        stack.stop()
        shutil.rmtree(pg_data, ignore_errors=True)
        shutil.rmtree(stack.directory, ignore_errors=True)
