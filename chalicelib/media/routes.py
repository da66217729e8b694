"""Media: uploads, reading, editing and deleting media, likes and comments."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import ConfigDict, Field, StrictFloat

from chalicelib.api.deps import get_media
from chalicelib.api.errors import Conflict, Forbidden, NotFound, TooManyRequests
from chalicelib.api.models import (
    MAX_ID,
    NOT_BLANK_TEXT,
    ApiModel,
    Id,
    NumberInt,
    Text,
    UserPageOut,
    UserPath,
    UserSummaryOut,
)
from chalicelib.api.pages import encode_cursor, page_query
from chalicelib.api.routing import Routes
from chalicelib.config import get_settings
from chalicelib.media.keys import EXTENSIONS, rendition_key
from chalicelib.media.uploads import CONTENT_TYPES
from chalicelib.observability import count

if TYPE_CHECKING:
    from chalicelib.accounts.service import Caller
    from chalicelib.graph.service import Look
    from chalicelib.media.records import Comment, Location, Media
    from chalicelib.media.service import MediaView
    from chalicelib.users.store import Summary

routes = Routes("media")
_settings = get_settings()
_limits = _settings.limits
_BASE_URL = str(_settings.public_media_base_url)
PageQuery = page_query(_limits)
MAX_PLACE_NAME_CHARS = 200
ContentType = Literal[CONTENT_TYPES]  # type: ignore[valid-type]


class LocationIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    latitude: StrictFloat = Field(ge=-90, le=90, allow_inf_nan=False)
    longitude: StrictFloat = Field(ge=-180, le=180, allow_inf_nan=False)
    place_name: Text | None = Field(None, max_length=MAX_PLACE_NAME_CHARS)


class LocationOut(ApiModel):
    model_config = ConfigDict(title="Location")

    latitude: float
    longitude: float
    place_name: str | None


class NewUploadBody(ApiModel):
    model_config = ConfigDict(extra="forbid")

    content_type: ContentType
    byte_size: NumberInt = Field(ge=1, le=_limits.max_upload_bytes, description="the file's size")
    caption: Text = Field("", max_length=_limits.max_caption_chars)
    alt_text: Text = Field("", max_length=_limits.max_alt_text_chars)
    location: LocationIn | None = None


def _without_defaults(schema: dict) -> None:
    for field in schema.get("properties", {}).values():
        field.pop("default", None)


class MediaPatch(ApiModel):
    """The fields to change (absent: unchanged); `location: null` removes the location."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_without_defaults)

    caption: Text = Field(None, max_length=_limits.max_caption_chars)  # type: ignore[assignment]
    alt_text: Text = Field(None, max_length=_limits.max_alt_text_chars)  # type: ignore[assignment]
    location: LocationIn | None = None


class RenditionOut(ApiModel):
    model_config = ConfigDict(title="Rendition")

    width: int
    height: int
    jpeg: str | None
    webp: str | None


class MediaOut(ApiModel):
    """A media. Renditions are URLs on the CDN; the original is never served."""

    model_config = ConfigDict(title="Media")

    id: Id
    owner: UserSummaryOut
    status: Literal["pending", "ready", "failed"]
    failure_reason: str | None = Field(description="why the upload failed (its owner only)")
    caption: str
    alt_text: str
    location: LocationOut | None
    width: int | None
    height: int | None
    blurhash: str | None
    renditions: dict[str, RenditionOut] | None
    like_count: int
    comment_count: int
    liked: bool
    created_at: datetime


class UploadFormOut(ApiModel):
    """Send a multipart/form-data POST to `url`: every field of `fields`, then `file`."""

    model_config = ConfigDict(title="UploadForm")

    url: str
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int


class UploadOut(ApiModel):
    model_config = ConfigDict(title="Upload")

    media: MediaOut
    upload: UploadFormOut


class MediaPath(ApiModel):
    model_config = ConfigDict(extra="forbid")

    media_id: int = Field(gt=0, le=MAX_ID)


class CommentPath(ApiModel):
    model_config = ConfigDict(extra="forbid")

    media_id: int = Field(gt=0, le=MAX_ID)
    comment_id: int = Field(gt=0, le=MAX_ID)


class MediaPageOut(ApiModel):
    model_config = ConfigDict(title="MediaPage")

    items: list[MediaOut]
    next_cursor: str | None


