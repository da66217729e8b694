"""One private local stack per test session: real PostgreSQL, Redis, moto, API and pump.

The stack starts before collection (so modules that read settings at import see it)
and stops at the end. To reuse a running stack instead (`make up`), point
PHOTOFEED_STACK_ENV at its `stack.env`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from chalicelib.clients import Clients
from chalicelib.config import Settings, read_env_file
from devstack.processes import free_port
from devstack.services import postgres_home
from devstack.stack import Stack

_stack: Stack | None = None


def pytest_sessionstart(session: pytest.Session) -> None:
    global _stack  # noqa: PLW0603 (one stack per process, like the servers it holds)
    given = os.environ.get("PHOTOFEED_STACK_ENV")
    if given:
        env = read_env_file(Path(given))
    else:
        _stack = Stack(Path(tempfile.mkdtemp(prefix="photofeed-test-")), api_port=free_port())
        env = _stack.start()
    os.environ.update(env)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _stack is None:
        return
    pg_data = postgres_home(_stack.directory)
    _stack.stop()
    shutil.rmtree(pg_data, ignore_errors=True)
    shutil.rmtree(_stack.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def clients(settings: Settings) -> Iterator[Clients]:
    made = Clients(settings)
    yield made
    made.databases.close()


@pytest.fixture(scope="session")
def api_url() -> str:
    return os.environ["PHOTOFEED_API_URL"]


@pytest.fixture(scope="session")
def http(api_url: str) -> Iterator[requests.Session]:
    """An HTTP session against the running API; pass paths, not URLs."""
    session = _BaseUrlSession(api_url)
    yield session
    session.close()


class _BaseUrlSession(requests.Session):
    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def request(self, method: str, url: str, *args, **kwargs):
        kwargs.setdefault("timeout", 30)
        return super().request(method, self.base_url + url, *args, **kwargs)
