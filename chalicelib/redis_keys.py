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


def tag(name: str) -> str:
    """A hashtag's media IDs, newest first (chalicelib.tags.index); names hold no braces."""
    return f"tag:{{{name}}}"


def tag_rebuild(name: str) -> str:
    """The marker of a rebuild of `tag` in progress (same slot as `tag`)."""
    return f"tag:{{{name}}}:rebuild"


def tag_count(name: str) -> str:
    """A hashtag's count of ready media, as last counted in PostgreSQL."""
    return f"tag:{{{name}}}:count"


def tag_names() -> str:
    """Every hashtag of a ready media: a sorted set (scores 0), searched by prefix."""
    return "tags:{names}"


def tag_names_rebuild() -> str:
    """The marker of a rebuild of `tag_names` in progress (same slot)."""
    return "tags:{names}:rebuild"


def tag_names_building(token: str) -> str:
    """Where a rebuild of `tag_names` gathers the names before they replace it (same slot)."""
    return f"tags:{{names}}:building:{token}"


def feed_shedding() -> str:
    """The load-shedding switch of feed reads ("on" or absent)."""
    return "config:feed-shedding"


def activity(user_id: int) -> str:
    """What happened to the user: a sorted set of entries by time (chalicelib.activity)."""
    return f"activity:{{{user_id}}}"


def activity_rebuild(user_id: int) -> str:
    """The marker of a rebuild of `activity` in progress (same slot as `activity`)."""
    return f"activity:{{{user_id}}}:rebuild"


def geo_day(day: str) -> str:
    """A UTC day's geotagged ready media: a GEO set of media IDs (chalicelib.places)."""
    return f"geo:{{{day}}}"


def geo_day_ids(day: str) -> str:
    """The same media by creation time, to trim the oldest past the cap (same slot)."""
    return f"geo:{{{day}}}:ids"


def geo_day_rebuild(day: str) -> str:
    """The marker of a rebuild of `geo_day` in progress (same slot)."""
    return f"geo:{{{day}}}:rebuild"


def geo_day_building(day: str, token: str) -> tuple[str, str]:
    """Where a rebuild of `geo_day` and `geo_day_ids` gathers them (same slot)."""
    return f"geo:{{{day}}}:building:{token}", f"geo:{{{day}}}:building-ids:{token}"


def explore() -> str:
    """Recently liked public media, scored by decaying likes (chalicelib.explore.index)."""
    return "explore:{explore}"


def explore_rebuild() -> str:
    """The marker of a rebuild of `explore` in progress (same slot as `explore`)."""
    return "explore:{explore}:rebuild"


def explore_pending() -> str:
    """Likes that came while `explore` was being rebuilt (same slot as `explore`)."""
    return "explore:{explore}:pending"
