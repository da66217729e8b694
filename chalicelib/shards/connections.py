"""One connection per physical database per process, opened lazily, healed after failure."""

from __future__ import annotations

import select
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg2
from psycopg2.extensions import connection as Connection

# Seconds a new connection may take; RDS Proxy borrows within this too.
CONNECT_TIMEOUT_SECONDS = 3


class UnknownDatabase(KeyError):
    """Raised when a physical database name is not in the settings."""


# (host, port, user) -> a password for this one connection, e.g. an IAM auth token.
PasswordSource = Callable[[str, int, str], str]


class Databases:
    """The physical databases of a deployment, by name."""

    def __init__(self, dsns: dict[str, str], password: PasswordSource | None = None) -> None:
        self._dsns = dict(dsns)
        self._password = password
        self._connections: dict[str, Connection] = {}
        # Lambda is single-threaded; `chalice local` serves requests on threads.
        self._locks = {name: threading.Lock() for name in self._dsns}
        self._holders: dict[str, int] = {}

    @property
    def names(self) -> list[str]:
        return sorted(self._dsns)

    @contextmanager
    def connection(self, name: str) -> Iterator[Connection]:
        """The connection to database `name`, for one unit of work; reopened after failure."""
        if name not in self._dsns:
            raise UnknownDatabase(name)
        if self._holders.get(name) == threading.get_ident():
            # One connection a database: a unit of work inside another would share (and
            # commit) its transaction. Finish one before starting the next.
            raise RuntimeError(f"a unit of work on {name} is already open in this thread")
        with self._locks[name]:
            conn = self._connections.get(name)
            if conn is None or conn.closed or _dropped(conn):
                conn = self._connections[name] = self._connect(name)
            self._holders[name] = threading.get_ident()
            try:
                yield conn
            finally:
                self._holders.pop(name, None)
                if conn.closed:
                    # The server went away; the next unit of work connects afresh. A
                    # statement that merely failed (timeout, deadlock) keeps the connection.
                    del self._connections[name]
                elif conn.status != psycopg2.extensions.STATUS_READY:
                    conn.rollback()  # never leave a transaction idle

    def _connect(self, name: str) -> Connection:
        # No startup options: the statement timeout is the server's default (see
        # Settings.statement_timeout_ms), so poolers may hand this session to anyone.
        dsn = self._dsns[name]
        extra = {}
        if self._password is not None:
            # A token lives 15 minutes and is only checked at connect: one per connection.
            parts = psycopg2.extensions.parse_dsn(dsn)
            port = int(parts.get("port", 5432))
            extra["password"] = self._password(parts["host"], port, parts["user"])
        return psycopg2.connect(
            dsn, connect_timeout=CONNECT_TIMEOUT_SECONDS, application_name="photofeed", **extra
        )

    def close(self) -> None:
        """Close every open connection (tests, shutdown)."""
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()


def _dropped(conn: Connection) -> bool:
    """Whether the server dropped an idle connection (a restart, a failover, the proxy
    closing it): with no query sent, anything to read is its goodbye (a fatal error, or
    the end of the stream). Checked without a round trip; a dropped one is closed, so the
    work gets a fresh connection instead of failing on the dead one."""
    readable, _, _ = select.select([conn], [], [], 0)
    if readable:
        conn.close()
    return bool(readable)
