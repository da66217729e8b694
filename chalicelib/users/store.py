"""The users and credentials tables of a shard: every statement about them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg2 import errors, sql
from psycopg2.extensions import connection as Connection
from psycopg2.extras import execute_values

from chalicelib.accounts.claims import NameTaken

# What a profile edit may change; never the ID, the username (a claim) or counters.
EDITABLE = ("full_name", "bio", "is_private")
_COLUMNS = sql.SQL("id, username, email, full_name, bio, is_private, created_at")


@dataclass(frozen=True)
class User:
    """A user's row."""

    id: int
    username: str
    email: str
    full_name: str
    bio: str
    is_private: bool
    created_at: datetime


@dataclass(frozen=True)
class Summary:
    """A user as lists show them, and whether they block the viewer."""

    id: int
    username: str
    full_name: str
    is_private: bool
    blocks_viewer: bool


def insert(
    conn: Connection, schema: sql.Identifier, username: str, email: str, password_hash: str
) -> int:
    """A new user and their credentials; the new ID."""
    return insert_many(conn, schema, [(username, email, password_hash)])[0]


def insert_many(
    conn: Connection, schema: sql.Identifier, accounts: Sequence[tuple[str, str, str]]
) -> list[int]:
    """New users and their credentials, from (username, e-mail, password hash) each, in
    two statements; their new IDs, in order."""
    try:
        with conn.cursor() as cursor:
            ids = execute_values(
                cursor,
                sql.SQL("INSERT INTO {}.users (username, email) VALUES %s RETURNING username, id")
                .format(schema)
                .as_string(cursor),
                [(username, email) for username, email, _ in accounts],
                page_size=len(accounts),
                fetch=True,
            )
            made = dict(ids)
            user_ids = [made[username] for username, _, _ in accounts]
            execute_values(
                cursor,
                sql.SQL("INSERT INTO {}.credentials (user_id, password_hash) VALUES %s")
                .format(schema)
                .as_string(cursor),
                [
                    (user_id, hashed)
                    for user_id, (_, _, hashed) in zip(user_ids, accounts, strict=True)
                ],
                page_size=len(accounts),
            )
    except errors.UniqueViolation:
        raise NameTaken("username") from None  # only if a claim was lost; the shard agrees
    return user_ids


def find_by_name(
    conn: Connection, schema: sql.Identifier, kind: Literal["username", "email"], name: str
) -> int | None:
    """The ID of the shard's user with that username or e-mail (case-insensitive)."""
    column = sql.Identifier(kind)
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT id FROM {}.users WHERE lower({}) = lower(%s)").format(schema, column),
            [name],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def load(conn: Connection, schema: sql.Identifier, user_id: int) -> User | None:
    """The user's row, or None."""
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT {} FROM {}.users WHERE id = %s").format(_COLUMNS, schema), [user_id]
        )
        row = cursor.fetchone()
    return User(*row) if row else None


def update(
    conn: Connection, schema: sql.Identifier, user_id: int, changes: dict[str, Any]
) -> User | None:
    """Apply profile changes (only EDITABLE fields); the updated row, or None."""
    if set(changes) - set(EDITABLE):
        raise ValueError(f"not editable: {sorted(set(changes) - set(EDITABLE))}")
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = %s").format(sql.Identifier(name)) for name in changes
    )
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "UPDATE {schema}.users SET {assignments}, updated_at = now() "
                "WHERE id = %s RETURNING {columns}"
            ).format(schema=schema, assignments=assignments, columns=_COLUMNS),
            [*changes.values(), user_id],
        )
        row = cursor.fetchone()
    return User(*row) if row else None


def password_hash(conn: Connection, schema: sql.Identifier, user_id: int) -> str | None:
    """The user's stored password hash."""
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT password_hash FROM {}.credentials WHERE user_id = %s").format(schema),
            [user_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def set_password_hash(conn: Connection, schema: sql.Identifier, user_id: int, encoded: str) -> None:
    """Replace the stored hash (a rehash with today's parameters)."""
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "UPDATE {}.credentials SET password_hash = %s, updated_at = now() "
                "WHERE user_id = %s"
            ).format(schema),
            [encoded, user_id],
        )


def summaries_query(
    schema: sql.Identifier, ids: Iterable[int], viewer: int
) -> tuple[sql.Composable, list[Any]]:
    """The part, for one shard, of a query for users' summaries (see Router.query_shards)."""
    statement = sql.SQL(
        "SELECT u.id, u.username, u.full_name, u.is_private, EXISTS ("
        "SELECT 1 FROM {schema}.blocks b WHERE b.source_id = u.id AND b.target_id = %s) "
        "FROM {schema}.users u WHERE u.id = ANY(%s)"
    ).format(schema=schema)
    return statement, [viewer, list(ids)]
