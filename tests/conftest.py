"""One private local stack per test session: real PostgreSQL, Redis, moto, API and pump.

The stack starts before collection (so modules that read settings at import see it)
and stops at the end. To reuse a running stack instead (`make up`), point
PHOTOFEED_STACK_ENV at its `stack.env`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
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
    session = BaseUrlSession(api_url)
    yield session
    session.close()


class BaseUrlSession(requests.Session):
    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def request(self, method: str, url: str, *args, **kwargs):
        kwargs.setdefault("timeout", 30)
        return super().request(method, self.base_url + url, *args, **kwargs)


class Member:
    """A signed-up user as tests drive them: their ID, name, password and session."""

    def __init__(self, http: requests.Session, body: dict, password: str) -> None:
        self.http = http
        self.id = int(body["user"]["id"])
        self.username = body["user"]["username"]
        self.email = body["user"]["email"]
        self.password = password
        self.token = body["session"]["token"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(path, headers=self.headers, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.http.post(path, headers=self.headers, **kwargs)

    def patch(self, path: str, **kwargs) -> requests.Response:
        return self.http.patch(path, headers=self.headers, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.http.delete(path, headers=self.headers, **kwargs)


def new_member(http: requests.Session, private: bool = False, prefix: str = "u") -> Member:
    """Sign up a new user through the API at `http` (201 or the test fails)."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    password = f"pw-{uuid.uuid4().hex}"
    response = http.post(
        "/accounts",
        json={"username": name, "email": f"{name}@example.com", "password": password},
    )
    assert response.status_code == 201, response.text
    member = Member(http, response.json(), password)
    if private:
        changed = member.patch("/users/me", json={"is_private": True})
        assert changed.status_code == 200, changed.text
    return member


@pytest.fixture(scope="session")
def sign_up(http):
    """Sign up a new user through the API: `sign_up(private=False, prefix="u")` -> Member."""

    def make(private: bool = False, prefix: str = "u") -> Member:
        return new_member(http, private, prefix)

    return make
