"""Cursor pagination: the page query every list route takes, and its opaque cursors.

A cursor names the last item shown, (created_at, ID), as base64url: clients pass it
back unchanged and never build one.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from chalicelib.config import Limits

Position = tuple[datetime, int]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_CURSOR_CHARS = 64


def encode_cursor(position: Position | None) -> str | None:
    """The cursor for the page after `position` (None: there is none)."""
    if position is None:
        return None
    at, item_id = position
    micros = (at - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"{micros}.{item_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names; ValueError if it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        micros, item_id = (int(part) for part in text.split("."))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a cursor this API gave out") from None
    if not (0 <= micros < 2**62 and 0 < item_id < 2**63):
        raise ValueError("not a cursor this API gave out")
    return _EPOCH + timedelta(microseconds=micros), item_id


def _checked(cursor: str | None) -> str | None:
    if cursor is not None:
        decode_cursor(cursor)
    return cursor


Cursor = Annotated[str | None, AfterValidator(_checked)]


class PageBase(BaseModel):
    """What every page query accepts."""

    model_config = ConfigDict(extra="forbid")

    @property
    def after(self) -> Position | None:
        return decode_cursor(self.cursor) if self.cursor else None  # type: ignore[attr-defined]


def page_query(limits: Limits, name: str = "PageQuery") -> type[PageBase]:
    """The query model of a list route, within the deployment's page limits."""
    return create_model(
        name,
        __base__=PageBase,
        cursor=(
            Cursor,
            Field(None, max_length=_MAX_CURSOR_CHARS, description="next_cursor of the last page"),
        ),
        count=(
            int,
            Field(
                limits.default_page_size,
                ge=1,
                le=limits.max_page_size,
                description="items per page",
            ),
        ),
    )
