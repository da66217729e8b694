"""The whole local stack: PostgreSQL, Redis, moto, the API and the event pump."""

from __future__ import annotations

import fcntl
import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from devstack import services
from devstack.processes import Process, port_is_free, start_time
from devstack.provision import provision

# moto accepts any credentials; these keep boto3 from looking for real ones.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
RESOURCE_PREFIX = "photofeed-local"
# Enough to spread over both databases and move some around; AWS stages use thousands.
LOCAL_LOGICAL_SHARDS = 64


class StackBusy(RuntimeError):
    """Raised when a stack already runs from the directory, or the API port is taken."""


@dataclass
class Stack:
    """A private local stack whose files all live under `directory`."""

    directory: Path
    api_port: int = 8000
    logical_shards: int = LOCAL_LOGICAL_SHARDS
    processes: list[Process] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    _lock_fd: int | None = None

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    @property
    def env_file(self) -> Path:
        return self.directory / "stack.env"

    @property
    def pids_file(self) -> Path:
        return self.directory / "stack.pids"

    def lock(self) -> None:
        """Claim the directory for this stack; StackBusy if another stack has it."""
        if self._lock_fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _lock(self.directory)

    def start(self) -> dict[str, str]:
        """Start every service, ready to serve; returns the stack's environment."""
        self.lock()
        if not port_is_free(self.api_port):
            self.stop()
            raise StackBusy(f"port {self.api_port} is taken: is another stack up?")
        self.logs.mkdir(exist_ok=True)
        self.env_file.unlink(missing_ok=True)
        try:
            self._start_all()
        except BaseException:
            self.stop()
            raise
        self.env_file.write_text(
            "".join(f"{key}={shlex.quote(value)}\n" for key, value in sorted(self.env.items()))
        )
        return self.env

    def _start_all(self) -> None:
        base = {
            **os.environ,
            **FAKE_AWS,
            "PYTHONUNBUFFERED": "1",
            # No X-Ray daemon locally; logs and EMF metrics print as JSON lines.
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "Photofeed",
        }
        pg_port, names = services.start_postgres(self.directory, self.logs, self._track)
        dsns = services.start_pgbouncer(self.directory, self.logs, self._track, pg_port, names)
        redis_url = services.start_redis(self.directory, self.logs, self._track)
        aws_url = services.start_moto(self.logs, base, self._track)
        resources = provision(services.moto_session(base), aws_url, RESOURCE_PREFIX)
        api_url = f"http://127.0.0.1:{self.api_port}"
        settings = {
            "PHOTOFEED_STAGE": "local",
            "PHOTOFEED_AWS_ENDPOINT_URL": aws_url,
            # The application reaches PostgreSQL only through PgBouncer (transaction
            # pooling), as it reaches RDS only through RDS Proxy in AWS.
            "PHOTOFEED_DATABASES": json.dumps(dsns),
            "PHOTOFEED_ADMIN_DATABASES": json.dumps(services.admin_dsns(pg_port)),
            "PHOTOFEED_LOGICAL_SHARDS": str(self.logical_shards),
            "PHOTOFEED_REDIS_URL": redis_url,
            # The API's stand-in for the CDN (devstack/api.py): renditions only.
            "PHOTOFEED_PUBLIC_MEDIA_BASE_URL": f"{api_url}{services.CDN_PATH}",
            **resources,
        }
        self.env = {
            **FAKE_AWS,
            **settings,
            "AWS_ENDPOINT_URL": aws_url,  # for the aws CLI and scripts
            "PHOTOFEED_API_URL": api_url,
            "PHOTOFEED_STACK_DIR": str(self.directory),
            "PHOTOFEED_POSTGRES_DIRECT": services.direct_dsn(pg_port, "postgres"),
        }
        services.migrate(self.logs, {**base, **self.env})
        services.start_api(self.logs, {**base, **self.env}, self.api_port, self._track)
        services.start_pump(self.logs, {**base, **self.env}, self._track)

    def _track(self, process: Process) -> None:
        self.processes.append(process)
        started = [(p.pid, start_time(p.pid)) for p in self.processes if p.pid]
        self.pids_file.write_text(json.dumps(started))

    def dead(self) -> list[str]:
        """The names of services that have died."""
        return [p.name for p in self.processes if not p.alive()]

    def stop(self) -> None:
        """Stop every service, newest first, and give up the directory."""
        self.stop_services()
        self.release()

    def stop_services(self) -> None:
        """Stop every service, newest first; nothing is left running."""
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        self.env_file.unlink(missing_ok=True)
        self.pids_file.unlink(missing_ok=True)

    def release(self) -> None:
        """Give up the directory's lock."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    def describe(self) -> str:
        """The endpoints, for people."""
        databases = json.loads(self.env["PHOTOFEED_DATABASES"])
        lines = [
            f"API          {self.env['PHOTOFEED_API_URL']}  (try /health, /openapi.json)",
            f"AWS (moto)   {self.env['PHOTOFEED_AWS_ENDPOINT_URL']}",
            *(f"PgBouncer    {name}: {dsn}" for name, dsn in databases.items()),
            f"PostgreSQL   direct: {self.env['PHOTOFEED_POSTGRES_DIRECT']}",
            f"Redis        {self.env['PHOTOFEED_REDIS_URL']}",
            f"Bucket       {self.env['PHOTOFEED_BUCKET']}",
            f"Logs         {self.logs}/",
            f"Environment  {self.env_file}  (source it in a shell)",
        ]
        return "\n".join(lines)


def _lock(directory: Path) -> int:
    """Hold the directory's lock for as long as the stack runs; StackBusy if held."""
    fd = os.open(directory / "stack.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StackBusy(f"a stack already runs from {directory} (`make down` stops it)") from None
    return fd


def is_running(directory: Path) -> bool:
    """Whether a stack holds the directory's lock right now."""
    try:
        os.close(_lock(directory))
    except StackBusy:
        return True
    except FileNotFoundError:
        return False
    return False
