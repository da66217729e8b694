"""Password hashing: argon2id, with OWASP's recommended parameters."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's first argon2id configuration: 19 MiB, 2 passes, 1 lane (about 25 ms here).
# Raising these later is safe: old hashes are upgraded at the next successful login.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    """The encoded argon2id hash (parameters and salt included) of `password`."""
    return _hasher.hash(password)


def verify_password(encoded: str, password: str) -> bool:
    """Whether `password` matches the stored hash."""
    try:
        return _hasher.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(encoded: str) -> bool:
    """Whether the stored hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(encoded)


def spend_verification_time(password: str) -> None:
    """Take as long as a verification, for a login that names no account: answers for
    unknown and known names then take the same time."""
    verify_password(_decoy_hash(), password)


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return hash_password("a password nobody has, hashed once per process")
