"""Shapes that many routes share: the models' base, IDs, user paths, free text, pages of
users."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)


class ApiModel(BaseModel):
    """What routes take and answer. Each builds its validator and serializer at its first
    use rather than when defined: a cold start pays for none, a request for its own."""

    model_config = ConfigDict(defer_build=True)


# IDs are 64-bit: JSON numbers lose precision above 2**53 in JavaScript, so answers
# carry them as strings (as Twitter's id_str does); paths take the digits.
Id = Annotated[int, PlainSerializer(str, return_type=str, when_used="json")]
MAX_ID = 2**63 - 1


class MediaPageOut(ApiModel):
    """What every page of media (feed, tags, places, explore) carries besides its items."""

    partial: bool = Field(
        False,
        description="true when a database was down: the media it holds are left out of "
        "this page (not lost: they are back once it is)",
    )


# Letters, digits, '.' and '_', not only dots ('.' and '..' cannot travel in a URL).
USERNAME_PATTERN = r"^[A-Za-z0-9._]*[A-Za-z0-9_][A-Za-z0-9._]*$"
MAX_USERNAME_CHARS = 30
MAX_EMAIL_CHARS = 254  # RFC 5321's limit on a forward path

# Free text a person writes (names, bios, captions): no control characters other than
# tab and newline (PostgreSQL refuses NUL outright). In the document too.
Text = Annotated[str, Field(pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")]
# The same, with at least one character that is not white space (a comment).
NOT_BLANK_TEXT = r"^[^\x00-\x08\x0b-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x08\x0b-\x1f\x7f]*$"


def _a_number(value: object) -> object:
    # JSON's integers: 5 and 5.0 (JSON Schema calls both integers), never "5" or true.
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON number")
    return value


# An integer that came as a JSON number.
NumberInt = Annotated[int, BeforeValidator(_a_number)]


def _email(value: str) -> str:
    # Loaded by the first address checked (sign-up), not by every cold start.
    from email_validator import EmailNotValidError, validate_email  # noqa: PLC0415

    try:
        # Syntax only (no DNS): an address nobody can receive mail at is the user's loss.
        return validate_email(
            value,
            check_deliverability=False,
            globally_deliverable=False,
            allow_quoted_local=True,
            allow_domain_literal=True,
        ).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not an e-mail address: {exc}") from None


# An e-mail address by the RFCs' syntax (email-validator), normalized.
Email = Annotated[
    str,
    Field(max_length=MAX_EMAIL_CHARS),
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": MAX_EMAIL_CHARS}),
]


class UserPath(ApiModel):
    model_config = ConfigDict(extra="forbid")

    user_id: int = Field(gt=0, le=MAX_ID, description="a user's ID")


class UserSummaryOut(ApiModel):
    """A user as lists show them."""

    model_config = ConfigDict(title="UserSummary")

    id: Id
    username: str
    full_name: str
    is_private: bool


class UserPageOut(ApiModel):
    """A page of users; pass next_cursor as `cursor` for the next one (null: no more)."""

    model_config = ConfigDict(title="UserPage")

    items: list[UserSummaryOut]
    next_cursor: str | None
