"""Sign-up, log-in, log-out and bearer-token authentication."""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass

from chalicelib.accounts.claims import (
    STALE_SECONDS,
    Claim,
    FindUser,
    Kind,
    NameClaims,
    NameTaken,
)
from chalicelib.accounts.passwords import (
    hash_password,
    needs_rehash,
    spend_verification_time,
    verify_password,
)
from chalicelib.accounts.sessions import Session, Sessions
from chalicelib.accounts.throttle import LoginThrottle
from chalicelib.errors import DependencyUnavailable, Unauthenticated
from chalicelib.shards.routing import Router
from chalicelib.users import store
from chalicelib.users.activity import Activity

# A sign-up that has not written its user by then stops: its claims may soon be judged
# dead and taken over (chalicelib.accounts.claims).
GIVE_UP_SECONDS = STALE_SECONDS / 2
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewAccount:
    """What a sign-up gives: already validated."""

    username: str
    email: str
    password: str


@dataclass(frozen=True)
class Caller:
    """Who is making an authenticated request, and with which token."""

    user_id: int
    token: str


def login_kind(login: str) -> Kind:
    """Whether a login names a username or an e-mail address."""
    return "email" if "@" in login else "username"


def throttle_account(login: str, user_id: int | None) -> str:
    """What failed logins are counted against: the account, whichever of its names was
    typed; for a name nobody holds, the name."""
    return f"user:{user_id}" if user_id is not None else f"name:{login.lower()}"


def name_holder(router: Router) -> FindUser:
    """How claims find the user a dead sign-up wrote: by name, on the claim's shard."""

    def find(kind: Kind, name: str, shard: int) -> int | None:
        return router.run(shard, lambda conn, schema: store.find_by_name(conn, schema, kind, name))

    return find


class Accounts:
    """Sign-up, log-in, log-out and authentication over claims, shards and sessions."""

    def __init__(
        self,
        router: Router,
        claims: NameClaims,
        sessions: Sessions,
        throttle: LoginThrottle,
        activity: Activity,
    ) -> None:
        self._router = router
        self.claims = claims
        self._sessions = sessions
        self._throttle = throttle
        self._activity = activity

    def sign_up(self, account: NewAccount) -> tuple[int, Session]:
        """Create the account on a shard chosen now, and its first session."""
        password_hash = hash_password(account.password)  # before claiming: claims stay short
        shard = self._router.writable_shard(random.SystemRandom())
        claim = Claim(uuid.uuid4().hex, shard)
        names: list[tuple[Kind, str]] = [("username", account.username), ("email", account.email)]
        started = time.monotonic()
        claimed: list[tuple[Kind, str]] = []
        try:
            for kind, name in names:
                self.claims.claim(kind, name, claim)
                claimed.append((kind, name))
            if time.monotonic() - started > GIVE_UP_SECONDS:
                raise DependencyUnavailable("sign-up took too long; retry")
        except BaseException:
            self._release(claimed, claim)
            raise
        try:
            user_id = self._router.run(
                shard,
                lambda conn, schema: store.insert(
                    conn, schema, account.username, account.email, password_hash
                ),
            )
        except NameTaken:
            self._release(claimed, claim)  # rolled back: nothing was written
            raise
        # Any other failure may have committed: the claims stay pending, and go stale
        # into whatever the shard holds (chalicelib.accounts.claims).
        for kind, name in names:
            self.claims.activate(kind, name, claim, user_id)
        return user_id, self._sessions.create(user_id)

    def sign_up_many(
        self, accounts: list[tuple[str, str]], password_hash: str, rng: random.Random
    ) -> list[int]:
        """Create many (username, e-mail) accounts at once, each on a shard chosen as a
        sign-up chooses, all with one already-made password hash; their IDs, in order.

        For `photofeed seed` only: the users are written before their names are claimed
        (one batch per shard, then unconditional claims), which is safe only for names
        nobody can hold yet, in a deployment the seed checked is empty.
        """
        by_shard: dict[int, list[int]] = defaultdict(list)
        for index in range(len(accounts)):
            by_shard[self._router.writable_shard(rng)].append(index)
        user_ids = [0] * len(accounts)
        for shard, indexes in sorted(by_shard.items()):
            rows = [(*accounts[i], password_hash) for i in indexes]
            made = self._router.run(shard, lambda c, s, r=rows: store.insert_many(c, s, r))
            for index, user_id in zip(indexes, made, strict=True):
                user_ids[index] = user_id
        self.claims.claim_active_many(
            [
                (kind, name, shard, user_ids[i])
                for shard, indexes in by_shard.items()
                for i in indexes
                for kind, name in zip(("username", "email"), accounts[i], strict=True)
            ]
        )
        return user_ids

    def log_in(self, login: str, password: str, address: str) -> Session:
        """A new session for the right password; Unauthenticated or RateLimited otherwise."""
        user_id = self.claims.owner(login_kind(login), login)
        account = throttle_account(login, user_id)
        self._throttle.check(account, address)
        stored = (
            self._router.run_for_id(
                user_id, lambda conn, schema: store.password_hash(conn, schema, user_id)
            )
            if user_id is not None
            else None
        )
        if stored is None:
            spend_verification_time(password)
        if stored is None or not verify_password(stored, password):
            self._throttle.failed(account, address)
            raise Unauthenticated("wrong username or password")
        self._throttle.succeeded(account)
        if needs_rehash(stored):
            upgraded = hash_password(password)
            self._router.run_for_id(
                user_id,
                lambda conn, schema: store.set_password_hash(conn, schema, user_id, upgraded),
            )
        return self._sessions.create(user_id)

    def log_out(self, caller: Caller) -> None:
        """End the caller's session."""
        self._sessions.revoke(caller.token)

    def authenticate(self, authorization: str | None) -> Caller:
        """The caller an Authorization header names; Unauthenticated if none is valid."""
        if not authorization:
            raise Unauthenticated("a bearer token is required")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        token = token.strip()
        user_id = self._sessions.user_of(token)
        self._activity.mark(user_id)
        return Caller(user_id, token)

    def _release(self, claimed: list[tuple[Kind, str]], claim: Claim) -> None:
        for kind, name in claimed:
            try:
                self.claims.release(kind, name, claim)
            except DependencyUnavailable:
                _log.warning("claim %s not released; it goes stale", kind, exc_info=True)
