"""Cursor pagination: the page query every list route takes, and its opaque cursors.

A cursor names the last item shown, (created_at in microseconds, ID): clients pass it
back unchanged and never build one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import ConfigDict, Field, create_model

from chalicelib.api.models import ApiModel
from chalicelib.config import Limits

Position = tuple[datetime, int]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# 17 digits of microseconds reach the year 5138; IDs above the largest are clamped.
CURSOR_PATTERN = r"^[0-9]{1,17}_[0-9]{1,19}$"
MAX_ID = 2**63 - 1


def encode_cursor(position: Position | None) -> str | None:
    """The cursor for the page after `position` (None: there is none)."""
    if position is None:
        return None
    at, item_id = position
    return f"{(at - _EPOCH) // timedelta(microseconds=1)}_{item_id}"


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names. Any string of CURSOR_PATTERN names one (a made-up
    cursor gives some page, never an error)."""
    micros, item_id = cursor.split("_")
    return _EPOCH + timedelta(microseconds=int(micros)), min(int(item_id), MAX_ID)


class PageBase(ApiModel):
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
            str | None,
            Field(None, pattern=CURSOR_PATTERN, description="next_cursor of the last page"),
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
