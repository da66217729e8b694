"""How each service of the local stack is started and known to be ready."""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from hashlib import sha256
from pathlib import Path

import boto3
import psycopg2
import redis
from psycopg2 import sql

from devstack.processes import Process, free_port, run, unprivileged_user

ROOT = Path(__file__).resolve().parent.parent
PG_SUPERUSER = "photofeed"
# Two physical databases, as in AWS: logical shards are spread over them.
PHYSICAL_DATABASES = ("db0", "db1")
MIN_POSTGRES = 15
MIN_REDIS = 7
# Called with each service as soon as it is started, so that nothing escapes a stop.
Track = Callable[[Process], None]


def postgres_bindir() -> Path:
    """The newest system PostgreSQL server binaries, checked to be version 15 or newer."""
    candidates = sorted(
        (int(p.name), p / "bin")
        for p in Path("/usr/lib/postgresql").glob("*")
        if p.name.isdigit() and (p / "bin" / "postgres").exists()
    )
    found = shutil.which("postgres")
    bindir = candidates[-1][1] if candidates else Path(found).resolve().parent if found else None
    if bindir is None:
        raise RuntimeError("PostgreSQL server not found: `make setup` installs it")
    _require_version(str(bindir / "postgres"), r"\) (\d+)", MIN_POSTGRES, "PostgreSQL")
    return bindir


def _require_version(program: str, pattern: str, minimum: int, name: str) -> None:
    """Fail with a clear message when `program --version` is older than `minimum`."""
    printed = subprocess.run(
        [program, "--version"], check=False, capture_output=True, text=True
    ).stdout
    match = re.search(pattern, printed)
    if not match or int(match[1]) < minimum:
        raise RuntimeError(f"{name} {minimum}+ needed, found: {printed.strip() or program}")


def _reachable_by(path: Path, uid: int) -> bool:
    """Whether user `uid` may walk down to `path` (every ancestor searchable by it)."""
    for ancestor in [path, *path.parents]:
        if not ancestor.exists():
            continue
        mode = ancestor.stat()
        if mode.st_uid != uid and not mode.st_mode & stat.S_IXOTH:
            return False
    return True


def postgres_data_dir(stack_dir: Path) -> Path:
    """Where PostgreSQL keeps its files: in the stack directory when its user can reach it.

    As root, PostgreSQL runs as an unprivileged user who may not reach a checkout under
    /root; its files then go to a private directory under /tmp, linked from the stack's.
    """
    user = unprivileged_user()
    if user is None or _reachable_by(stack_dir, user.pw_uid):
        return stack_dir / "pg"
    digest = sha256(str(stack_dir).encode()).hexdigest()[:12]
    outside = Path(tempfile.gettempdir()) / f"photofeed-pg-{digest}"
    link = stack_dir / "pg"
    if not link.is_symlink() and not link.exists():
        link.symlink_to(outside)
    return outside


def start_postgres(stack_dir: Path, logs: Path, track: Track) -> dict[str, str]:
    """A fresh PostgreSQL cluster on a free port holding the physical databases."""
    bindir = postgres_bindir()
    user = unprivileged_user()
    data = postgres_data_dir(stack_dir)
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True, mode=0o700)
    if user is not None:
        os.chown(data, user.pw_uid, user.pw_gid)
    run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            PG_SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        user=user,
        log=logs / "postgres-initdb.log",
    )
    port = free_port()
    process = Process(
        name="postgres",
        argv=[
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={port}",
            "-c",
            f"unix_socket_directories={data}",
            "-c",
            "max_connections=200",
            # A throwaway development cluster: durability buys nothing here.
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ],
        log=logs / "postgres.log",
        user=user,
        stop_signal=signal.SIGINT,  # "fast" shutdown
    )
    process.start()
    track(process)
    admin_dsn = f"postgresql://{PG_SUPERUSER}@127.0.0.1:{port}/postgres"
    process.wait_until(lambda: _pg_ready(admin_dsn), timeout=60)
    dsns = {}
    for name in PHYSICAL_DATABASES:
        _create_database(admin_dsn, f"photofeed_{name}")
        dsns[name] = f"postgresql://{PG_SUPERUSER}@127.0.0.1:{port}/photofeed_{name}"
    return dsns


def _pg_ready(dsn: str) -> bool:
    try:
        psycopg2.connect(dsn, connect_timeout=1).close()
    except psycopg2.OperationalError:
        return False
    return True


def _create_database(admin_dsn: str, name: str) -> None:
    connection = psycopg2.connect(admin_dsn)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        connection.close()


def redis_server() -> str:
    """The system's redis-server, checked to be version 7 or newer."""
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("redis-server not found: `make setup` installs it")
    _require_version(found, r"v=(\d+)\.", MIN_REDIS, "Redis")
    return found


def start_redis(stack_dir: Path, logs: Path, track: Track) -> str:
    """A Redis on a free port, memory only (it holds derived data only)."""
    data = stack_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = Process(
        name="redis",
        argv=[
            redis_server(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ],
        log=logs / "redis.log",
    )
    process.start()
    track(process)
    url = f"redis://127.0.0.1:{port}/0"
    process.wait_until(lambda: _redis_ready(url), timeout=30)
    return url


def _redis_ready(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def start_moto(logs: Path, env: dict[str, str], track: Track) -> str:
    """moto in server mode: the local AWS endpoint (S3, SQS, SNS, DynamoDB)."""
    port = free_port()
    process = Process(
        name="moto",
        argv=[sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        log=logs / "moto.log",
        env=env,
    )
    process.start()
    track(process)
    url = f"http://127.0.0.1:{port}"
    process.wait_until(lambda: _http_ok(f"{url}/moto-api/data.json"), timeout=60)
    return url


def moto_session(env: dict[str, str]) -> boto3.Session:
    """A boto3 session with the stack's fake credentials."""
    return boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )


def start_api(logs: Path, env: dict[str, str], port: int, track: Track) -> str:
    """The Chalice app under chalice's local server (devstack.api), as API Gateway calls it."""
    process = Process(
        name="api",
        argv=[sys.executable, "-m", "devstack.api", "--port", str(port), "--stage", "local"],
        log=logs / "api.log",
        env=env,
        cwd=ROOT,
        stop_signal=signal.SIGINT,
    )
    process.start()
    track(process)
    url = f"http://127.0.0.1:{port}"
    process.wait_until(lambda: _http_ok(f"{url}/health"), timeout=60)
    return url


def start_pump(logs: Path, env: dict[str, str], track: Track) -> None:
    """The event pump: SQS -> the thumbnail and fan-out handlers."""
    process = Process(
        name="pump",
        argv=[sys.executable, "-m", "devstack.pump"],
        log=logs / "pump.log",
        env=env,
        cwd=ROOT,
    )
    process.start()
    track(process)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own http URL)
            return response.status == 200
    except OSError:
        return False
