"""What the notification tests share: device tokens, and the pushes moto's SNS kept."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import requests

from chalicelib.clients import Clients
from chalicelib.config import Settings


def apns_token() -> str:
    """A fresh APNs device token (32 bytes, hex)."""
    return secrets.token_hex(32)


def fcm_token() -> str:
    """A fresh FCM registration token (URL-safe text, as FCM's look)."""
    return f"{secrets.token_urlsafe(16)}:APA91b{secrets.token_urlsafe(100)}"


def register(member: Any, platform: str = "apns", token: str | None = None) -> dict[str, Any]:
    """POST /devices; the device, with the token it was registered with."""
    token = token or (apns_token() if platform == "apns" else fcm_token())
    response = member.post("/devices", json={"platform": platform, "token": token})
    assert response.status_code == 201, response.text
    return {**response.json(), "token": token}


def endpoint_of(settings: Settings, token: str) -> dict[str, Any] | None:
    """moto's SNS platform endpoint for a device token (moto's dump keeps deleted ones:
    see `endpoint_exists`)."""
    found = [e for e in endpoints(settings).values() if e["token"] == token]
    return found[0] if found else None


def endpoint_exists(clients: Clients, arn: str) -> bool:
    """Whether SNS still has the endpoint."""
    try:
        clients.sns.get_endpoint_attributes(EndpointArn=arn)
    except clients.sns.exceptions.NotFoundException:
        return False
    return True


def endpoints(settings: Settings) -> dict[str, dict[str, Any]]:
    """moto's SNS platform endpoints by ARN (its /moto-api/ dumps every model it holds)."""
    data = requests.get(f"{settings.endpoint_url}/moto-api/data.json", timeout=10).json()
    return {e["arn"]: e for e in data.get("sns", {}).get("PlatformEndpoint", [])}


def pushes(settings: Settings, endpoint_arn: str) -> list[dict[str, Any]]:
    """The messages published to one endpoint, oldest first, as SNS's JSON structure."""
    found = endpoints(settings).get(endpoint_arn)
    return [json.loads(m) for m in (found or {}).get("messages", {}).values()]


def kinds_pushed(settings: Settings, endpoint_arn: str) -> list[str]:
    return [json.loads(m["APNS"])["kind"] for m in pushes(settings, endpoint_arn)]


def wait_for_kinds(
    settings: Settings, endpoint_arn: str, count: int, timeout: float = 20
) -> list[str]:
    """The kinds pushed to the endpoint, once at least `count` arrived."""
    deadline = time.monotonic() + timeout
    while True:
        kinds = kinds_pushed(settings, endpoint_arn)
        if len(kinds) >= count or time.monotonic() > deadline:
            return kinds
        time.sleep(0.2)
