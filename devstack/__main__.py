"""`python -m devstack run|up|down`: the local stack in the foreground or background."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devstack.processes import kill_groups, tail
from devstack.services import ROOT
from devstack.stack import Stack, StackBusy, is_running

DEFAULT_DIR = ROOT / ".local"


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


def run(directory: Path, api_port: int, follow: bool = False) -> int:
    """Start the stack, print its endpoints, and keep it up until Ctrl-C or SIGTERM."""
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    stack = Stack(directory, api_port)
    try:
        stack.lock()
    except StackBusy as exc:
        print(exc, file=sys.stderr)
        return 1
    pid_file = directory / "stack.pid"
    pid_file.write_text(str(os.getpid()))
    try:
        stack.start()
        print(f"Photofeed is up.\n{stack.describe()}\nCtrl-C stops it.", flush=True)
        followed = [LogFollower(stack.logs / f"{name}.log") for name in FOLLOWED] if follow else []
        while not (dead := stack.dead()):
            for follower in followed:
                follower.print_new_lines()
            time.sleep(0.5)
        print(f"stopping: {', '.join(dead)} exited (see {stack.logs}/)", file=sys.stderr)
        return 1
    except StackBusy as exc:
        print(exc, file=sys.stderr)
        return 1
    except _Stop:
        print("stopping...", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop_services()
        pid_file.unlink(missing_ok=True)
        stack.release()
        print("stopped.", flush=True)


# What `make dev` shows as it runs: requests and the functions' work.
FOLLOWED = ("api", "pump")


class LogFollower:
    """Prints what a service appends to its log, prefixed with the service's name."""

    def __init__(self, path: Path) -> None:
        self._name = path.stem
        self._file = path.open(errors="replace")
        self._file.seek(0, os.SEEK_END)

    def print_new_lines(self) -> None:
        for line in self._file.readlines():
            print(f"{self._name:>5} | {line}", end="", flush=True)


def up(directory: Path, api_port: int, timeout: float = 180) -> int:
    """Start the stack in the background; return once /health is green."""
    env_file = directory / "stack.env"
    if is_running(directory):
        print(f"already up; endpoints in {env_file}")
        return 0
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "stack.log"
    env_file.unlink(missing_ok=True)
    with log.open("ab") as out:
        supervisor = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devstack",
                "run",
                "--dir",
                str(directory),
                "--api-port",
                str(api_port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if env_file.exists():
            print(f"Photofeed is up in the background; endpoints in {env_file}:")
            print(env_file.read_text(), end="")
            return 0
        if supervisor.poll() is not None:
            print(f"the stack failed to start:\n{tail(log, 40)}", file=sys.stderr)
            return 1
        time.sleep(0.2)
    print(f"the stack did not come up in {timeout}s; see {log}", file=sys.stderr)
    down(directory)
    return 1


def down(directory: Path, timeout: float = 60) -> int:
    """Stop a background stack; kill whatever a dead supervisor left behind."""
    if is_running(directory):
        try:
            supervisor = int((directory / "stack.pid").read_text())
            os.kill(supervisor, signal.SIGTERM)
        except (OSError, ValueError):
            print("a stack holds the lock but its pid file is unreadable", file=sys.stderr)
            return 1
        deadline = time.monotonic() + timeout
        # The supervisor gives up the lock once its services are down, then exits.
        while (is_running(directory) or _exists(supervisor)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if is_running(directory):
            print(f"the stack did not stop in {timeout}s", file=sys.stderr)
            return 1
    pids_file = directory / "stack.pids"
    if pids_file.exists():  # its supervisor died without stopping them
        kill_groups([tuple(started) for started in json.loads(pids_file.read_text())])
        pids_file.unlink()
    for name in ("stack.env", "stack.pid"):
        (directory / name).unlink(missing_ok=True)
    print("Photofeed is down.")
    return 0


def _exists(pid: int) -> bool:
    """Whether a process runs (a zombie waiting for its parent to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("command", choices=["run", "up", "down"])
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help="where the stack keeps its files"
    )
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--follow", action="store_true", help="run: print the API and pump logs")
    args = parser.parse_args(argv)
    directory = args.dir.resolve()
    if args.command == "run":
        return run(directory, args.api_port, follow=args.follow)
    if args.command == "up":
        return up(directory, args.api_port)
    return down(directory)


if __name__ == "__main__":
    sys.exit(main())
