"""Profiles: GET /users/me, PATCH /users/me, GET /users/{id}, GET /users/by-username/{name};
user search: GET /users/search."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import ConfigDict, Field, StrictBool

from chalicelib.api.deps import get_profiles, get_user_search
from chalicelib.api.errors import NotFound
from chalicelib.api.models import (
    MAX_USERNAME_CHARS,
    USERNAME_PATTERN,
    ApiModel,
    Id,
    Text,
    UserPageOut,
    UserPath,
    UserSummaryOut,
)
from chalicelib.api.routing import Routes
from chalicelib.config import get_settings

if TYPE_CHECKING:
    from chalicelib.accounts.service import Caller
    from chalicelib.users.profiles import Profile
    from chalicelib.users.search import SearchPage

routes = Routes("users")

MAX_FULL_NAME_CHARS = 64
MAX_BIO_CHARS = 150  # Instagram's
# The beginning of a username (any case), as typed: a leading '@' is allowed.
SEARCH_PATTERN = rf"^@?[A-Za-z0-9._]{{1,{MAX_USERNAME_CHARS}}}$"
# A search cursor is the last username shown, folded (see chalicelib.users.search).
SEARCH_CURSOR_PATTERN = rf"^[a-z0-9._]{{1,{MAX_USERNAME_CHARS}}}$"
_LIMITS = get_settings().limits


class CountsOut(ApiModel):
    model_config = ConfigDict(title="Counts")

    media: int
    followers: int
    following: int


class ProfileOut(ApiModel):
    """A user's public profile (a private account's too: its lists and media are hidden)."""

    model_config = ConfigDict(title="Profile")

    id: Id
    username: str
    full_name: str
    bio: str
    is_private: bool
    created_at: datetime
    counts: CountsOut


class MeOut(ProfileOut):
    """The caller's own profile, with what only they see."""

    model_config = ConfigDict(title="Me")

    email: str


def _without_defaults(schema: dict) -> None:
    """No `default: null` in the document: a field left out is unchanged, not null."""
    for field in schema.get("properties", {}).values():
        field.pop("default", None)


class ProfilePatch(ApiModel):
    """The fields to change (absent: unchanged; none: nothing changes)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_without_defaults)

    # Absent means unchanged; null is refused, as the document says (a string).
    full_name: Text = Field(None, max_length=MAX_FULL_NAME_CHARS)  # type: ignore[assignment]
    bio: Text = Field(None, max_length=MAX_BIO_CHARS)  # type: ignore[assignment]
    is_private: StrictBool = None  # type: ignore[assignment]


class UsernamePath(ApiModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN, max_length=MAX_USERNAME_CHARS)


class SearchQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(
        pattern=SEARCH_PATTERN,
        max_length=MAX_USERNAME_CHARS + 1,
        description="the beginning of a username, any case ('@' first is ignored)",
    )
    cursor: str | None = Field(
        None, pattern=SEARCH_CURSOR_PATTERN, description="next_cursor of the last page"
    )
    count: int = Field(
        _LIMITS.default_page_size,
        ge=1,
        le=_LIMITS.max_page_size,
        description="items per page (after blocked users are left out, maybe fewer)",
    )

    @property
    def prefix(self) -> str:
        return self.q.removeprefix("@")


def profile_out(profile: Profile) -> ProfileOut:
    return ProfileOut(**_fields(profile))


def me_out(profile: Profile) -> MeOut:
    return MeOut(**_fields(profile), email=profile.user.email)


def _fields(profile: Profile) -> dict:
    user = profile.user
    return {
        "id": user.id,
        "username": user.username,
        "full_name": user.full_name,
        "bio": user.bio,
        "is_private": user.is_private,
        "created_at": user.created_at,
        "counts": CountsOut(**vars(profile.counts)),
    }


@routes.route("/users/me", "GET", response=MeOut)
def get_me(caller: Caller) -> MeOut:
    """The caller's own profile."""
    return me_out(get_profiles().view(caller.user_id, caller.user_id))


@routes.route("/users/me", "PATCH", body=ProfilePatch, response=MeOut)
def update_me(caller: Caller, body: ProfilePatch) -> MeOut:
    """Edit the caller's full name, bio or privacy (going public approves pending requests)."""
    changes = body.model_dump(include=body.model_fields_set)
    return me_out(get_profiles().update(caller.user_id, changes))


@routes.route("/users/{user_id}", "GET", path=UserPath, response=ProfileOut, errors=(NotFound,))
def get_user(caller: Caller, path: UserPath) -> ProfileOut:
    """A user's profile."""
    return profile_out(get_profiles().view(caller.user_id, path.user_id))


@routes.route(
    "/users/by-username/{username}",
    "GET",
    path=UsernamePath,
    response=ProfileOut,
    errors=(NotFound,),
)
def get_user_by_username(caller: Caller, path: UsernamePath) -> ProfileOut:
    """A user's profile, by username (whatever the case)."""
    return profile_out(get_profiles().by_username(caller.user_id, path.username))


@routes.route("/users/search", "GET", query=SearchQuery, response=UserPageOut)
def search_users(caller: Caller, query: SearchQuery) -> UserPageOut:
    """Users whose username begins with `q` (any case), in name order; blocked ones left out."""
    found = get_user_search().search(caller.user_id, query.prefix, query.cursor, query.count)
    return _search_page(found)


def _search_page(page: SearchPage) -> UserPageOut:
    return UserPageOut(
        items=[
            UserSummaryOut(
                id=s.id, username=s.username, full_name=s.full_name, is_private=s.is_private
            )
            for s in page.items
        ],
        next_cursor=page.next,
    )
