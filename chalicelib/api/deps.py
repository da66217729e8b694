"""What the API's views share, built once per process (a Lambda container)."""

from __future__ import annotations

from functools import lru_cache

from chalicelib.clients import Clients
from chalicelib.config import get_settings


@lru_cache(maxsize=1)
def get_clients() -> Clients:
    """The process's clients, built lazily from its settings."""
    return Clients(get_settings())
