"""Name claims: a sign-up that died half-way never blocks a name for good, and a live one
is never robbed of its names.

A dead sign-up is played by claiming names with a clock set past STALE_SECONDS ago (and,
when it got that far, by writing its user on the shard it claimed for).
"""

from __future__ import annotations

import time
import uuid

import pytest

from chalicelib.accounts.claims import ACTIVE, PENDING, STALE_SECONDS, Claim, NameTaken, claim_key
from chalicelib.accounts.passwords import hash_password
from chalicelib.users import store
from tests.answers import error_of, fresh_name, new_account

# A shard of the deployment's 64 for dead sign-ups to have claimed for.
SHARD = 5


def long_ago() -> float:
    return time.time() - STALE_SECONDS - 30


def a_claim(shard: int = SHARD) -> Claim:
    return Claim(uuid.uuid4().hex, shard)


def stored_claim(clients, settings, kind: str, name: str) -> dict | None:
    """The claim's item as DynamoDB holds it, or None."""
    item = clients.dynamodb.get_item(
        TableName=settings.name_claims_table,
        Key={"pk": {"S": claim_key(kind, name)}},
        ConsistentRead=True,
    ).get("Item")
    return {name: next(iter(value.values())) for name, value in item.items()} if item else None


def write_user(clients, username: str, email: str, password: str, shard: int = SHARD) -> int:
    """What a dead sign-up got done on its shard: its user, with credentials."""
    encoded = hash_password(password)
    return clients.router.run(
        shard, lambda conn, schema: store.insert(conn, schema, username, email, encoded)
    )


def test_a_stale_pending_claim_with_no_user_is_taken_over_by_the_next_sign_up(
    http, claims, claims_at
):
    # GIVEN a sign-up that claimed a username long ago and died before writing its user
    username = fresh_name()
    claims_at(long_ago).claim("username", username, a_claim())

    # WHEN someone signs up with that username
    response = http.post("/accounts", json=new_account(username))

    # THEN they get it
    assert response.status_code == 201, response.text
    assert claims.owner("username", username) == int(response.json()["user"]["id"])


def test_a_stale_pending_claim_whose_user_exists_is_finished_and_refuses_the_name(
    http, clients, settings, claims_at
):
    # GIVEN a sign-up that claimed a username long ago, wrote its user, and died
    username = fresh_name()
    user_id = write_user(clients, username, f"{username}@example.com", "password-1")
    claims_at(long_ago).claim("username", username, a_claim())

    # WHEN someone else signs up with that username (in another case)
    response = http.post("/accounts", json=new_account(username.upper()))

    # THEN the name stays taken, and the claim is made final for the user that was written
    assert error_of(response, 409)["details"] == {"field": "username"}
    held = stored_claim(clients, settings, "username", username)
    assert held["state"] == ACTIVE
    assert int(held["user_id"]) == user_id


def test_a_stale_pending_email_claim_whose_user_exists_refuses_the_email(http, clients, claims_at):
    username = fresh_name()
    email = f"{username}@example.com"
    write_user(clients, username, email, "password-1")
    claims_at(long_ago).claim("email", email, a_claim())

    response = http.post("/accounts", json=new_account(email=email))

    assert error_of(response, 409)["details"] == {"field": "email"}


def test_the_user_a_dead_sign_up_wrote_can_log_in_once_its_claim_is_stale(http, clients, claims_at):
    # GIVEN a dead sign-up that wrote its user but never made its claims final
    username = fresh_name()
    user_id = write_user(clients, username, f"{username}@example.com", "password-1")
    claims_at(long_ago).claim("username", username, a_claim())

    # WHEN that user logs in
    response = http.post("/sessions", json={"login": username, "password": "password-1"})

    # THEN the login finishes the claim and succeeds
    assert response.status_code == 201, response.text
    assert int(response.json()["user_id"]) == user_id


def test_a_fresh_pending_claim_refuses_another_sign_up(http, clients, settings, claims):
    # GIVEN a sign-up in progress: its claim is pending, and recent
    username = fresh_name()
    in_progress = a_claim()
    claims.claim("username", username, in_progress)

    # WHEN someone else signs up with that username
    response = http.post("/accounts", json=new_account(username))

    # THEN they are refused, and the claim stays the first sign-up's
    assert error_of(response, 409)["details"] == {"field": "username"}
    held = stored_claim(clients, settings, "username", username)
    assert (held["claim_id"], held["state"]) == (in_progress.claim_id, PENDING)


