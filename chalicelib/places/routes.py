"""GET /media/search: recent public media near a point."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ConfigDict, Field

from chalicelib.api.deps import get_places
from chalicelib.api.models import MAX_ID, ApiModel, Id, MediaPageOut
from chalicelib.api.routing import Routes
from chalicelib.config import get_settings
from chalicelib.media.routes import MediaOut, media_out
from chalicelib.observability import count
from chalicelib.places.limits import DEFAULT_DISTANCE_M, MAX_DISTANCE_M, MAX_WINDOW_DAYS

if TYPE_CHECKING:
    from chalicelib.accounts.service import Caller

routes = Routes("places")
_limits = get_settings().limits


class PlaceSearchQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, description="latitude, degrees")
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False, description="longitude, degrees")
    distance: float = Field(
        DEFAULT_DISTANCE_M,
        gt=0,
        le=MAX_DISTANCE_M,
        allow_inf_nan=False,
        description="radius in meters",
    )
    days: int = Field(MAX_WINDOW_DAYS, ge=1, le=MAX_WINDOW_DAYS, description="how recent")
    max_id: int | None = Field(
        None, gt=0, le=MAX_ID, description="next_max_id of the last page: older items"
    )
    count: int = Field(_limits.default_page_size, ge=1, le=_limits.max_page_size)


class PlaceSearchOut(MediaPageOut):
    """A page of recent public media taken within the distance, newest first. Pass
    next_max_id as max_id for the next page (null: no more)."""

    model_config = ConfigDict(title="PlaceSearch")

    items: list[MediaOut]
    next_max_id: Id | None


@routes.route("/media/search", "GET", query=PlaceSearchQuery, response=PlaceSearchOut)
def search_places(caller: Caller, query: PlaceSearchQuery) -> PlaceSearchOut:
    """Recent public media taken near a point."""
    from chalicelib.places.service import Near  # noqa: PLC0415 (cold start: deps.py)

    near = Near(query.lat, query.lng, query.distance, query.days)
    page = get_places().search(caller.user_id, near, query.max_id, query.count)
    if page.rebuilt:
        count("PlaceDayRebuilds", page.rebuilt)
    return PlaceSearchOut(
        items=[media_out(i.media, i.owner, i.liked, caller.user_id) for i in page.items],
        next_max_id=page.next_max_id,
        partial=page.partial,
    )
