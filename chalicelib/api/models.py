"""Shapes that many routes share: IDs, user paths, free text, pages of users."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

# IDs are 64-bit: JSON numbers lose precision above 2**53 in JavaScript, so answers
# carry them as strings (as Twitter's id_str does); paths take the digits.
Id = Annotated[int, PlainSerializer(str, return_type=str, when_used="json")]
MAX_ID = 2**63 - 1
USERNAME_PATTERN = r"^[A-Za-z0-9._]{1,30}$"
# Control characters other than tab and newline; PostgreSQL refuses NUL outright.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


# Free text a person writes (names, bios, captions): no control characters.
Text = Annotated[str, AfterValidator(_no_control_characters)]


class UserPath(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: int = Field(gt=0, le=MAX_ID, description="a user's ID")


class UserSummaryOut(BaseModel):
    """A user as lists show them."""

    model_config = ConfigDict(title="UserSummary")

    id: Id
    username: str
    full_name: str
    is_private: bool


class UserPageOut(BaseModel):
    """A page of users; pass next_cursor as `cursor` for the next one (null: no more)."""

    model_config = ConfigDict(title="UserPage")

    items: list[UserSummaryOut]
    next_cursor: str | None
