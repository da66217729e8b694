"""POST /devices, DELETE /devices/{id} and GET/PATCH /users/me/notifications on the
local stack: devices become SNS platform endpoints in moto."""

from __future__ import annotations

import pytest

from tests.answers import error_of
from tests.notifications.pushes import apns_token, endpoint_exists, endpoint_of, register


@pytest.mark.parametrize("platform", ["apns", "fcm"])
def test_a_registered_device_is_an_enabled_sns_endpoint(sign_up, settings, platform):
    member = sign_up()

    device = register(member, platform)

    assert set(device) == {"id", "platform", "created_at", "token"}
    assert device["platform"] == platform
    endpoint = endpoint_of(settings, device["token"])
    assert endpoint is not None
    assert endpoint["enabled"] is True
    assert f"/{'APNS' if platform == 'apns' else 'GCM'}/" in endpoint["arn"]


def test_registering_the_same_token_again_is_the_same_device(sign_up, settings):
    member = sign_up()
    token = apns_token()

    first = register(member, "apns", token)
    second = register(member, "apns", token)

    assert second["id"] == first["id"]
    assert endpoint_of(settings, token) is not None


@pytest.mark.parametrize(
    ("platform", "token"),
    [
        ("apns", "not-hex" * 10),
        ("apns", "ab" * 16),  # too short for an APNs token
        ("fcm", "has spaces " * 10),
        ("fcm", "short"),
        ("webpush", "ab" * 32),
    ],
)
def test_a_malformed_token_is_refused(sign_up, platform, token):
    member = sign_up()

    response = member.post("/devices", json={"platform": platform, "token": token})

    assert response.status_code in (400, 422), response.text


def test_deleting_my_device_removes_its_endpoint(sign_up, settings, clients):
    member = sign_up()
    device = register(member)
    arn = endpoint_of(settings, device["token"])["arn"]

    response = member.delete(f"/devices/{device['id']}")

    assert response.status_code == 204, response.text
    assert not endpoint_exists(clients, arn)
    error_of(member.delete(f"/devices/{device['id']}"), 404)


def test_nobody_deletes_another_users_device(sign_up, settings, clients):
    owner, other = sign_up(), sign_up()
    device = register(owner)

    error_of(other.delete(f"/devices/{device['id']}"), 404)

    assert endpoint_exists(clients, endpoint_of(settings, device["token"])["arn"])


def test_nothing_is_muted_at_first_and_muted_kinds_are_kept(sign_up):
    member = sign_up()
    assert member.get("/users/me/notifications").json() == {"muted": []}

    changed = member.patch("/users/me/notifications", json={"muted": ["like", "follow", "like"]})

    assert changed.status_code == 200, changed.text
    assert changed.json() == {"muted": ["follow", "like"]}
    assert member.get("/users/me/notifications").json() == {"muted": ["follow", "like"]}


def test_an_unknown_kind_cannot_be_muted(sign_up):
    member = sign_up()

    response = member.patch("/users/me/notifications", json={"muted": ["everything"]})

    assert response.status_code in (400, 422), response.text
