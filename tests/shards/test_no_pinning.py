"""Nothing in Photofeed's SQL makes RDS Proxy pin a connection.

Statically: every statement the code can send (the SQL literals of chalicelib/ and
functions/, and the migrations of sql/) is free of session state: SET, PREPARE,
LISTEN/NOTIFY, temporary tables, cursors, advisory locks, sequence functions. Dynamically:
the application's work runs through PgBouncer in transaction pooling mode, which
multiplexes sessions the way RDS Proxy does.
"""

from __future__ import annotations

import ast
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from psycopg2 import sql

from devstack.services import ROOT

CODE_DIRECTORIES = ("chalicelib", "functions")
SQL_DIRECTORY = ROOT / "sql"
LOOKS_LIKE_SQL = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|DROP|ALTER|LOCK|COPY|SET|PREPARE|LISTEN"
    r"|DECLARE|BEGIN)\b",
    re.IGNORECASE,
)
# What pins an RDS Proxy connection (or relies on a session that transaction pooling
# hands to someone else). `UPDATE ... SET col =` is no SET statement: SET counts only at
# the start of a statement.
PINNING = {
    "SET statement": re.compile(r"(?:^|;)\s*SET\b", re.IGNORECASE),
    "SET SESSION": re.compile(r"\bSET\s+SESSION\b", re.IGNORECASE),
    "SET search_path": re.compile(r"\bSET\s+search_path\b", re.IGNORECASE),
    "set_config()": re.compile(r"\bset_config\s*\(", re.IGNORECASE),
    "PREPARE": re.compile(r"\bPREPARE\b", re.IGNORECASE),
    "LISTEN": re.compile(r"\bLISTEN\b", re.IGNORECASE),
    "NOTIFY": re.compile(r"\bNOTIFY\b", re.IGNORECASE),
    "temporary table": re.compile(r"\bTEMP(ORARY)?\s+TABLE\b", re.IGNORECASE),
    "cursor": re.compile(r"\bDECLARE\b.*\bCURSOR\b", re.IGNORECASE | re.DOTALL),
    "advisory lock": re.compile(r"pg_advisory", re.IGNORECASE),
    "nextval()": re.compile(r"\bnextval\s*\(", re.IGNORECASE),
    "setval()": re.compile(r"\bsetval\s*\(", re.IGNORECASE),
    "currval()": re.compile(r"\bcurrval\s*\(", re.IGNORECASE),
}
# Bodies of functions defined in a migration run inside PostgreSQL; the proxy never
# sees them (next_id() itself calls nextval() there, by design).
DOLLAR_QUOTED = re.compile(r"\$(\w*)\$.*?\$\1\$", re.DOTALL)
LINE_COMMENT = re.compile(r"--[^\n]*")


@dataclass(frozen=True)
class Statement:
    """SQL the code can send, and where it is written."""

    where: str
    text: str


def _python_files() -> list[Path]:
    return sorted(path for name in CODE_DIRECTORIES for path in (ROOT / name).rglob("*.py"))


def _never_sent(tree: ast.AST) -> set[int]:
    """Nodes whose strings never reach a cursor: docstrings and exception messages."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = body[0] if body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skipped.add(id(first.value))
        if isinstance(node, ast.Raise):
            skipped.update(id(inner) for inner in ast.walk(node))
    return skipped


def _f_string_parts(tree: ast.AST) -> set[int]:
    return {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }


def _f_string_text(node: ast.JoinedStr) -> str:
    return "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)


def _parsed() -> list[tuple[Path, ast.AST, set[int]]]:
    parsed = []
    for path in _python_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        parsed.append((path, tree, _never_sent(tree)))
    return parsed


def python_statements() -> list[Statement]:
    """Every plain string literal in the code that looks like SQL, sql.SQL(...)'s included."""
    found = []
    for path, tree, skipped in _parsed():
        not_literals = skipped | _f_string_parts(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in not_literals
                and LOOKS_LIKE_SQL.match(node.value)
            ):
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.append(Statement(where, node.value))
    return found


def _sent_part(migration: str) -> str:
    """A migration as the proxy sees it: without comments and function bodies."""
    return LINE_COMMENT.sub("", DOLLAR_QUOTED.sub("$fn$ $fn$", migration))


