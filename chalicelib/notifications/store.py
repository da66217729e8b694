"""Every statement about devices and notification preferences, on the user's shard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg2 import sql
from psycopg2.extensions import connection as Connection


@dataclass(frozen=True)
class Device:
    """A user's device, pushed to through its SNS platform endpoint."""

    id: int
    user_id: int
    platform: str
    token: str
    endpoint_arn: str
    created_at: datetime


_COLUMNS = "id, user_id, platform, token, endpoint_arn, created_at"


def _rows(conn: Connection, statement: str, schema: sql.Identifier, values: dict) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(sql.SQL(statement).format(s=schema, columns=sql.SQL(_COLUMNS)), values)
        return cursor.fetchall() if cursor.description else []


def save(
    conn: Connection, schema: sql.Identifier, user_id: int, *, platform: str, token: str, arn: str
) -> Device:
    """The user's device with this token, added or (same token again) brought up to date."""
    (row,) = _rows(
        conn,
        "INSERT INTO {s}.devices (user_id, platform, token, endpoint_arn)"
        " VALUES (%(u)s, %(p)s, %(t)s, %(a)s)"
        " ON CONFLICT (user_id, token) DO UPDATE"
        " SET platform = EXCLUDED.platform, endpoint_arn = EXCLUDED.endpoint_arn"
        " RETURNING {columns}",
        schema,
        {"u": user_id, "p": platform, "t": token, "a": arn},
    )
    return Device(*row)


def remove(conn: Connection, schema: sql.Identifier, user_id: int, device_id: int) -> Device | None:
    """Delete the user's device; None if the user has no such device."""
    rows = _rows(
        conn,
        "DELETE FROM {s}.devices WHERE id = %(d)s AND user_id = %(u)s RETURNING {columns}",
        schema,
        {"d": device_id, "u": user_id},
    )
    return Device(*rows[0]) if rows else None


def has_devices(conn: Connection, schema: sql.Identifier, user_id: int) -> bool:
    """Whether the user has registered any device."""
    rows = _rows(
        conn, "SELECT 1 FROM {s}.devices WHERE user_id = %(u)s LIMIT 1", schema, {"u": user_id}
    )
    return bool(rows)


def devices_of(conn: Connection, schema: sql.Identifier, user_id: int) -> list[Device]:
    """The user's devices, oldest first."""
    rows = _rows(
        conn,
        "SELECT {columns} FROM {s}.devices WHERE user_id = %(u)s ORDER BY id",
        schema,
        {"u": user_id},
    )
    return [Device(*row) for row in rows]


def forget_endpoint(conn: Connection, schema: sql.Identifier, user_id: int, arn: str) -> int:
    """Delete the user's devices pushed through this endpoint; how many there were."""
    return len(
        _rows(
            conn,
            "DELETE FROM {s}.devices WHERE user_id = %(u)s AND endpoint_arn = %(a)s RETURNING id",
            schema,
            {"u": user_id, "a": arn},
        )
    )


def muted(conn: Connection, schema: sql.Identifier, user_id: int) -> list[str]:
    """The kinds the user muted (none until they mute one)."""
    rows = _rows(
        conn,
        "SELECT muted FROM {s}.notification_preferences WHERE user_id = %(u)s",
        schema,
        {"u": user_id},
    )
    return sorted(rows[0][0]) if rows else []


def set_muted(conn: Connection, schema: sql.Identifier, user_id: int, kinds: list[str]) -> None:
    """Replace the user's muted kinds."""
    _rows(
        conn,
        "INSERT INTO {s}.notification_preferences (user_id, muted) VALUES (%(u)s, %(m)s)"
        " ON CONFLICT (user_id) DO UPDATE SET muted = EXCLUDED.muted, updated_at = now()",
        schema,
        {"u": user_id, "m": sorted(set(kinds))},
    )
