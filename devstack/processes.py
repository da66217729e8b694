"""Child processes of the local stack: started in their own group, never left behind."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unprivileged_user() -> pwd.struct_passwd | None:
    """The user PostgreSQL runs as when we are root (it refuses root); None otherwise."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root, and neither 'postgres' nor 'nobody' exists")


def _child_setup(
    user: pwd.struct_passwd | None, death_signal: int = signal.SIGTERM
) -> Callable[[], None]:
    def setup() -> None:
        if user is not None:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
        # Die with the stack (set after setuid, which clears it): a killed parent
        # leaves no PostgreSQL, Redis, moto or chalice behind.
        die_with_parent(death_signal)

    return setup


def die_with_parent(death_signal: int) -> None:
    """Have the kernel send this process `death_signal` when its parent ends (a setting
    that fork and setuid clear)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, death_signal)


def run(
    argv: Sequence[str],
    *,
    log: Path,
    user: pwd.struct_passwd | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> None:
    """Run a set-up command to completion; its output goes to `log`."""
    with log.open("ab") as out:
        result = subprocess.run(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_child_setup(user),
            env=env,
            cwd=cwd,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({result.returncode}); see {log}:\n{tail(log)}")


@dataclass
class Process:
    """One long-running service of the stack."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    user: pwd.struct_passwd | None = None
    # The signal that asks this program for a clean, fast shutdown.
    stop_signal: int = signal.SIGTERM
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start the program in a process group of its own, output to its log."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                preexec_fn=_child_setup(self.user, self.stop_signal),
                start_new_session=True,
            )

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the program to stop, then kill its whole group if it does not."""
        if self.popen is None:
            return
        if self.alive():
            _signal_group(self.popen.pid, self.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        # Whatever the program started and left behind goes too.
        _signal_group(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Poll `ready` until it holds; fail early if the program dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited; see {self.log}:\n{tail(self.log)}")
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout}s; see {self.log}")


def start_time(pid: int) -> int | None:
    """When a process started (clock ticks since boot): tells a PID from its reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def port_is_free(port: int) -> bool:
    """Whether nothing listens on `port` of loopback (connections closing on it are fine,
    as they are to the API server, which binds with SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def kill_groups(started: Sequence[tuple[int, int]]) -> None:
    """Kill the process groups a stack left behind, if each leader is still the same process."""
    for pgid, started_at in started:
        if start_time(pgid) == started_at:
            _signal_group(pgid, signal.SIGKILL)


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
