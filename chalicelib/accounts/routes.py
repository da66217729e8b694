"""Sign-up and sessions: POST /accounts, POST /sessions, DELETE /sessions/current."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import ConfigDict, Field

from chalicelib.api.deps import get_accounts, get_profiles
from chalicelib.api.errors import Conflict, TooManyRequests, Unauthorized
from chalicelib.api.models import (
    MAX_EMAIL_CHARS,
    MAX_USERNAME_CHARS,
    USERNAME_PATTERN,
    ApiModel,
    Email,
    Id,
)
from chalicelib.api.routing import Routes, source_address
from chalicelib.errors import RateLimited, Unauthenticated
from chalicelib.observability import count
from chalicelib.users.routes import MeOut, me_out

if TYPE_CHECKING:
    from chalicelib.accounts.service import Caller

routes = Routes("accounts")

MIN_PASSWORD_CHARS = 8
# Long enough for any passphrase; short enough that hashing it costs nothing extra.
MAX_PASSWORD_CHARS = 1024
# Any character but NUL, which no client means to type.
NO_NUL = r"^[^\x00]*$"


class NewAccountBody(ApiModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(
        pattern=USERNAME_PATTERN,
        max_length=MAX_USERNAME_CHARS,
        description="1-30 letters, digits, '.' and '_'; unique, whatever the case",
    )
    email: Email
    password: str = Field(
        min_length=MIN_PASSWORD_CHARS, max_length=MAX_PASSWORD_CHARS, pattern=NO_NUL
    )


class LoginBody(ApiModel):
    model_config = ConfigDict(extra="forbid")

    login: str = Field(
        min_length=1,
        max_length=MAX_EMAIL_CHARS,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="a username or an e-mail address",
    )
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS, pattern=NO_NUL)


class SessionOut(ApiModel):
    """A new session: send `token` as `Authorization: Bearer <token>`. It is shown once."""

    model_config = ConfigDict(title="Session")

    token: str
    user_id: Id
    expires_at: datetime


class AccountOut(ApiModel):
    """A new account, and a session for it."""

    model_config = ConfigDict(title="Account")

    user: MeOut
    session: SessionOut


def _session_out(session) -> SessionOut:
    return SessionOut(
        token=session.token,
        user_id=session.user_id,
        expires_at=datetime.fromtimestamp(session.expires_at, UTC),
    )


@routes.route(
    "/accounts",
    "POST",
    body=NewAccountBody,
    response=AccountOut,
    status=201,
    errors=(Conflict,),
    public=True,
)
def sign_up(body: NewAccountBody) -> AccountOut:
    """Sign up: a new account, and a session for it."""
    # The domain's modules load with the first request that needs them (see api.deps).
    from chalicelib.accounts.service import NewAccount  # noqa: PLC0415

    user_id, session = get_accounts().sign_up(NewAccount(body.username, body.email, body.password))
    count("SignUps")
    return AccountOut(
        user=me_out(get_profiles().view(user_id, user_id)), session=_session_out(session)
    )


@routes.route(
    "/sessions",
    "POST",
    body=LoginBody,
    response=SessionOut,
    status=201,
    errors=(Unauthorized, TooManyRequests),
    public=True,
)
def log_in(body: LoginBody) -> SessionOut:
    """Log in with a username (or e-mail address) and password: a new session."""
    address = source_address(routes.current_request)
    try:
        session = get_accounts().log_in(body.login, body.password, address)
    except Unauthenticated:
        count("LoginFailures")
        raise
    except RateLimited:
        count("LoginsThrottled")
        raise
    count("Logins")
    return _session_out(session)


@routes.route("/sessions/current", "DELETE", response=None, status=204)
def log_out(caller: Caller) -> None:
    """Log out: the session of this request's token ends now."""
    get_accounts().log_out(caller)
