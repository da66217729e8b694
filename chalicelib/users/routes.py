"""Profiles: GET /users/me, PATCH /users/me, GET /users/{id}, GET /users/by-username/{name}."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import ConfigDict, Field, StrictBool

from chalicelib.api.deps import get_profiles
from chalicelib.api.errors import NotFound
from chalicelib.api.models import (
    MAX_USERNAME_CHARS,
    USERNAME_PATTERN,
    ApiModel,
    Id,
    Text,
    UserPath,
)
from chalicelib.api.routing import Routes

if TYPE_CHECKING:
    from chalicelib.accounts.service import Caller
    from chalicelib.users.profiles import Profile

routes = Routes("users")

MAX_FULL_NAME_CHARS = 64
MAX_BIO_CHARS = 150  # Instagram's


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