def migration_statements() -> list[Statement]:
    """The statements of sql/*.sql, without comments and function bodies."""
    found = []
    for path in sorted(SQL_DIRECTORY.glob("*.sql")):
        text = _sent_part(path.read_text())
        found.extend(
            Statement(f"{path.relative_to(ROOT)}", part.strip())
            for part in text.split(";")
            if part.strip()
        )
    return found


def pinning_constructs(text: str) -> list[str]:
    return [name for name, pattern in PINNING.items() if pattern.search(text)]


# --- the scanner itself -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "construct"),
    [
        ("SET statement_timeout = 0", "SET statement"),
        ("SELECT 1; set search_path TO shard_0001", "SET statement"),
        ("SET SESSION characteristics AS TRANSACTION READ ONLY", "SET SESSION"),
        ("ALTER ROLE app SET search_path = shard_0001", "SET search_path"),
        ("SELECT set_config('search_path', 'x', false)", "set_config()"),
        ("PREPARE q AS SELECT 1", "PREPARE"),
        ("LISTEN feed", "LISTEN"),
        ("SELECT pg_notify('feed', 'x'); NOTIFY feed", "NOTIFY"),
        ("CREATE TEMP TABLE t (id int)", "temporary table"),
        ("CREATE TEMPORARY TABLE t (id int)", "temporary table"),
        ("DECLARE c\n  CURSOR WITH HOLD FOR SELECT 1", "cursor"),
        ("SELECT pg_advisory_lock(42)", "advisory lock"),
        ("SELECT nextval ('s')", "nextval()"),
        ("SELECT setval('s', 1)", "setval()"),
        ("SELECT currval('s')", "currval()"),
    ],
)
def test_the_scanner_recognises_each_pinning_construct(text, construct):
    assert construct in pinning_constructs(text)


@pytest.mark.parametrize(
    "text",
    [
        "UPDATE {}.media SET caption = %s WHERE id = %s",
        "INSERT INTO {}.users (id) VALUES ({}.next_id())",
        "CREATE TABLE {schema}.users (id bigint DEFAULT {schema}.next_id())",
        "SELECT 1 FROM {}.settings",
    ],
)
def test_the_scanner_lets_ordinary_statements_pass(text):
    assert pinning_constructs(text) == []


def test_function_bodies_and_comments_are_left_out_of_migration_statements():
    text = (
        "-- nextval() in a comment\n"
        "CREATE FUNCTION f() RETURNS int AS $fn$ SELECT nextval('s'); $fn$;\n"
        "CREATE FUNCTION g() RETURNS int AS $$ SELECT 1 $$;"
    )

    stripped = _sent_part(text)

    assert [part.strip() for part in stripped.split(";")] == [
        "CREATE FUNCTION f() RETURNS int AS $fn$ $fn$",
        "CREATE FUNCTION g() RETURNS int AS $fn$ $fn$",
        "",
    ]


# --- the code -----------------------------------------------------------------------------


def test_the_scan_finds_the_statements_the_code_sends():
    in_code = python_statements()
    in_migrations = migration_statements()

    assert len(in_code) >= 15
    assert len(in_migrations) >= 15
    texts = {statement.text for statement in in_code}
    assert "LOCK TABLE {} IN EXCLUSIVE MODE" in texts  # a literal inside sql.SQL(...)
    assert "SELECT to_regclass(%s)" in texts  # a plain literal passed to execute()
    assert any(s.text.startswith("CREATE TABLE {schema}.users") for s in in_migrations)


def test_no_statement_in_the_code_pins_a_proxy_connection():
    offenders = {
        s.where: pinning_constructs(s.text)
        for s in python_statements()
        if pinning_constructs(s.text)
    }

    assert offenders == {}


def test_no_migration_statement_pins_a_proxy_connection():
    offenders = [
        (s.where, s.text[:60], pinning_constructs(s.text))
        for s in migration_statements()
        if pinning_constructs(s.text)
    ]

    assert offenders == []


