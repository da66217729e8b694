"""The follow graph: follow, block, relationships, lists and follow requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ConfigDict

from chalicelib.api.deps import get_graph
from chalicelib.api.errors import Conflict, Forbidden, NotFound, Unprocessable
from chalicelib.api.models import ApiModel, UserPageOut, UserPath, UserSummaryOut
from chalicelib.api.pages import encode_cursor, page_query
from chalicelib.api.routing import Routes
from chalicelib.config import get_settings
from chalicelib.observability import count

if TYPE_CHECKING:
    from chalicelib.accounts.service import Caller
    from chalicelib.graph.service import Page, Relationship

routes = Routes("graph")
PageQuery = page_query(get_settings().limits)


class RelationshipOut(ApiModel):
    """How the caller and a user stand."""

    model_config = ConfigDict(title="Relationship")

    following: bool
    followed_by: bool
    requested: bool
    requested_by: bool
    blocking: bool
    blocked_by: bool


def _relationship(relationship: Relationship) -> RelationshipOut:
    return RelationshipOut(**vars(relationship))


def _page(page: Page) -> UserPageOut:
    return UserPageOut(
        items=[
            UserSummaryOut(
                id=s.id, username=s.username, full_name=s.full_name, is_private=s.is_private
            )
            for s in page.items
        ],
        next_cursor=encode_cursor(page.next),
    )


_ABOUT_A_USER = (NotFound,)
_CHANGING_A_USER = (NotFound, Conflict, Unprocessable)


@routes.route(
    "/users/{user_id}/relationship",
    "GET",
    path=UserPath,
    response=RelationshipOut,
    errors=_ABOUT_A_USER,
)
def relationship(caller: Caller, path: UserPath) -> RelationshipOut:
    """How the caller and the user stand (blocks included, both ways)."""
    return _relationship(get_graph().look(caller.user_id, path.user_id).relationship)


@routes.route(
    "/users/{user_id}/follow",
    "POST",
    path=UserPath,
    response=RelationshipOut,
    errors=_CHANGING_A_USER,
)
def follow(caller: Caller, path: UserPath) -> RelationshipOut:
    """Follow the user (or ask to, if the account is private); idempotent."""
    relationship = get_graph().follow(caller.user_id, path.user_id)
    count("Follows" if relationship.following else "FollowRequests")
    return _relationship(relationship)


@routes.route(
    "/users/{user_id}/follow",
    "DELETE",
    path=UserPath,
    response=RelationshipOut,
    errors=_CHANGING_A_USER,
)
def unfollow(caller: Caller, path: UserPath) -> RelationshipOut:
    """Unfollow the user (or withdraw a request); idempotent."""
    count("Unfollows")
    return _relationship(get_graph().unfollow(caller.user_id, path.user_id))


@routes.route(
    "/users/{user_id}/block",
    "POST",
    path=UserPath,
    response=RelationshipOut,
    errors=_CHANGING_A_USER,
)
def block(caller: Caller, path: UserPath) -> RelationshipOut:
    """Block the user: follows and requests between you end, both ways; idempotent."""
    count("Blocks")
    return _relationship(get_graph().block(caller.user_id, path.user_id))


@routes.route(
    "/users/{user_id}/block",
    "DELETE",
    path=UserPath,
    response=RelationshipOut,
    errors=_CHANGING_A_USER,
)
def unblock(caller: Caller, path: UserPath) -> RelationshipOut:
    """Unblock the user; idempotent."""
    return _relationship(get_graph().unblock(caller.user_id, path.user_id))


@routes.route(
    "/users/{user_id}/followers",
    "GET",
    path=UserPath,
    query=PageQuery,
    response=UserPageOut,
    errors=(NotFound, Forbidden),
)
def followers(caller: Caller, path: UserPath, query: PageQuery) -> UserPageOut:
    """Who follows the user, newest first (a private account's: followers only)."""
    return _page(get_graph().followers(caller.user_id, path.user_id, query.after, query.count))


@routes.route(
    "/users/{user_id}/following",
    "GET",
    path=UserPath,
    query=PageQuery,
    response=UserPageOut,
    errors=(NotFound, Forbidden),
)
def following(caller: Caller, path: UserPath, query: PageQuery) -> UserPageOut:
    """Whom the user follows, newest first (a private account's: followers only)."""
    return _page(get_graph().following(caller.user_id, path.user_id, query.after, query.count))


@routes.route("/me/follow-requests", "GET", query=PageQuery, response=UserPageOut)
def follow_requests(caller: Caller, query: PageQuery) -> UserPageOut:
    """Who asked to follow the caller, newest first."""
    return _page(get_graph().requests(caller.user_id, query.after, query.count))


@routes.route(
    "/me/follow-requests/{user_id}/approve",
    "POST",
    path=UserPath,
    response=None,
    status=204,
    errors=(NotFound,),
)
def approve(caller: Caller, path: UserPath) -> None:
    """Approve the user's follow request; idempotent."""
    get_graph().approve(caller.user_id, path.user_id)


@routes.route(
    "/me/follow-requests/{user_id}/deny",
    "POST",
    path=UserPath,
    response=None,
    status=204,
)
def deny(caller: Caller, path: UserPath) -> None:
    """Refuse the user's follow request; idempotent."""
    get_graph().deny(caller.user_id, path.user_id)
