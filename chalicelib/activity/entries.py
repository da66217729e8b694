"""Activity entries: what happened to a user, and their compact encoding in Redis.

An entry is stored as a sorted-set member `{kind}:{actor}:{media}:{item}` scored by its
time in microseconds. The member names the event, not the moment: the same like pushed
twice (a retried request) is one member, so an entry never shows twice. Members stay
under 64 bytes, and a list holds at most CAP of them, so Redis keeps each list as one
listpack (a few bytes an entry).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

LIKE, COMMENT, FOLLOW, FOLLOW_REQUEST, FOLLOW_APPROVED = (
    "like",
    "comment",
    "follow",
    "follow_request",
    "follow_approved",
)
KINDS = (LIKE, COMMENT, FOLLOW, FOLLOW_REQUEST, FOLLOW_APPROVED)
# One letter a kind in Redis (and in the SQL that checks entries: see queries.py).
CODES = {LIKE: "l", COMMENT: "c", FOLLOW: "f", FOLLOW_REQUEST: "r", FOLLOW_APPROVED: "a"}
_KINDS_BY_CODE = {code: kind for kind, code in CODES.items()}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Entry:
    """One thing that happened to a user: `actor` did `kind` (to `media_id`, with
    `item_id`: the comment's ID; 0 when there is none) at `micros`."""

    kind: str
    actor_id: int
    media_id: int
    item_id: int
    micros: int

    @property
    def member(self) -> str:
        """The entry's name in Redis: the same event always has the same one."""
        return f"{CODES[self.kind]}:{self.actor_id}:{self.media_id}:{self.item_id}"

    @property
    def id(self) -> int:
        """A stable 63-bit ID of the event (from its member): it orders entries of one
        microsecond, so (micros, id) is a total order for cursors."""
        digest = hashlib.blake2b(self.member.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") >> 1

    @property
    def position(self) -> tuple[int, int]:
        return self.micros, self.id


def micros_of(at: datetime) -> int:
    """A timestamp in microseconds since the Unix epoch (exact in a Redis score: a
    double holds integers to 2^53, the year 2255 in microseconds)."""
    return (at - _EPOCH) // timedelta(microseconds=1)


def datetime_of(micros: int) -> datetime:
    """The timestamp of a time in microseconds since the Unix epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def decode(member: bytes | str, score: float) -> Entry | None:
    """The entry a sorted-set member names; None for the placeholder of an empty list."""
    text = member.decode() if isinstance(member, bytes) else member
    parts = text.split(":")
    if len(parts) != 4 or parts[0] not in _KINDS_BY_CODE:
        return None
    actor, media, item = (int(part) for part in parts[1:])
    return Entry(_KINDS_BY_CODE[parts[0]], actor, media, item, int(score))


def newest_first(entries: list[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: e.position, reverse=True)
