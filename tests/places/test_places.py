"""GET /media/search through the API, over the stack's real datastores and pipeline
(uploads made ready by the thumbnail Lambda; fan-out indexes their places)."""

from __future__ import annotations

import time

import pytest

from chalicelib import redis_keys
from chalicelib.places.index import day_of
from tests.answers import refused
from tests.media.helpers import a_ready_media, ids, ready_media
from tests.places.helpers import a_spot, at, indexed

WITHIN_SECONDS = 10.0
# About 100 m of latitude.
STEP = 0.0009


def _page(member, lat: float, lng: float, **params) -> dict:
    response = member.get("/media/search", params={"lat": lat, "lng": lng, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "next_max_id", "partial"}
    return body


def _ids(member, lat: float, lng: float, **params) -> list[str]:
    return ids(_page(member, lat, lng, count=50, **params)["items"])


def _found(member, lat: float, lng: float, expected: list[str], **params) -> None:
    """The search answers `expected`, once fan-out has indexed what was just made ready
    (today's day key exists: new media reach it through fan-out only)."""
    deadline = time.monotonic() + WITHIN_SECONDS
    while (found := _ids(member, lat, lng, **params)) != expected:
        assert time.monotonic() < deadline, f"{found} != {expected}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def owner(sign_up):
    return sign_up()


@pytest.fixture(scope="module")
def reader(sign_up):
    return sign_up()


def test_media_within_the_distance_are_found_newest_first(owner, reader):
    lat, lng = a_spot()
    made = ready_media(owner, 2, **at(lat, lng))
    far = a_ready_media(owner, **at(lat + 20 * STEP, lng))  # ~2 km north

    _found(reader, lat, lng, sorted(ids(made), key=int, reverse=True))
    _found(reader, lat, lng, sorted([*ids(made), far["id"]], key=int, reverse=True), distance=3000)
    _found(reader, lat, lng, sorted(ids(made), key=int, reverse=True), distance=50)


def test_nothing_near_is_an_empty_page(reader):
    lat, lng = a_spot()

    assert _page(reader, lat, lng) == {"items": [], "next_max_id": None, "partial": False}


def test_media_without_a_location_are_never_found(owner, reader):
    lat, lng = a_spot()
    a_ready_media(owner)

    assert _ids(reader, lat, lng, distance=5000) == []


def test_a_private_owners_media_are_never_found_even_by_followers(clients, sign_up, reader):
    private, follower = sign_up(private=True), sign_up()
    assert follower.post(f"/users/{private.id}/follow").status_code == 200
    assert private.post(f"/me/follow-requests/{follower.id}/approve").status_code == 204
    lat, lng = a_spot()
    indexed(clients, a_ready_media(private, **at(lat, lng)))

    assert _ids(reader, lat, lng) == []
    assert _ids(follower, lat, lng) == []


@pytest.mark.parametrize("who_blocks", ["owner", "reader"])
def test_a_block_either_way_hides_the_media(clients, sign_up, who_blocks):
    poster, other = sign_up(), sign_up()
    lat, lng = a_spot()
    media = a_ready_media(poster, **at(lat, lng))
    indexed(clients, media)
    blocker, blocked = (poster, other) if who_blocks == "owner" else (other, poster)
    assert blocker.post(f"/users/{blocked.id}/block").status_code == 200

    assert _ids(other, lat, lng) == []
    _found(poster, lat, lng, [media["id"]])


def test_a_deleted_media_is_no_longer_found(owner, reader):
    lat, lng = a_spot()
    kept, gone = ready_media(owner, 2, **at(lat, lng))
    _found(reader, lat, lng, [gone["id"], kept["id"]])

    assert owner.delete(f"/media/{gone['id']}").status_code == 204

    _found(reader, lat, lng, [kept["id"]])


def test_a_media_moved_away_is_no_longer_found_here(owner, reader):
    lat, lng = a_spot()
    media = a_ready_media(owner, **at(lat, lng))
    _found(reader, lat, lng, [media["id"]])

    moved = owner.patch(f"/media/{media['id']}", json={"location": None})
    assert moved.status_code == 200, moved.text

    assert _ids(reader, lat, lng) == []


def test_a_media_moved_here_is_found_here(clients, owner, reader):
    lat, lng = a_spot()
    media = a_ready_media(owner, **at(-lat, -lng))
    indexed(clients, media)
    assert _ids(reader, lat, lng) == []  # today's key exists: the edit must push

    moved = owner.patch(f"/media/{media['id']}", json=at(lat, lng))
    assert moved.status_code == 200, moved.text

    assert _ids(reader, lat, lng) == [media["id"]]


def test_a_new_media_reaches_a_built_day_through_fan_out(clients, owner, reader):
    lat, lng = a_spot()
    first = a_ready_media(owner, **at(lat, lng))
    _found(reader, lat, lng, [first["id"]])  # today's key exists now

    second = a_ready_media(owner, **at(lat, lng))

    key = redis_keys.geo_day(day_of(int(second["id"])))
    deadline = time.monotonic() + WITHIN_SECONDS
    while clients.redis.geopos(key, second["id"]) == [None]:
        assert time.monotonic() < deadline, "fan-out never indexed the media"
        time.sleep(0.1)
    _found(reader, lat, lng, [second["id"], first["id"]])


def test_a_lost_day_is_rebuilt_from_the_database(clients, owner, reader):
    lat, lng = a_spot()
    made = ready_media(owner, 2, **at(lat, lng))
    expected = sorted(ids(made), key=int, reverse=True)
    _found(reader, lat, lng, expected)
    key = redis_keys.geo_day(day_of(int(made[0]["id"])))

    clients.redis.delete(key)

    _found(reader, lat, lng, expected)
    # A push racing that rebuild (any media's fan-out of the day) cancels its store, by
    # design; a later search stores it.
    deadline = time.monotonic() + WITHIN_SECONDS
    while not clients.redis.exists(key):
        assert time.monotonic() < deadline, "no search stored the rebuilt day"
        _found(reader, lat, lng, expected)
        time.sleep(0.1)
    assert clients.redis.ttl(key) > 7 * 86400


def test_pages_follow_one_another_without_gaps_or_repeats(clients, owner, reader):
    lat, lng = a_spot()
    made = ready_media(owner, 5, **at(lat, lng))
    indexed(clients, *made)

    seen, params = [], {"count": 2}
    while True:
        body = _page(reader, lat, lng, **params)
        assert len(body["items"]) <= 2
        seen += ids(body["items"])
        if body["next_max_id"] is None:
            break
        params = {"count": 2, "max_id": body["next_max_id"]}

    assert seen == sorted(ids(made), key=int, reverse=True)


@pytest.mark.parametrize(
    "params",
    [
        {"lat": 90.5, "lng": 0},
        {"lat": -91, "lng": 0},
        {"lat": 0, "lng": 180.1},
        {"lat": 0, "lng": -181},
        {"lat": "nan", "lng": 0},
        {"lat": 0, "lng": "inf"},
        {"lat": 0, "lng": 0, "distance": 5001},
        {"lat": 0, "lng": 0, "distance": 0},
        {"lat": 0, "lng": 0, "distance": -1},
        {"lat": 0, "lng": 0, "days": 8},
        {"lat": 0, "lng": 0, "days": 0},
        {"lat": 0, "lng": 0, "count": 51},
        {"lat": 0, "lng": 0, "max_id": 0},
        {"lng": 0},
        {"lat": "north", "lng": 0},
    ],
)
def test_bad_input_is_refused_with_the_stable_error_body(reader, params):
    refused(reader.get("/media/search", params=params), 400, "validation_failed")


def test_the_poles_and_the_antimeridian_are_searchable(reader):
    for lat, lng in [(90, 0), (-90, 180), (0, -180)]:
        assert _page(reader, lat, lng, distance=5000)["items"] is not None
