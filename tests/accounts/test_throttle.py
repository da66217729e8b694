"""Failed logins are limited per account and per source address; Redis down lets logins through.

Failures are made in-process, from an address of the test's own: through HTTP they would
also count against 127.0.0.1, which every test on the shared stack logs in from. The
account counter they fill is the API's (same Redis key), so the API's answer is checked.
"""

from __future__ import annotations

import pytest
import redis

from chalicelib import redis_keys
from chalicelib.accounts.service import throttle_account
from chalicelib.accounts.throttle import LoginThrottle
from chalicelib.errors import RateLimited, Unauthenticated
from devstack.processes import free_port
from tests.answers import error_of, fresh_name

WINDOW_SECONDS = 60


@pytest.fixture
def api_throttle(settings, clients) -> LoginThrottle:
    """The API's throttle: its limits and window, on the stack's Redis."""
    auth = settings.auth
    return LoginThrottle(
        clients.redis,
        per_account=auth.login_failures_per_account,
        per_address=auth.login_failures_per_address,
        window_seconds=auth.login_failure_window_seconds,
    )


def fail(accounts, login: str, address: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(Unauthenticated):
            accounts.log_in(login, "not the password", address)


def test_an_account_at_its_failure_limit_refuses_even_the_right_password_with_a_429(
    http, settings, sign_up, accounts_with, api_throttle, made_up_address
):
    # GIVEN as many failed logins for an account as its limit allows
    member = sign_up()
    limit = settings.auth.login_failures_per_account
    fail(accounts_with(api_throttle), member.username, made_up_address, limit)

    # WHEN the right password is sent
    response = http.post("/sessions", json={"login": member.username, "password": member.password})

    # THEN the account waits out its window
    assert error_of(response, 429)["code"] == "rate_limited"
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit()
    assert 0 < int(retry_after) <= settings.auth.login_failure_window_seconds


def test_an_account_below_its_failure_limit_still_logs_in(
    http, settings, sign_up, accounts_with, api_throttle, made_up_address
):
    member = sign_up()
    limit = settings.auth.login_failures_per_account
    fail(accounts_with(api_throttle), member.username, made_up_address, limit - 1)

    response = http.post("/sessions", json={"login": member.username, "password": member.password})

    assert response.status_code == 201, response.text


def test_the_failure_limit_counts_the_login_whatever_its_case(
    http, settings, sign_up, accounts_with, api_throttle, made_up_address
):
    member = sign_up()
    limit = settings.auth.login_failures_per_account
    fail(accounts_with(api_throttle), member.username.upper(), made_up_address, limit)

    response = http.post("/sessions", json={"login": member.username, "password": member.password})

    assert response.status_code == 429


def test_a_successful_login_resets_the_accounts_failures(
    http, clients, settings, sign_up, accounts_with, api_throttle, made_up_address
):
    # GIVEN failures one short of the limit, then a successful login
    member = sign_up()
    accounts = accounts_with(api_throttle)
    limit = settings.auth.login_failures_per_account
    fail(accounts, member.username, made_up_address, limit - 1)
    login = {"login": member.username, "password": member.password}
    assert http.post("/sessions", json=login).status_code == 201

    # WHEN as many failures follow again
    fail(accounts, member.username, made_up_address, limit - 1)

    # THEN the account is below its limit: only those count
    account_key = redis_keys.login_failures_by_account(throttle_account(member.username, member.id))
    assert int(clients.redis.get(account_key)) == limit - 1
    assert http.post("/sessions", json=login).status_code == 201


def test_failures_by_username_and_by_email_count_against_the_same_account(
    http, settings, sign_up, accounts_with, api_throttle, made_up_address
):
    # GIVEN half the limit failed by username and the rest by e-mail address
    member = sign_up()
    accounts = accounts_with(api_throttle)
    limit = settings.auth.login_failures_per_account
    fail(accounts, member.username, made_up_address, limit // 2)
    fail(accounts, member.email.upper(), made_up_address, limit - limit // 2)

    # WHEN the right password comes, by either name
    response = http.post("/sessions", json={"login": member.username, "password": member.password})

    # THEN the account is at its limit
    assert response.status_code == 429


def test_an_unknown_login_is_limited_like_a_known_one(clients, accounts_with, made_up_address):
    # The throttle must not tell known accounts from unknown ones.
    accounts = accounts_with(LoginThrottle(clients.redis, 2, 1000, WINDOW_SECONDS))
    nobody = fresh_name("nobody")
    fail(accounts, nobody, made_up_address, 2)

    with pytest.raises(RateLimited, match="account"):
        accounts.log_in(nobody, "not the password", made_up_address)


def test_an_address_at_its_failure_limit_is_refused_even_the_right_password(
    clients, sign_up, accounts_with, made_up_address
):
    # GIVEN an address that failed 3 logins, each for a different account
    member = sign_up()
    accounts = accounts_with(LoginThrottle(clients.redis, 1000, 3, WINDOW_SECONDS))
    for _ in range(3):
        fail(accounts, fresh_name("guess"), made_up_address, 1)

    # WHEN a login with the right password comes from that address
    with pytest.raises(RateLimited, match="address") as refused:
        accounts.log_in(member.username, member.password, made_up_address)

    # THEN it is refused until the window ends
    assert 0 < refused.value.retry_after <= WINDOW_SECONDS


def test_an_address_at_its_limit_does_not_hold_back_other_addresses(
    clients, sign_up, accounts_with, made_up_address
):
    member = sign_up()
    accounts = accounts_with(LoginThrottle(clients.redis, 1000, 3, WINDOW_SECONDS))
    for _ in range(3):
        fail(accounts, fresh_name("guess"), made_up_address, 1)

    session = accounts.log_in(member.username, member.password, made_up_address + "1")

    assert session.user_id == member.id


def test_a_successful_login_leaves_the_address_failures_counted(
    clients, sign_up, accounts_with, made_up_address
):
    member = sign_up()
    accounts = accounts_with(LoginThrottle(clients.redis, 1000, 3, WINDOW_SECONDS))
    fail(accounts, fresh_name("guess"), made_up_address, 2)

    accounts.log_in(member.username, member.password, made_up_address)

    address_key = redis_keys.login_failures_by_address(made_up_address)
    assert int(clients.redis.get(address_key)) == 2


def test_failures_are_forgotten_when_their_window_ends(clients, made_up_address):
    throttle = LoginThrottle(clients.redis, 1, 1, WINDOW_SECONDS)
    login = fresh_name("nobody")

    throttle.failed(login, made_up_address)

    for key in (
        redis_keys.login_failures_by_account(login),
        redis_keys.login_failures_by_address(made_up_address),
    ):
        assert 0 < clients.redis.ttl(key) <= WINDOW_SECONDS


def test_redis_unavailable_lets_login_attempts_through(sign_up, accounts_with, made_up_address):
    # GIVEN a throttle whose Redis does not answer, with a limit of one failure
    member = sign_up()
    down = redis.Redis(port=free_port(), socket_connect_timeout=0.5, retry=None)
    accounts = accounts_with(LoginThrottle(down, 1, 1, WINDOW_SECONDS))
    fail(accounts, member.username, made_up_address, 3)

    # WHEN the right password is sent
    session = accounts.log_in(member.username, member.password, made_up_address)

    # THEN the login succeeds: nothing was counted, nothing refused
    assert session.user_id == member.id
