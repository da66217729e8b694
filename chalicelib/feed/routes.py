"""GET /feed: the caller's home feed."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ConfigDict, Field

from chalicelib.api.deps import get_feed
from chalicelib.api.models import MAX_ID, ApiModel, Id, MediaPageOut
from chalicelib.api.routing import Routes
from chalicelib.config import get_settings
from chalicelib.media.routes import MediaOut, media_out
from chalicelib.observability import count, measure

if TYPE_CHECKING:
    from chalicelib.accounts.service import Caller

routes = Routes("feed")
_limits = get_settings().limits


class FeedQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    max_id: int | None = Field(
        None, gt=0, le=MAX_ID, description="next_max_id of the last page: older items"
    )
    count: int = Field(_limits.default_page_size, ge=1, le=_limits.max_page_size)


class FeedOut(MediaPageOut):
    """A page of the feed, newest first. Pass next_max_id as max_id for the next page
    (null: no more). Under load, pages are shorter."""

    model_config = ConfigDict(title="Feed")

    items: list[MediaOut]
    next_max_id: Id | None


@routes.route("/feed", "GET", query=FeedQuery, response=FeedOut)
def feed(caller: Caller, query: FeedQuery) -> FeedOut:
    """My home feed: my media and those of the people I follow, newest first."""
    started = time.perf_counter()
    page = get_feed().page(caller.user_id, query.max_id, query.count)
    measure("FeedLatency", (time.perf_counter() - started) * 1000, MetricUnit.Milliseconds)
    if page.shed:
        count("FeedShed")
    if page.rebuilt:
        count("FeedRebuilds")
    return FeedOut(
        items=[media_out(i.media, i.owner, i.liked, caller.user_id) for i in page.items],
        next_max_id=page.next_max_id,
        partial=page.partial,
    )