class LikesOut(ApiModel):
    model_config = ConfigDict(title="Likes")

    liked: bool
    like_count: int


class NewCommentBody(ApiModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=_limits.max_comment_chars, pattern=NOT_BLANK_TEXT)


class CommentOut(ApiModel):
    model_config = ConfigDict(title="Comment")

    id: Id
    media_id: Id
    author: UserSummaryOut
    body: str
    created_at: datetime


class CommentPageOut(ApiModel):
    model_config = ConfigDict(title="CommentPage")

    items: list[CommentOut]
    next_cursor: str | None


def _summary(user: Summary | Look) -> UserSummaryOut:
    # The domain's modules load with the first request that needs them (see api.deps).
    from chalicelib.graph.service import Look  # noqa: PLC0415

    if isinstance(user, Look):
        u = user.user
        return UserSummaryOut(
            id=u.id, username=u.username, full_name=u.full_name, is_private=u.is_private
        )
    return UserSummaryOut(
        id=user.id, username=user.username, full_name=user.full_name, is_private=user.is_private
    )


def _renditions(media: Media) -> dict[str, RenditionOut] | None:
    record = media.renditions
    if not record:
        return None

    def url(name: str, fmt: str, size: dict) -> str | None:
        if fmt not in size["formats"]:
            return None
        return _BASE_URL + rendition_key(media.id, record["token"], name, EXTENSIONS[fmt])

    return {
        name: RenditionOut(
            width=size["width"],
            height=size["height"],
            jpeg=url(name, "jpeg", size),
            webp=url(name, "webp", size),
        )
        for name, size in record["sizes"].items()
    }


def media_out(media: Media, owner: Look, liked: bool, viewer: int) -> MediaOut:
    location = media.location
    return MediaOut(
        id=media.id,
        owner=_summary(owner),
        status=media.status,
        failure_reason=media.failure_reason if viewer == media.owner_id else None,
        caption=media.caption,
        alt_text=media.alt_text,
        location=LocationOut(**vars(location)) if location else None,
        width=media.width,
        height=media.height,
        blurhash=media.blurhash,
        renditions=_renditions(media),
        like_count=media.like_count,
        comment_count=media.comment_count,
        liked=liked,
        created_at=media.created_at,
    )


def _view_out(view: MediaView, viewer: int) -> MediaOut:
    return media_out(view.media, view.owner, view.liked, viewer)


def _comment_out(comment: Comment, author: Summary) -> CommentOut:
    return CommentOut(
        id=comment.id,
        media_id=comment.media_id,
        author=_summary(author),
        body=comment.body,
        created_at=comment.created_at,
    )


def _location(body: LocationIn | None) -> Location | None:
    from chalicelib.media.records import Location  # noqa: PLC0415 (see _summary)

    return Location(body.latitude, body.longitude, body.place_name) if body else None


@routes.route(
    "/media/uploads",
    "POST",
    body=NewUploadBody,
    response=UploadOut,
    status=201,
    errors=(TooManyRequests,),
)
def new_upload(caller: Caller, body: NewUploadBody) -> UploadOut:
    """Reserve a media and get the presigned POST to upload its original with."""
    from chalicelib.media.service import NewUpload  # noqa: PLC0415 (see _summary)

    media, form = get_media().reserve_upload(
        caller.user_id,
        NewUpload(
            body.content_type, body.byte_size, body.caption, body.alt_text, _location(body.location)
        ),
    )
    count("UploadsReserved")
    view = get_media().view(caller.user_id, media.id)
    return UploadOut(media=_view_out(view, caller.user_id), upload=UploadFormOut(**vars(form)))


@routes.route("/media/{media_id}", "GET", path=MediaPath, response=MediaOut, errors=(NotFound,))
def get_media_item(caller: Caller, path: MediaPath) -> MediaOut:
    """A media: its state, renditions, caption, counts and whether I liked it."""
    return _view_out(get_media().view(caller.user_id, path.media_id), caller.user_id)


