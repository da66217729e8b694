"""64-bit IDs in Instagram's layout: 41 bits of milliseconds, 13 of shard, 10 of sequence.

PostgreSQL keeps IDs in a signed bigint, so the top bit of the 41 stays 0: IDs are
positive and sort by time for 2**40 ms from the epoch, until 2060-11.

PostgreSQL makes them (`next_id()` of each shard schema, see sql/0001_ids.sql); Python
only takes them apart and puts them together, e.g. to route an ID to its shard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

# 2026-01-01T00:00:00Z. IDs stay positive for 2**40 ms from here: until 2060-11.
EPOCH_MS = 1_767_225_600_000
SHARD_BITS = 13
SEQUENCE_BITS = 10
TIME_BITS = 64 - 1 - SHARD_BITS - SEQUENCE_BITS  # the sign bit stays 0
MAX_SHARDS = 1 << SHARD_BITS
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
MAX_TIME = (1 << TIME_BITS) - 1


class InvalidId(ValueError):
    """Raised when a number cannot be a Photofeed ID, or its parts do not fit."""


@dataclass(frozen=True, order=True)
class DecodedId:
    """The parts of an ID: Unix milliseconds, logical shard, sequence."""

    unix_ms: int
    shard: int
    sequence: int

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.unix_ms / 1000, tz=timezone.utc)


def decode(value: int) -> DecodedId:
    """The time, shard and sequence an ID holds."""
    if not 0 < value < 1 << 63:
        raise InvalidId(f"not a Photofeed ID: {value}")
    return DecodedId(
        unix_ms=(value >> (SHARD_BITS + SEQUENCE_BITS)) + EPOCH_MS,
        shard=(value >> SEQUENCE_BITS) & (MAX_SHARDS - 1),
        sequence=value & MAX_SEQUENCE,
    )


def encode(unix_ms: int, shard: int, sequence: int) -> int:
    """The ID of these parts (what next_id() computes in PostgreSQL)."""
    elapsed = unix_ms - EPOCH_MS
    if not 0 <= elapsed <= MAX_TIME:
        raise InvalidId(f"time outside the ID's range: {unix_ms}")
    if not 0 <= shard < MAX_SHARDS:
        raise InvalidId(f"no such logical shard: {shard}")
    if not 0 <= sequence <= MAX_SEQUENCE:
        raise InvalidId(f"sequence outside 0..{MAX_SEQUENCE}: {sequence}")
    value = (elapsed << (SHARD_BITS + SEQUENCE_BITS)) | (shard << SEQUENCE_BITS) | sequence
    if value == 0:
        raise InvalidId("the zero ID is never issued")
    return value


def shard_of(value: int) -> int:
    """The logical shard that holds the row an ID names."""
    return decode(value).shard
