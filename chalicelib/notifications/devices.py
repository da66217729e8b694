"""Devices (SNS platform endpoints) and the kinds each user muted."""

from __future__ import annotations

import re
from typing import Any

from chalicelib.errors import InvalidInput, NotFound
from chalicelib.notifications import store
from chalicelib.notifications.kinds import KINDS, TOKEN_FORMATS
from chalicelib.notifications.store import Device
from chalicelib.shards.routing import Router

# SNS's refusal of a second endpoint for a token: "Endpoint <arn> already exists with the
# same Token, but different attributes."
_EXISTING = re.compile(r"Endpoint (arn:aws[\w-]*:sns:\S+) already exists with the same [Tt]oken")


class Devices:
    """Registers and removes users' devices; reads and sets their muted kinds."""

    def __init__(self, router: Router, sns: Any, applications: dict[str, str]) -> None:
        self._router = router
        self._sns = sns
        # Platform ("apns", "fcm") -> its SNS platform application's ARN.
        self._applications = applications

    def register(self, user_id: int, platform: str, token: str) -> Device:
        """The user's device for this token: registered once, the same device again after."""
        if not TOKEN_FORMATS[platform].fullmatch(token):
            raise InvalidInput(f"not a valid {platform} device token")
        application = self._applications.get(platform)
        if not application:
            raise InvalidInput(f"{platform} notifications are not configured")
        arn = self._endpoint(application, token)
        # One token, one owner: a phone signed in to another account no longer receives
        # the previous account's pushes. The endpoint itself names its owner.
        attributes = self._sns.get_endpoint_attributes(EndpointArn=arn)["Attributes"]
        previous = attributes.get("CustomUserData", "")
        if previous.isdigit() and int(previous) != user_id:
            owner = int(previous)
            self._router.run_for_id(owner, lambda c, s: store.forget_endpoint(c, s, owner, arn))
        # A token SNS disabled (the app was reinstalled) is enabled again by registering it.
        self._sns.set_endpoint_attributes(
            EndpointArn=arn, Attributes={"Enabled": "true", "CustomUserData": str(user_id)}
        )
        return self._router.run_for_id(
            user_id, lambda c, s: store.save(c, s, user_id, platform=platform, token=token, arn=arn)
        )

    def _endpoint(self, application: str, token: str) -> str:
        """The token's endpoint ARN: made, or the existing one (SNS refuses a second
        endpoint for a token whose attributes differ, and names the first in its error)."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            return self._sns.create_platform_endpoint(
                PlatformApplicationArn=application, Token=token
            )["EndpointArn"]
        except ClientError as exc:
            found = _EXISTING.search(exc.response["Error"].get("Message", ""))
            if exc.response["Error"]["Code"] != "InvalidParameter" or found is None:
                raise
            return found.group(1)

    def remove(self, user_id: int, device_id: int) -> None:
        """Forget the user's device and its endpoint; NotFound if it is not theirs."""
        gone = self._router.run_for_id(user_id, lambda c, s: store.remove(c, s, user_id, device_id))
        if gone is None:
            raise NotFound("no such device")
        self._sns.delete_endpoint(EndpointArn=gone.endpoint_arn)

    def muted(self, user_id: int) -> list[str]:
        """The kinds of notification the user muted."""
        return self._router.run_for_id(user_id, lambda c, s: store.muted(c, s, user_id))

    def mute(self, user_id: int, kinds: list[str]) -> list[str]:
        """Set the user's muted kinds; returns them."""
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise InvalidInput(f"unknown notification kinds: {sorted(unknown)}")
        self._router.run_for_id(user_id, lambda c, s: store.set_muted(c, s, user_id, kinds))
        return sorted(set(kinds))
