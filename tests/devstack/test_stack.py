"""The local stack: real servers on loopback, PostgreSQL never as root, nothing left behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
import requests

from chalicelib.config import read_env_file
from devstack.processes import free_port
from devstack.services import ROOT, postgres_home


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and proc.name != str(os.getpid()):
            found.append(cmdline)
    return found


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid for {pid}")


def test_postgres_serves_two_physical_databases_and_never_runs_as_root(settings):
    assert sorted(settings.databases) == ["db0", "db1"]
    for name, dsn in settings.databases.items():
        with psycopg2.connect(str(dsn)) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT current_database(), pg_backend_pid(), version()")
            database, backend_pid, version = cursor.fetchone()
        conn.close()
        assert database == f"photofeed_{name}"
        assert int(version.split()[1].split(".")[0]) >= 15
        assert _uid_of(backend_pid) != 0


def test_redis_is_version_7_or_newer(clients):
    assert int(clients.redis.info("server")["redis_version"].split(".")[0]) >= 7


def _devstack(command: str, directory: Path, port: int) -> subprocess.CompletedProcess[str]:
    """`python -m devstack COMMAND` as `make up` / `make down` run it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack",
            command,
            "--dir",
            str(directory),
            "--api-port",
            str(port),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_up_is_healthy_and_down_leaves_no_process_behind():
    # GIVEN a stack directory of this test's own and a free API port
    directory = Path(tempfile.mkdtemp(prefix="photofeed-updown-"))
    port = free_port()
    pids: list[int] = []
    try:
        # WHEN it is brought up in the background
        up = _devstack("up", directory, port)
        assert up.returncode == 0, up.stdout + up.stderr

        # THEN its endpoints are written down and every dependency is ok
        env = read_env_file(directory / "stack.env")
        assert env["PHOTOFEED_API_URL"] == f"http://127.0.0.1:{port}"
        health = requests.get(f"{env['PHOTOFEED_API_URL']}/health", timeout=30).json()
        assert health["status"] == "ok"
        assert all(d["ok"] for d in health["dependencies"])
        assert _processes_mentioning(str(directory))
        pids = json.loads((directory / "stack.pids").read_text())
        assert len(pids) == 6  # postgres, pgbouncer, redis, moto, api, pump
    finally:
        # WHEN it is brought down
        down = _devstack("down", directory, port)
    # THEN nothing of it is left running, and its endpoints file is gone
    assert down.returncode == 0, down.stdout + down.stderr
    assert _processes_mentioning(str(directory)) == []
    assert all(not Path(f"/proc/{pid}").exists() for pid, _ in pids)
    assert not (directory / "stack.env").exists()
    shutil.rmtree(postgres_home(directory), ignore_errors=True)
    shutil.rmtree(directory, ignore_errors=True)


def test_a_second_stack_on_a_running_stacks_directory_is_refused_and_harms_nothing(http):
    # GIVEN this session's running stack
    directory = Path(os.environ["PHOTOFEED_STACK_DIR"])

    # WHEN another stack is started on its directory
    second = _devstack("run", directory, free_port())

    # THEN it is refused at once, and the running stack is untouched
    assert second.returncode == 1
    assert "already runs" in second.stderr
    assert (directory / "stack.env").exists()
    assert http.get("/health").json()["status"] == "ok"


def test_a_stack_whose_api_port_is_taken_is_refused(api_url):
    # GIVEN the port of this session's running API
    port = int(api_url.rsplit(":", 1)[1])
    directory = Path(tempfile.mkdtemp(prefix="photofeed-busy-"))

    # WHEN a new stack asks for it
    refused = _devstack("run", directory, port)

    # THEN it says so and starts nothing
    assert refused.returncode == 1
    assert f"port {port} is taken" in refused.stderr
    assert not (directory / "stack.pids").exists()
    shutil.rmtree(directory, ignore_errors=True)
