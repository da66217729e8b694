"""GET /activity: what happened to the caller."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import ConfigDict

from chalicelib.activity.entries import datetime_of, micros_of
from chalicelib.api.deps import get_activity
from chalicelib.api.models import ApiModel, Id, UserSummaryOut
from chalicelib.api.pages import encode_cursor, page_query
from chalicelib.api.routing import Routes
from chalicelib.config import get_settings
from chalicelib.observability import count

if TYPE_CHECKING:
    from chalicelib.accounts.service import Caller
    from chalicelib.activity.service import ActivityItem

routes = Routes("activity")
ActivityQuery = page_query(get_settings().limits, "ActivityQuery")


class ActivityEntryOut(ApiModel):
    """Something that happened to me: `actor` liked or commented on my media
    (`media_id`; `comment_id` for a comment), followed me, asked to follow me, or
    approved my request to follow them."""

    model_config = ConfigDict(title="ActivityEntry")

    id: Id
    kind: Literal["like", "comment", "follow", "follow_request", "follow_approved"]
    actor: UserSummaryOut
    media_id: Id | None
    comment_id: Id | None
    created_at: datetime


class ActivityPageOut(ApiModel):
    """A page of my activity, newest first; pass next_cursor as `cursor` for the next
    one (null: no more). Entries from users with a block between us, and entries whose
    like, comment, follow or media is gone, are left out."""

    model_config = ConfigDict(title="ActivityPage")

    items: list[ActivityEntryOut]
    next_cursor: str | None


def _entry(item: ActivityItem) -> ActivityEntryOut:
    entry, actor = item.entry, item.actor
    return ActivityEntryOut(
        id=entry.id,
        kind=entry.kind,  # type: ignore[arg-type]
        actor=UserSummaryOut(
            id=actor.id,
            username=actor.username,
            full_name=actor.full_name,
            is_private=actor.is_private,
        ),
        media_id=entry.media_id or None,
        comment_id=entry.item_id or None,
        created_at=datetime_of(entry.micros),
    )


@routes.route("/activity", "GET", query=ActivityQuery, response=ActivityPageOut)
def activity(caller: Caller, query: ActivityQuery) -> ActivityPageOut:  # type: ignore[valid-type]
    """My activity: likes and comments on my media, new followers, follow requests and
    approvals, newest first."""
    after = query.after
    position = (micros_of(after[0]), after[1]) if after else None
    page = get_activity().page(caller.user_id, position, query.count)
    if page.rebuilt:
        count("ActivityRebuilds")
    last = (datetime_of(page.next[0]), page.next[1]) if page.next else None
    return ActivityPageOut(
        items=[_entry(item) for item in page.items], next_cursor=encode_cursor(last)
    )
