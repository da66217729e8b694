"""Usernames and e-mail addresses, claimed in DynamoDB: what no shard can make unique.

A sign-up claims both names (pending), writes the user on its shard, then activates
the claims. A claim is one item with a conditional write, so two sign-ups never hold
the same name. A sign-up that dies half-way leaves a pending claim; once it is older
than STALE_SECONDS the next claimant looks for its user on the shard it named: found,
the claim is finished for that user (the name stays taken); not found, it is taken over.
No crash leaves a name blocked for good.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PynamoDBConnectionError
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from chalicelib.dynamo import bind, condition_failed, unavailable
from chalicelib.errors import Conflict
from chalicelib.resources import (
    SEARCH_NAME_ATTRIBUTE,
    SEARCH_PREFIX_ATTRIBUTE,
    USERNAME_SEARCH_INDEX,
)

Kind = Literal["username", "email"]
PENDING = "pending"
ACTIVE = "active"
# A sign-up ends within API Gateway's 29 s; one pending for longer than this has died.
# A sign-up still running at half of it gives up rather than write its user late.
STALE_SECONDS = 120.0
_ATTEMPTS = 3

# Folded usernames are made of [.0-9_a-z] ('.' sorts lowest): the first name after `n`
# is at least n + '.', and every name beginning with `p` sorts below p + '~'.
_LOWEST_CHAR = "."
_ABOVE_EVERY_CHAR = "~"

# (kind, name, shard) -> the ID of the user on `shard` holding that name, if any.
FindUser = Callable[[Kind, str, int], "int | None"]


class NameTaken(Conflict):
    """Raised when a username or e-mail address belongs to someone else (or is being claimed)."""

    def __init__(self, kind: Kind) -> None:
        what = "username" if kind == "username" else "e-mail address"
        super().__init__(f"that {what} is taken", {"field": kind})
        self.kind = kind


@dataclass(frozen=True)
class Claim:
    """A claim being made: who makes it (a random ID per sign-up) and for which shard."""

    claim_id: str
    shard: int


class UsernameSearch(GlobalSecondaryIndex):
    """Active usernames, folded, by their first character (a sparse index: only active
    username claims carry its keys)."""

    class Meta:
        index_name = USERNAME_SEARCH_INDEX
        projection = IncludeProjection(["user_id"])

    search_prefix = UnicodeAttribute(hash_key=True, attr_name=SEARCH_PREFIX_ATTRIBUTE)
    search_name = UnicodeAttribute(range_key=True, attr_name=SEARCH_NAME_ATTRIBUTE)


def _model(table_name: str, region: str, host: str | None) -> type[Model]:
    class ClaimItem(Model):
        class Meta:
            pass

        key = UnicodeAttribute(hash_key=True, attr_name="pk")
        state = UnicodeAttribute()
        claim_id = UnicodeAttribute()
        shard = NumberAttribute()
        claimed_at = NumberAttribute()
        user_id = NumberAttribute(null=True)
        search_prefix = UnicodeAttribute(null=True, attr_name=SEARCH_PREFIX_ATTRIBUTE)
        search_name = UnicodeAttribute(null=True, attr_name=SEARCH_NAME_ATTRIBUTE)
        by_username = UsernameSearch()

    return bind(ClaimItem, table_name, region, host)


def fold(name: str) -> str:
    """A name as names are compared: case-insensitive."""
    return name.lower()


def claim_key(kind: Kind, name: str) -> str:
    """The item key of a name: case-insensitive."""
    return f"{kind}#{fold(name)}"


def _search_fields(kind: Kind, name: str) -> dict[str, str]:
    """What puts an active username claim into the search index (e-mails stay out)."""
    if kind != "username":
        return {}
    folded = fold(name)
    return {"search_prefix": folded[0], "search_name": folded}


class NameClaims:
    """The name-claims table."""

    def __init__(
        self,
        table_name: str,
        region: str,
        host: str | None,
        find_user: FindUser,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._model = _model(table_name, region, host)
        self._table = table_name
        self._find_user = find_user
        self._clock = clock

    def claim(self, kind: Kind, name: str, claim: Claim) -> None:
        """Claim `name` (pending) for a sign-up; NameTaken if someone else holds it."""
        key = claim_key(kind, name)
        for _ in range(_ATTEMPTS):
            item = self._model(
                key,
                state=PENDING,
                claim_id=claim.claim_id,
                shard=claim.shard,
                claimed_at=self._clock(),
            )
            held = self._get(key)
            if held is None:
                condition = self._model.key.does_not_exist()
            elif self._dead_and_empty(kind, name, held):
                condition = (self._model.claim_id == held.claim_id) & (self._model.state == PENDING)
            else:
                raise NameTaken(kind)
            if self._write(item.save, condition):
                return
        raise NameTaken(kind)  # contended by other sign-ups all along

    def activate(self, kind: Kind, name: str, claim: Claim, user_id: int) -> None:
        """Make a pending claim of ours final, for `user_id`."""
        item = self._model(claim_key(kind, name))
        actions = [self._model.state.set(ACTIVE), self._model.user_id.set(user_id)]
        actions += [
            getattr(self._model, field).set(value)
            for field, value in _search_fields(kind, name).items()
        ]
        if not self._write(
            lambda condition: item.update(actions=actions, condition=condition),
            self._model.claim_id == claim.claim_id,
        ):
            raise NameTaken(kind)  # taken over: this sign-up ran past STALE_SECONDS

    def claim_active_many(self, claims: list[tuple[Kind, str, int, int]]) -> None:
        """Write final claims at once, from (kind, name, shard, user ID) each, in
        DynamoDB's batches of 25 (`photofeed seed`: unconditional writes, so only for
        names nobody can hold yet, in a deployment the seed checked is empty)."""
        now = self._clock()
        try:
            with self._model.batch_write() as batch:
                for kind, name, shard, user_id in claims:
                    batch.save(
                        self._model(
                            claim_key(kind, name),
                            state=ACTIVE,
                            claim_id=uuid.uuid4().hex,
                            shard=shard,
                            claimed_at=now,
                            user_id=user_id,
                            **_search_fields(kind, name),
                        )
                    )
        except PynamoDBConnectionError as exc:
            raise unavailable(exc, self._table) from exc

    def release(self, kind: Kind, name: str, claim: Claim) -> None:
        """Give up a claim of ours (a sign-up that failed); someone else's is left alone."""
        item = self._model(claim_key(kind, name))
        self._write(item.delete, self._model.claim_id == claim.claim_id)

    def owner(self, kind: Kind, name: str) -> int | None:
        """The ID of the user holding `name`, or None (also while a sign-up is claiming it)."""
        held = self._get(claim_key(kind, name))
        if held is None:
            return None
        if held.state == ACTIVE:
            return int(held.user_id)
        return self._finish(kind, name, held) if self._is_stale(held) else None

    def usernames(self, prefix: str, after: str | None, limit: int) -> list[tuple[str, int]]:
        """Active usernames beginning with `prefix`, in order, after the name `after`:
        up to `limit` (folded name, user ID), from the search index alone."""
        prefix = fold(prefix)
        lowest = prefix if after is None else max(prefix, fold(after) + _LOWEST_CHAR)
        highest = prefix + _ABOVE_EVERY_CHAR
        if not prefix or lowest > highest:
            return []
        try:
            found = self._model.by_username.query(
                prefix[0],
                self._model.search_name.between(lowest, highest),
                limit=limit,
            )
            return [(item.search_name, int(item.user_id)) for item in found]
        except PynamoDBConnectionError as exc:
            raise unavailable(exc, self._table) from exc

    def _dead_and_empty(self, kind: Kind, name: str, held: Model) -> bool:
        """Whether a held claim is a dead sign-up's with no user written: free to take."""
        return (
            held.state == PENDING
            and self._is_stale(held)
            and self._finish(kind, name, held) is None
        )

    def _finish(self, kind: Kind, name: str, held: Model) -> int | None:
        """For a dead sign-up's claim: the user it wrote, for whom the claim is made final."""
        user_id = self._find_user(kind, name, int(held.shard))
        if user_id is not None:
            self.activate(kind, name, Claim(held.claim_id, int(held.shard)), user_id)
        return user_id

    def _is_stale(self, held: Model) -> bool:
        return self._clock() - float(held.claimed_at) > STALE_SECONDS

    def _get(self, key: str) -> Model | None:
        try:
            return self._model.get(key, consistent_read=True)
        except DoesNotExist:
            return None
        except PynamoDBConnectionError as exc:
            raise unavailable(exc, self._table) from exc

    def _write(self, write: Callable[..., object], condition: object) -> bool:
        """Run a conditional write; False if the condition did not hold."""
        try:
            write(condition=condition)
        except PynamoDBConnectionError as exc:
            if condition_failed(exc):
                return False
            raise unavailable(exc, self._table) from exc
        return True
