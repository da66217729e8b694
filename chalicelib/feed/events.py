"""The messages of the fan-out queue: media-ready events (from the media-events topic)
and the chunks a large audience is split into (sent by fan-out itself)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chalicelib.errors import InvalidInput


class MalformedEvent(InvalidInput):
    """Raised when a message on the fan-out queue is not a media event."""


class MediaReady(BaseModel):
    """A media finished processing and may now reach its owner's followers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["media.ready"] = "media.ready"
    media_id: int = Field(gt=0)
    owner_id: int = Field(gt=0)
    uploaded_at: AwareDatetime
    ready_at: AwareDatetime


class FanoutChunk(BaseModel):
    """One slice of a media's audience: the followers with IDs in (after, through]."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["fanout.chunk"] = "fanout.chunk"
    media_id: int = Field(gt=0)
    owner_id: int = Field(gt=0)
    uploaded_at: AwareDatetime
    after: int = Field(ge=0)
    through: int = Field(gt=0)


FanoutMessage = Annotated[MediaReady | FanoutChunk, Field(discriminator="type")]
_MESSAGE: TypeAdapter[MediaReady | FanoutChunk] = TypeAdapter(FanoutMessage)


def parse_media_event(body: str) -> MediaReady | FanoutChunk:
    """The message an SQS body carries (SNS raw message delivery, or a chunk of ours)."""
    try:
        return _MESSAGE.validate_json(body)
    except ValidationError as exc:
        raise MalformedEvent(
            "not a media event", [e["msg"] for e in exc.errors(include_input=False)]
        ) from exc


def media_event_from(data: dict) -> MediaReady | FanoutChunk:
    """A message from its JSON-ready dict (as `model_dump(mode="json")` gave it)."""
    return _MESSAGE.validate_python(data)
