"""Helpers of the places tests (also the authorization matrix's)."""

from __future__ import annotations

import random
import time

from chalicelib import redis_keys
from chalicelib.places.index import day_of

WITHIN_SECONDS = 10.0


def a_spot() -> tuple[float, float]:
    """A point nobody else on the shared stack posts near."""
    return random.uniform(-60, 60), random.uniform(-170, 170)


def at(lat: float, lng: float) -> dict:
    return {"location": {"latitude": lat, "longitude": lng, "place_name": "here"}}


def indexed(clients, *made: dict) -> None:
    """Wait until fan-out has put these media in their day's geo index (or the day was
    rebuilt with them)."""
    deadline = time.monotonic() + WITHIN_SECONDS
    for media in made:
        key = redis_keys.geo_day(day_of(int(media["id"])))
        while clients.redis.exists(key) and clients.redis.geopos(key, media["id"]) == [None]:
            assert time.monotonic() < deadline, "fan-out never indexed the media"
            time.sleep(0.1)
