"""The kinds of push notification, and the message that asks for one."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

Kind = Literal["like", "comment", "follow", "follow_request"]
KINDS: tuple[str, ...] = ("like", "comment", "follow", "follow_request")

Platform = Literal["apns", "fcm"]
# APNs device tokens are hex, 32 bytes today; Apple warns they may grow (up to 100 bytes).
# FCM registration tokens are URL-safe text of about 150-200 characters, with no fixed
# length promised: 4096 bounds what we store.
TOKEN_FORMATS: dict[str, re.Pattern[str]] = {
    "apns": re.compile(r"[0-9a-fA-F]{64,200}"),
    "fcm": re.compile(r"[A-Za-z0-9_:\-]{32,4096}"),
}


class Notification(BaseModel):
    """What the notifications queue carries: `actor` did `kind` to `recipient`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind
    recipient_id: int
    actor_id: int
    media_id: int | None = None
    comment_id: int | None = None