def test_a_name_being_claimed_has_no_owner_yet(claims):
    username = fresh_name()
    claims.claim("username", username, a_claim())

    assert claims.owner("username", username) is None


def test_a_stale_pending_claim_with_no_user_has_no_owner(claims, claims_at):
    username = fresh_name()
    claims_at(long_ago).claim("username", username, a_claim())

    assert claims.owner("username", username) is None


def test_release_leaves_a_claim_made_by_someone_else(claims):
    # GIVEN a name claimed by one sign-up
    username = fresh_name()
    claims.claim("username", username, a_claim())

    # WHEN another sign-up releases it
    claims.release("username", username, a_claim())

    # THEN it is still held
    with pytest.raises(NameTaken):
        claims.claim("username", username, a_claim())


def test_release_frees_a_claim_of_ones_own(claims):
    username = fresh_name()
    mine = a_claim()
    claims.claim("username", username, mine)

    claims.release("username", username, mine)

    claims.claim("username", username, a_claim())  # no NameTaken: the name was free


def test_a_sign_up_that_ran_past_stale_seconds_cannot_make_its_claim_final(
    clients, settings, claims, claims_at
):
    # GIVEN a slow sign-up whose stale claim was taken over by another
    username = fresh_name()
    slow, newer = a_claim(), a_claim()
    claims_at(long_ago).claim("username", username, slow)
    claims.claim("username", username, newer)

    # WHEN the slow one tries to make its claim final
    with pytest.raises(NameTaken):
        claims.activate("username", username, slow, user_id=12345)

    # THEN the claim is still the newer sign-up's
    held = stored_claim(clients, settings, "username", username)
    assert (held["claim_id"], held["state"]) == (newer.claim_id, PENDING)


def test_an_active_claim_is_never_taken_over_however_old(claims_at):
    username = fresh_name()
    old = a_claim()
    then = claims_at(long_ago)
    then.claim("username", username, old)
    then.activate("username", username, old, user_id=12345)

    with pytest.raises(NameTaken):
        claims_at(time.time).claim("username", username, a_claim())


# The username search index


def _activated(claims, name: str, user_id: int) -> None:
    claim = a_claim()
    claims.claim("username", name, claim)
    claims.activate("username", name, claim, user_id)


def test_an_active_username_claim_is_indexed_folded_and_an_e_mail_claim_is_not(
    claims, clients, settings
):
    name = fresh_name("Idx")
    email = f"{name}@Example.com"
    claim = a_claim()
    for kind, value in (("username", name), ("email", email)):
        claims.claim(kind, value, claim)
        claims.activate(kind, value, claim, 42)

    username_item = stored_claim(clients, settings, "username", name)
    email_item = stored_claim(clients, settings, "email", email)

    assert (username_item["search_prefix"], username_item["search_name"]) == ("i", name.lower())
    assert "search_name" not in email_item
    assert "search_prefix" not in email_item


def test_usernames_come_in_name_order_and_each_page_starts_just_after_the_last(claims):
    # GIVEN names that sort tightly: the prefix itself, its extensions by the alphabet's
    # lowest and highest characters, and a name just past the prefix
    tag = f"o{uuid.uuid4().hex[:10]}"
    names = [tag, f"{tag}.", f"{tag}..a", f"{tag}.a", f"{tag}0", f"{tag}_", f"{tag}z"]
    for user_id, name in enumerate(names, start=1):
        _activated(claims, name, user_id)
    _activated(claims, f"{tag[:-1]}{chr(ord(tag[-1]) + 1)}", 99)  # past the prefix

    # WHEN they are read one at a time, each after the one before
    seen, after = [], None
    while found := claims.usernames(tag.upper(), after, 1):
        seen.append(found[0])
        after = found[0][0]

    # THEN every name with the prefix comes once, in order, with its user
    assert seen == [(name, user_id) for user_id, name in enumerate(sorted(names), start=1)]
    assert claims.usernames(tag, None, 100) == seen
