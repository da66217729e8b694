"""The events the fan-out Lambda consumes, published on the media-events topic."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

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


def parse_media_event(body: str) -> MediaReady:
    """The media event an SQS message body carries (SNS raw message delivery)."""
    try:
        return MediaReady.model_validate_json(body)
    except ValidationError as exc:
        raise MalformedEvent(
            "not a media event", [e["msg"] for e in exc.errors(include_input=False)]
        ) from exc