def _python_formatted(node: ast.AST) -> str | None:
    """The literal a `"..." % values` or `"...".format(...)` formats, if `node` is one."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        literal = node.left
    elif isinstance(node, ast.Attribute) and node.attr == "format":
        literal = node.value  # sql.SQL(...).format(...) is a Call here, not a literal
    else:
        return None
    if isinstance(literal, ast.Constant) and isinstance(literal.value, str):
        return literal.value
    return None


def _sql_built_in_python(tree: ast.AST) -> list[tuple[int, str]]:
    """Lines where an f-string, `%` or str.format() builds something that looks like SQL."""
    skipped = _never_sent(tree)
    built = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.JoinedStr) and LOOKS_LIKE_SQL.match(_f_string_text(node)):
            built.append((node.lineno, "f-string"))
        formatted = _python_formatted(node)
        if formatted is not None and LOOKS_LIKE_SQL.match(formatted):
            built.append((node.lineno, "str formatting"))
    return sorted(built)


def test_the_scanner_recognises_sql_built_in_python():
    code = (
        "cursor.execute(f"
        '"SELECT * FROM {name}.users")\n'
        'cursor.execute("DELETE FROM likes WHERE id = %s" % like_id)\n'
        'cursor.execute("update {}.media set caption = 1".format(schema))\n'
        'cursor.execute(sql.SQL("SELECT * FROM {}").format(schema))\n'
        'log(f"{count} rows")\n'
        'raise CopyMismatch(f"copy differs: {a} != {b}")\n'
    )

    assert _sql_built_in_python(ast.parse(code)) == [
        (1, "f-string"),
        (2, "str formatting"),
        (3, "str formatting"),
    ]


def test_no_sql_is_built_with_f_strings_or_python_formatting():
    offenders = [
        (f"{path.relative_to(ROOT)}:{line}", kind)
        for path, tree, _ in _parsed()
        for line, kind in _sql_built_in_python(tree)
    ]

    assert offenders == []


def _psycopg2_connect_calls() -> list[tuple[str, ast.Call]]:
    calls = []
    for path, tree, _ in _parsed():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "connect"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "psycopg2"
            ):
                calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return calls


def test_no_connection_the_code_opens_sends_startup_options():
    calls = _psycopg2_connect_calls()

    assert calls, "found no psycopg2.connect() call to check"
    with_options = [
        where
        for where, call in calls
        if any(keyword.arg == "options" for keyword in call.keywords)
        or any(
            isinstance(arg, ast.Constant) and "options=" in str(arg.value)
            for arg in [*call.args, *(k.value for k in call.keywords)]
        )
    ]
    assert with_options == []


def test_the_stacks_dsns_carry_no_startup_options(settings):
    for dsn in settings.databases.values():
        assert "options" not in parse_qs(urlparse(str(dsn)).query)


# --- through PgBouncer --------------------------------------------------------------------


def test_a_unit_of_work_runs_through_pgbouncer(clients, settings):
    # GIVEN the stack's DSNs, which lead to PgBouncer, not straight to PostgreSQL
    shard = 3
    home = clients.shard_map.get().database_of(shard)
    pgbouncer_port = urlparse(str(settings.databases[home])).port
    direct_port = urlparse(os.environ["PHOTOFEED_POSTGRES_DIRECT"]).port
    assert pgbouncer_port != direct_port
    media_id, user_id = (uuid.uuid4().int >> 66 for _ in range(2))

    # WHEN a like is written and read back in one unit of work
    def like(conn, shard_schema):
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("INSERT INTO {}.likes (media_id, user_id) VALUES (%s, %s)").format(
                    shard_schema
                ),
                [media_id, user_id],
            )
            cursor.execute(
                sql.SQL("SELECT user_id FROM {}.likes WHERE media_id = %s").format(shard_schema),
                [media_id],
            )
            return cursor.fetchall(), conn.info.port

    def unlike(conn, shard_schema):
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("DELETE FROM {}.likes WHERE media_id = %s RETURNING user_id").format(
                    shard_schema
                ),
                [media_id],
            )
            return cursor.fetchall()

    rows, port = clients.router.run(shard, like)
    deleted = clients.router.run(shard, unlike)

    # THEN it worked, on a connection to PgBouncer
    assert rows == [(user_id,)]
    assert deleted == [(user_id,)]
    assert port == pgbouncer_port
