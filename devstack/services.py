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

from chalicelib.config import Settings
from chalicelib.shards.migrations import set_statement_timeout
from devstack.processes import Process, free_port, run, unprivileged_user

ROOT = Path(__file__).resolve().parent.parent
# Where the local API stands in for the CDN (devstack/api.py): the stack's
# PHOTOFEED_PUBLIC_MEDIA_BASE_URL is the API's URL and this path.
CDN_PATH = "/cdn/"
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


def postgres_home(stack_dir: Path) -> Path:
    """Where PostgreSQL and PgBouncer keep their files: in the stack directory when their
    user can reach it.

    As root, both run as an unprivileged user who may not reach a checkout under /root;
    their files then go to a private directory under /tmp, linked from the stack's.
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


def _fresh_home(stack_dir: Path) -> Path:
    home = postgres_home(stack_dir)
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True, mode=0o700)
    user = unprivileged_user()
    if user is not None:
        os.chown(home, user.pw_uid, user.pw_gid)
    return home


def start_postgres(stack_dir: Path, logs: Path, track: Track) -> tuple[int, list[str]]:
    """A fresh PostgreSQL cluster on a free port; returns the port and the databases."""
    bindir = postgres_bindir()
    user = unprivileged_user()
    data = _fresh_home(stack_dir) / "data"
    run(
        [str(bindir / "initdb"), "-D", str(data), "-U", PG_SUPERUSER, "--auth=trust",
         "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
        user=user,
        log=logs / "postgres-initdb.log",
    )  # fmt: skip
    port = free_port()
    process = Process(
        name="postgres",
        argv=[
            str(bindir / "postgres"), "-D", str(data),
            "-c", "listen_addresses=127.0.0.1", "-c", f"port={port}",
            "-c", f"unix_socket_directories={data}",
            "-c", "max_connections=200",
            # A throwaway development cluster: durability buys nothing here.
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        ],
        log=logs / "postgres.log",
        user=user,
        stop_signal=signal.SIGINT,  # "fast" shutdown
    )  # fmt: skip
    process.start()
    track(process)
    admin_dsn = direct_dsn(port, "postgres")
    process.wait_until(lambda: _pg_ready(admin_dsn), timeout=60)
    names = [f"photofeed_{name}" for name in PHYSICAL_DATABASES]
    for name in names:
        _create_database(admin_dsn, name)
    return port, names


def direct_dsn(port: int, database: str) -> str:
    """A DSN straight to the local PostgreSQL (operators; PgBouncer's own backends)."""
    return f"postgresql://{PG_SUPERUSER}@127.0.0.1:{port}/{database}"


def admin_dsns(port: int) -> dict[str, str]:
    """Operators' DSNs: straight to PostgreSQL, without the statement timeout."""
    no_timeout = "options=-c%20statement_timeout%3D0"
    return {
        name: f"{direct_dsn(port, f'photofeed_{name}')}?{no_timeout}" for name in PHYSICAL_DATABASES
    }


def pgbouncer_binary() -> str:
    """The system's pgbouncer (Debian puts it in /usr/sbin)."""
    found = shutil.which("pgbouncer", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if not found:
        raise RuntimeError("pgbouncer not found: `make setup` installs it")
    return found


def start_pgbouncer(
    stack_dir: Path, logs: Path, track: Track, pg_port: int, databases: list[str]
) -> dict[str, str]:
    """PgBouncer in transaction pooling mode in front of every database, as RDS Proxy
    multiplexes: any session state the application relied on would break here too."""
    home = postgres_home(stack_dir)
    user = unprivileged_user()
    port = free_port()
    (home / "pgbouncer-users.txt").write_text(f'"{PG_SUPERUSER}" ""\n')
    config = home / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        + "".join(f"{name} = host=127.0.0.1 port={pg_port} dbname={name}\n" for name in databases)
        + "\n[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {home / 'pgbouncer-users.txt'}\n"
        "pool_mode = transaction\nmax_client_conn = 1000\ndefault_pool_size = 20\n"
        # Its admin console (database `pgbouncer`): the fault drills take a database
        # down and up there (tests/drills).
        f"admin_users = {PG_SUPERUSER}\n"
        "server_reset_query =\nignore_startup_parameters = extra_float_digits\n"
    )
    if user is not None:
        for path in (config, home / "pgbouncer-users.txt"):
            os.chown(path, user.pw_uid, user.pw_gid)
    process = Process(
        name="pgbouncer",
        argv=[pgbouncer_binary(), str(config)],
        log=logs / "pgbouncer.log",
        user=user,
        stop_signal=signal.SIGINT,
    )
    process.start()
    track(process)
    dsns = {
        name: f"postgresql://{PG_SUPERUSER}@127.0.0.1:{port}/photofeed_{name}"
        for name in PHYSICAL_DATABASES
    }
    process.wait_until(lambda: all(_pg_ready(dsn) for dsn in dsns.values()), timeout=30)
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
    # Before PgBouncer opens its first session to it (`db migrate` sets it too, later).
    database = psycopg2.connect(admin_dsn.rsplit("/", 1)[0] + f"/{name}")
    try:
        set_statement_timeout(database, Settings.model_fields["statement_timeout_ms"].default)
    finally:
        database.close()


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
        # moto with a fix for index queries on big tables (devstack/moto_server.py).
        argv=[sys.executable, "-m", "devstack.moto_server", "-H", "127.0.0.1", "-p", str(port)],
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


# Processes serving the local API, as API Gateway runs several Lambda containers at once.
# Each holds one connection a database, used by one request at a time (as a container
# does), so requests mostly wait on each other, not on the CPU: more processes than
# cores keep the cores busy.
API_WORKERS = 4


def start_api(logs: Path, env: dict[str, str], port: int, track: Track) -> str:
    """The Chalice app under chalice's local server (devstack.api), as API Gateway calls it."""
    process = Process(
        name="api",
        argv=[
            sys.executable,
            "-m",
            "devstack.api",
            "--port",
            str(port),
            "--stage",
            "local",
            "--workers",
            str(API_WORKERS),
        ],
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


def migrate(logs: Path, env: dict[str, str]) -> None:
    """`photofeed db migrate`: the shard map, then every logical shard's schema."""
    run([sys.executable, "-m", "chalicelib.ops.cli", "db", "migrate"], log=logs / "migrate.log",
        env=env, cwd=ROOT)  # fmt: skip


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
