"""Push notifications: POST /devices, DELETE /devices/{id}, GET/PATCH
/users/me/notifications."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import ConfigDict, Field, RootModel

from chalicelib.api.deps import get_devices
from chalicelib.api.errors import NotFound, Unprocessable
from chalicelib.api.models import MAX_ID, ApiModel, Id
from chalicelib.api.routing import Routes
from chalicelib.notifications.kinds import TOKEN_FORMATS, Kind, Platform
from chalicelib.observability import count

if TYPE_CHECKING:
    from chalicelib.accounts.service import Caller
    from chalicelib.notifications.store import Device

routes = Routes("notifications")


class ApnsDeviceBody(ApiModel):
    """An APNs device token: hex."""

    model_config = ConfigDict(extra="forbid", title="ApnsDevice")

    platform: Literal["apns"]
    token: str = Field(pattern=f"^{TOKEN_FORMATS['apns'].pattern}$", max_length=200)


class FcmDeviceBody(ApiModel):
    """An FCM registration token: URL-safe text."""

    model_config = ConfigDict(extra="forbid", title="FcmDevice")

    platform: Literal["fcm"]
    token: str = Field(pattern=f"^{TOKEN_FORMATS['fcm'].pattern}$", max_length=4096)


class NewDeviceBody(
    RootModel[Annotated[ApnsDeviceBody | FcmDeviceBody, Field(discriminator="platform")]]
):
    """An APNs device token or an FCM registration token (the document gives each
    platform's token format)."""

    model_config = ConfigDict(title="NewDevice", defer_build=True)


class DeviceOut(ApiModel):
    """A device my notifications are pushed to."""

    model_config = ConfigDict(title="Device")

    id: Id
    platform: Platform
    created_at: datetime


class DevicePath(ApiModel):
    model_config = ConfigDict(extra="forbid")

    device_id: int = Field(gt=0, le=MAX_ID, description="a device's ID")


class NotificationSettings(ApiModel):
    """The kinds of notification I do not want pushed."""

    model_config = ConfigDict(extra="forbid", title="NotificationSettings")

    muted: list[Kind] = Field(max_length=8)


def _device(device: Device) -> DeviceOut:
    return DeviceOut(id=device.id, platform=device.platform, created_at=device.created_at)  # type: ignore[arg-type]


@routes.route(
    "/devices", "POST", body=NewDeviceBody, response=DeviceOut, status=201, errors=(Unprocessable,)
)
def register_device(caller: Caller, body: NewDeviceBody) -> DeviceOut:
    """Push my notifications to this device; the same token again is the same device."""
    count("DevicesRegistered")
    device = body.root
    return _device(get_devices().register(caller.user_id, device.platform, device.token))


@routes.route(
    "/devices/{device_id}",
    "DELETE",
    path=DevicePath,
    response=None,
    status=204,
    errors=(NotFound,),
)
def remove_device(caller: Caller, path: DevicePath) -> None:
    """Stop pushing to my device."""
    get_devices().remove(caller.user_id, path.device_id)


@routes.route("/users/me/notifications", "GET", response=NotificationSettings)
def notification_settings(caller: Caller) -> NotificationSettings:
    """The kinds of notification I muted."""
    return NotificationSettings(muted=get_devices().muted(caller.user_id))  # type: ignore[arg-type]


@routes.route(
    "/users/me/notifications",
    "PATCH",
    body=NotificationSettings,
    response=NotificationSettings,
    errors=(Unprocessable,),
)
def mute_notifications(caller: Caller, body: NotificationSettings) -> NotificationSettings:
    """Set the kinds of notification I muted (like, comment, follow, follow_request)."""
    muted = get_devices().mute(caller.user_id, list(body.muted))
    return NotificationSettings(muted=muted)  # type: ignore[arg-type]
