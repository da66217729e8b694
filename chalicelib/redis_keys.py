"""Every Redis key Photofeed uses, spelled in this one module.

Keys that one Lua script touches together carry the same hash tag (`{...}`), so the
script works on Redis Cluster too: no command here spans two hash slots.
"""

from __future__ import annotations


def session(token_hash: str) -> str:
    """A session's cached owner and expiry, or its revocation."""
    return f"session:{token_hash}"


def counts(user_id: int) -> str:
    """A hash of the user's counters (followers, following, media)."""
    return f"user:{{{user_id}}}:counts"


def counts_rebuild(user_id: int) -> str:
    """The marker of a rebuild of `counts` in progress (same slot as `counts`)."""
    return f"user:{{{user_id}}}:counts:rebuild"


def counts_writes(user_id: int) -> str:
    """How many writes to the user's counted rows are in flight (same slot as `counts`)."""
    return f"user:{{{user_id}}}:counts:writes"


def active(user_id: int) -> str:
    """Present while the user counts as active (it expires after the active window)."""
    return f"user:{{{user_id}}}:active"


def login_failures_by_account(login: str) -> str:
    """Failed logins naming an account (by the name tried, known or not)."""
    return f"login-failures:account:{login}"


def login_failures_by_address(address: str) -> str:
    """Failed logins from a source address."""
    return f"login-failures:address:{address}"


def feed(user_id: int) -> str:
    """The user's home feed: media IDs, newest first (chalicelib.feed.lists)."""
    return f"feed:{{{user_id}}}"


def feed_rebuild(user_id: int) -> str:
    """The marker of a rebuild of `feed` in progress (same slot as `feed`)."""
    return f"feed:{{{user_id}}}:rebuild"


def recent(user_id: int) -> str:
    """The user's own recent media IDs, newest first: what readers pull from celebrities."""
    return f"recent:{{{user_id}}}"


def recent_rebuild(user_id: int) -> str:
    """The marker of a rebuild of `recent` in progress (same slot as `recent`)."""
    return f"recent:{{{user_id}}}:rebuild"


def celebrities() -> str:
    """The set of users whose media are pulled at read time instead of pushed."""
    return "celebrities"


def media(media_id: int) -> str:
    """A media's cached record, as feeds hydrate it."""
    return f"media:{{{media_id}}}"


def feed_shedding() -> str:
    """The load-shedding switch of feed reads ("on" or absent)."""
    return "config:feed-shedding"


def activity(user_id: int) -> str:
    """What happened to the user: a sorted set of entries by time (chalicelib.activity)."""
    return f"activity:{{{user_id}}}"


def activity_rebuild(user_id: int) -> str:
    """The marker of a rebuild of `activity` in progress (same slot as `activity`)."""
    return f"activity:{{{user_id}}}:rebuild"
