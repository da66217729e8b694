"""Hashtags: a tag's media (newest first) and tag search by prefix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from urllib.parse import unquote

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from chalicelib.api.deps import get_tags
from chalicelib.api.models import MAX_ID, ApiModel, Id, MediaPageOut
from chalicelib.api.routing import Routes
from chalicelib.config import get_settings
from chalicelib.media.hashtags import MAX_TAG_CHARS, tag_name
from chalicelib.media.routes import MediaOut, media_out
from chalicelib.observability import count

if TYPE_CHECKING:
    from chalicelib.accounts.service import Caller

routes = Routes("tags")
_limits = get_settings().limits
# What a caller may write for a tag: a leading '#', then the tag (case and Unicode
# forms do not matter; it is normalized as captions' tags are). The document cannot
# say "letters, digits and marks of any script": the server checks that.
TagText = Annotated[
    str, Field(min_length=1, max_length=MAX_TAG_CHARS + 1), AfterValidator(tag_name)
]


def _decoded(value: object) -> object:
    # `chalice local` hands path segments over percent-encoded; API Gateway decodes
    # them. A tag holds no '%', so decoding what is decoded already changes no tag.
    return unquote(value, errors="strict") if isinstance(value, str) else value


class TagPath(ApiModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[TagText, BeforeValidator(_decoded)]


class TagMediaQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    max_id: int | None = Field(
        None, gt=0, le=MAX_ID, description="next_max_id of the last page: older items"
    )
    count: int = Field(_limits.default_page_size, ge=1, le=_limits.max_page_size)


class TagSearchQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    q: TagText = Field(description="the start of a tag ('#' optional)")
    count: int = Field(_limits.default_page_size, ge=1, le=_limits.max_page_size)


class TagMediaOut(MediaPageOut):
    """A page of a tag's media that I may see, newest first. Pass next_max_id as max_id
    for the next page (null: no more)."""

    model_config = ConfigDict(title="TagMedia")

    tag: str
    items: list[MediaOut]
    next_max_id: Id | None


class TagOut(ApiModel):
    model_config = ConfigDict(title="Tag")

    name: str
    media_count: int = Field(description="ready media with the tag (a few minutes behind)")


class TagSearchOut(ApiModel):
    """Tags starting with the query, in name order (at most `count`)."""

    model_config = ConfigDict(title="TagSearch")

    items: list[TagOut]


@routes.route("/tags/{name}/media", "GET", path=TagPath, query=TagMediaQuery, response=TagMediaOut)
def tag_media(caller: Caller, path: TagPath, query: TagMediaQuery) -> TagMediaOut:
    """A tag's media that I may see, newest first."""
    page = get_tags().page(caller.user_id, path.name, query.max_id, query.count)
    if page.rebuilt:
        count("TagRebuilds")
    return TagMediaOut(
        tag=path.name,
        items=[media_out(i.media, i.owner, i.liked, caller.user_id) for i in page.items],
        next_max_id=page.next_max_id,
        partial=page.partial,
    )


@routes.route("/tags/search", "GET", query=TagSearchQuery, response=TagSearchOut)
def search_tags(caller: Caller, query: TagSearchQuery) -> TagSearchOut:
    """Tags starting with a prefix, with their media counts."""
    found = get_tags().search(query.q, query.count)
    return TagSearchOut(items=[TagOut(name=name, media_count=n) for name, n in found])