@routes.route(
    "/media/{media_id}",
    "PATCH",
    path=MediaPath,
    body=MediaPatch,
    response=MediaOut,
    errors=(NotFound, Forbidden),
)
def edit_media(caller: Caller, path: MediaPath, body: MediaPatch) -> MediaOut:
    """Edit my media's caption, alt text or location."""
    changes = body.model_dump(include=body.model_fields_set - {"location"})
    if "location" in body.model_fields_set:
        location = body.location
        changes.update(
            latitude=location.latitude if location else None,
            longitude=location.longitude if location else None,
            place_name=location.place_name if location else None,
        )
    return _view_out(get_media().edit(caller.user_id, path.media_id, changes), caller.user_id)


@routes.route(
    "/media/{media_id}",
    "DELETE",
    path=MediaPath,
    response=None,
    status=204,
    errors=(NotFound, Forbidden),
)
def delete_media(caller: Caller, path: MediaPath) -> None:
    """Delete my media: it disappears everywhere, its files too."""
    get_media().delete(caller.user_id, path.media_id)
    count("MediaDeleted")


@routes.route(
    "/users/{user_id}/media",
    "GET",
    path=UserPath,
    query=PageQuery,
    response=MediaPageOut,
    errors=(NotFound, Forbidden),
)
def user_media(caller: Caller, path: UserPath, query: PageQuery) -> MediaPageOut:
    """A user's media, newest first (a private account's: followers only)."""
    before = query.after[1] if query.after else None
    owner, page, more = get_media().of_owner(caller.user_id, path.user_id, before, query.count)
    last = page[-1][0] if more else None
    return MediaPageOut(
        items=[media_out(m, owner, liked, caller.user_id) for m, liked in page],
        next_cursor=encode_cursor((last.created_at, last.id)) if last else None,
    )


@routes.route(
    "/media/{media_id}/like", "POST", path=MediaPath, response=LikesOut, errors=(NotFound, Conflict)
)
def like(caller: Caller, path: MediaPath) -> LikesOut:
    """Like a media; idempotent."""
    likes = get_media().like(caller.user_id, path.media_id)
    count("Likes")
    return LikesOut(liked=True, like_count=likes)


@routes.route(
    "/media/{media_id}/like",
    "DELETE",
    path=MediaPath,
    response=LikesOut,
    errors=(NotFound, Conflict),
)
def unlike(caller: Caller, path: MediaPath) -> LikesOut:
    """Take my like back; idempotent."""
    return LikesOut(liked=False, like_count=get_media().unlike(caller.user_id, path.media_id))


@routes.route(
    "/media/{media_id}/likes",
    "GET",
    path=MediaPath,
    query=PageQuery,
    response=UserPageOut,
    errors=(NotFound, Conflict),
)
def likes(caller: Caller, path: MediaPath, query: PageQuery) -> UserPageOut:
    """Who liked a media, newest first."""
    page = get_media().likers(caller.user_id, path.media_id, query.after, query.count)
    return UserPageOut(
        items=[_summary(s) for s in page.items], next_cursor=encode_cursor(page.next)
    )


@routes.route(
    "/media/{media_id}/comments",
    "POST",
    path=MediaPath,
    body=NewCommentBody,
    response=CommentOut,
    status=201,
    errors=(NotFound, Conflict),
)
def add_comment(caller: Caller, path: MediaPath, body: NewCommentBody) -> CommentOut:
    """Comment on a media (its hashtags are recorded)."""
    media = get_media()
    comment = media.comment(caller.user_id, path.media_id, body.body)
    count("Comments")
    author = media.author(caller.user_id)
    return _comment_out(comment, author)


@routes.route(
    "/media/{media_id}/comments",
    "GET",
    path=MediaPath,
    query=PageQuery,
    response=CommentPageOut,
    errors=(NotFound, Conflict),
)
def comments(caller: Caller, path: MediaPath, query: PageQuery) -> CommentPageOut:
    """A media's comments, newest first."""
    before = query.after[1] if query.after else None
    page = get_media().comments(caller.user_id, path.media_id, before, query.count)
    return CommentPageOut(
        items=[_comment_out(c, a) for c, a in page.comments], next_cursor=encode_cursor(page.next)
    )


@routes.route(
    "/media/{media_id}/comments/{comment_id}",
    "DELETE",
    path=CommentPath,
    response=None,
    status=204,
    errors=(NotFound, Forbidden, Conflict),
)
def delete_comment(caller: Caller, path: CommentPath) -> None:
    """Delete a comment: its author or the media's owner."""
    get_media().delete_comment(caller.user_id, path.media_id, path.comment_id)
