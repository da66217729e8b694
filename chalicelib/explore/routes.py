"""GET /explore: recently liked public media, best first."""

from __future__ import annotations

import math
import struct
from typing import TYPE_CHECKING

from pydantic import ConfigDict, Field

from chalicelib.api.deps import get_explore
from chalicelib.api.models import ApiModel, MediaPageOut
from chalicelib.api.routing import Routes
from chalicelib.config import get_settings
from chalicelib.media.routes import MediaOut, media_out
from chalicelib.observability import count

if TYPE_CHECKING:
    from chalicelib.accounts.service import Caller

routes = Routes("explore")
_limits = get_settings().limits
# A cursor is the last item's position: its score (a double, as 16 hex digits, exact)
# and its ID. Any string of the pattern names a position: a made-up one gives some page.
CURSOR_PATTERN = r"^[0-9a-f]{16}_[0-9]{1,19}$"
MAX_ID = 2**63 - 1


def encode_cursor(position: tuple[float, str] | None) -> str | None:
    if position is None:
        return None
    score, member = position
    return f"{struct.pack('>d', score).hex()}_{member}"


def decode_cursor(cursor: str) -> tuple[float, str]:
    packed, member = cursor.split("_")
    (score,) = struct.unpack(">d", bytes.fromhex(packed))
    # NaN ranks nowhere: it reads as the end.
    return (-math.inf if math.isnan(score) else score), str(min(int(member), MAX_ID))


class ExploreQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(
        None, pattern=CURSOR_PATTERN, description="next_cursor of the last page"
    )
    count: int = Field(
        _limits.default_page_size,
        ge=1,
        le=_limits.max_page_size,
        description="items per page",
    )


class ExplorePageOut(MediaPageOut):
    """Recent media of public accounts (posted within seven days), ranked by recent likes
    (each like's weight halves every six hours), best first; never my own, nor across a
    block. Pass next_cursor as `cursor` for the next page (null: no more). The ranking
    moves between pages: a media liked meanwhile may be skipped, never shown twice."""

    model_config = ConfigDict(title="ExplorePage")

    items: list[MediaOut]
    next_cursor: str | None


@routes.route("/explore", "GET", query=ExploreQuery, response=ExplorePageOut)
def explore(caller: Caller, query: ExploreQuery) -> ExplorePageOut:
    """Recently liked public media, best first."""
    after = decode_cursor(query.cursor) if query.cursor else None
    page = get_explore().page(caller.user_id, after, query.count)
    if page.rebuilt:
        count("ExploreRebuilds")
    return ExplorePageOut(
        items=[media_out(i.media, i.owner, i.liked, caller.user_id) for i in page.items],
        next_cursor=encode_cursor(page.next),
        partial=page.partial,
    )
