"""Connections with a password asked for as each one opens (RDS Proxy's IAM auth tokens),
and the tokens themselves, signed locally.

The stack's PostgreSQL trusts every local connection (devstack runs initdb --auth=trust),
where any password would do. So the connection tests log in as a role of their own that
must present its password: a scram-sha-256 line for that role alone goes first in the
stack's pg_hba.conf for the test, and the line and the role go away after it.
"""

from __future__ import annotations

import re
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg2
import psycopg2.extensions
import pytest
from psycopg2 import sql

from chalicelib.clients import Clients
from chalicelib.shards.connections import Databases

UNITS_OF_WORK = 3
_REFUSED_WITHIN_SECONDS = 10


@dataclass
class PasswordRole:
    """A login role that must present its password, and where it connects."""

    name: str
    password: str
    host: str
    port: int
    database: str

    @property
    def dsn(self) -> str:
        """As the settings name a database for IAM auth: the user, no password."""
        return f"postgresql://{self.name}@{self.host}:{self.port}/{self.database}"


@dataclass
class Asked:
    """A password source that answers `password` and records what it was asked."""

    password: str
    calls: list[tuple[str, int, str]] = field(default_factory=list)

    def __call__(self, host: str, port: int, user: str) -> str:
        self.calls.append((host, port, user))
        return self.password


class TokensAsked(Clients):
    """Clients whose IAM auth tokens are the role's password (PostgreSQL checks no
    tokens), recording what each was signed for."""

    def __init__(self, settings, password: str) -> None:
        super().__init__(settings)
        self.asked = Asked(password)

    def database_token(self, host: str, port: int, user: str) -> str:
        return self.asked(host, port, user)


def _run(conn, statement: sql.Composable | str, values: list | None = None) -> object:
    with conn.cursor() as cursor:
        cursor.execute(statement, values)
        return cursor.fetchone()[0] if cursor.description else None


def _refused(dsn: str) -> bool:
    try:
        psycopg2.connect(dsn, connect_timeout=2).close()
    except psycopg2.OperationalError:
        return True
    return False


@pytest.fixture
def password_role(settings) -> Iterator[PasswordRole]:
    admin_dsn = str(settings.admin_databases["db0"])
    parts = psycopg2.extensions.parse_dsn(admin_dsn)
    role = PasswordRole(
        name=f"photofeed_iam_test_{uuid.uuid4().hex[:8]}",
        password=secrets.token_urlsafe(24),
        host=parts["host"],
        port=int(parts["port"]),
        database=parts["dbname"],
    )
    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    identifier = sql.Identifier(role.name)
    try:
        _run(admin, sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(identifier), [role.password])
        hba = Path(str(_run(admin, "SHOW hba_file")))
        trusting = hba.read_text()
        hba.write_text(f"host all {role.name} {role.host}/32 scram-sha-256\n{trusting}")
        try:
            _run(admin, "SELECT pg_reload_conf()")
            deadline = time.monotonic() + _REFUSED_WITHIN_SECONDS
            while not _refused(role.dsn):  # until the server has read its new rules
                assert time.monotonic() < deadline, "pg_hba.conf was not reloaded"
                time.sleep(0.05)
            yield role
        finally:
            hba.write_text(trusting)
            _run(admin, "SELECT pg_reload_conf()")
    finally:
        _run(
            admin,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = %s",
            [role.name],
        )
        _run(admin, sql.SQL("DROP ROLE IF EXISTS {}").format(identifier))
        admin.close()


def _current_user(databases: Databases) -> str:
    with databases.connection("db0") as conn, conn:
        return str(_run(conn, "SELECT current_user"))


# --- Databases with a password source ---------------------------------------------------


def test_the_source_is_asked_once_per_connection_with_the_dsns_host_port_and_user(
    password_role,
):
    # GIVEN databases whose DSN names the role but holds no password
    source = Asked(password_role.password)
    databases = Databases({"db0": password_role.dsn}, source)
    try:
        # WHEN several units of work run
        users = [_current_user(databases) for _ in range(UNITS_OF_WORK)]

        # THEN they ran as the role, on one connection, for which the source was asked once
        assert users == [password_role.name] * UNITS_OF_WORK
        asked = (password_role.host, password_role.port, password_role.name)
        assert source.calls == [asked]

        # AND a connection opened again (the last one closed) asks again
        with databases.connection("db0") as conn:
            conn.close()
        assert _current_user(databases) == password_role.name
        assert source.calls == [asked, asked]
    finally:
        databases.close()


@pytest.mark.parametrize(
    "source", [None, lambda host, port, user: "not-the-password"], ids=["no-source", "wrong"]
)
def test_without_the_right_password_the_role_is_refused(
    password_role, source: Callable[[str, int, str], str] | None
):
    databases = Databases({"db0": password_role.dsn}, source)

    with pytest.raises(psycopg2.OperationalError, match="password"):
        _current_user(databases)


def test_with_iam_auth_clients_connect_with_a_token_per_connection(settings, password_role):
    clients = TokensAsked(
        settings.model_copy(
            update={
                "database_iam_auth": True,
                "databases": {"db0": password_role.dsn},
                "admin_databases": {},
            }
        ),
        password_role.password,
    )
    try:
        assert _current_user(clients.databases) == password_role.name
        assert _current_user(clients.admin_databases) == password_role.name
        assert _current_user(clients.databases) == password_role.name

        asked = (password_role.host, password_role.port, password_role.name)
        assert clients.asked.calls == [asked, asked]  # one per Databases, not per unit
    finally:
        clients.databases.close()
        clients.admin_databases.close()


def test_operators_own_dsns_are_never_given_a_token(settings):
    clients = TokensAsked(settings.model_copy(update={"database_iam_auth": True}), "unused")
    try:
        operator = psycopg2.extensions.parse_dsn(str(settings.admin_databases["db0"]))["user"]
        assert _current_user(clients.admin_databases) == operator
        assert clients.asked.calls == []
    finally:
        clients.admin_databases.close()


# --- tokens -----------------------------------------------------------------------------


def test_a_token_is_signed_here_in_rds_format_for_the_settings_region(settings, monkeypatch):
    # GIVEN clients of another region, in a process that may open no connection
    def no_network(*args, **kwargs):
        raise AssertionError("a database token needs no request")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    clients = Clients(settings.model_copy(update={"region": "eu-west-3"}))

    # WHEN a token is signed for a proxy endpoint and user
    token = clients.database_token("proxy.example.internal", 5432, "photofeed_app")

    # THEN it is RDS's presigned "connect" URL (without its scheme), for that region
    assert token.startswith("proxy.example.internal:5432/?Action=connect&DBUser=photofeed_app&")
    query = {name: values[0] for name, values in parse_qs(urlsplit(f"//{token}").query).items()}
    assert query["Action"] == "connect"
    assert query["DBUser"] == "photofeed_app"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    key_id, day, region, service, terminator = query["X-Amz-Credential"].split("/")
    assert key_id
    assert (region, service, terminator) == ("eu-west-3", "rds-db", "aws4_request")
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert day == signed_at.strftime("%Y%m%d")
    assert abs((datetime.now(UTC) - signed_at).total_seconds()) < 60
    assert query["X-Amz-Expires"] == "900"
    assert query["X-Amz-SignedHeaders"] == "host"
    assert re.fullmatch(r"[0-9a-f]{64}", query["X-Amz-Signature"])
