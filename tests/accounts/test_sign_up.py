"""POST /accounts: validation, unique names whatever the case, the stored password, the shard."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from psycopg2 import sql

from chalicelib.accounts.passwords import needs_rehash, verify_password
from chalicelib.accounts.routes import NewAccountBody
from chalicelib.shards.ids import shard_of
from chalicelib.users import store
from tests.answers import error_of, fresh_name, new_account, problem_fields

ME_FIELDS = {"id", "username", "email", "full_name", "bio", "is_private", "created_at", "counts"}


def users_named(clients, settings, username: str) -> list[tuple[int, int]]:
    """(shard, id) of every user with that username, on every logical shard."""

    def on_shard(shard: int, schema: sql.Identifier):
        statement = sql.SQL("SELECT %s, id FROM {}.users WHERE lower(username) = lower(%s)")
        return statement.format(schema), [shard, username]

    return clients.router.query_shards(range(settings.logical_shards), on_shard)


def test_a_sign_up_answers_201_with_the_user_and_a_first_session(http, settings):
    account = new_account()

    response = http.post("/accounts", json=account)

    assert response.status_code == 201, response.text
    body = response.json()
    user, session = body["user"], body["session"]
    assert set(user) == ME_FIELDS
    assert isinstance(user["id"], str)
    assert int(user["id"]) > 0
    assert user["username"] == account["username"]
    assert user["email"] == account["email"]
    assert (user["full_name"], user["bio"], user["is_private"]) == ("", "", False)
    assert user["counts"] == {"media": 0, "followers": 0, "following": 0}
    assert set(session) == {"token", "user_id", "expires_at"}
    assert session["user_id"] == user["id"]
    assert session["token"].startswith("pf_")
    assert len(session["token"]) == len("pf_") + 43
    expires_at = datetime.fromisoformat(session["expires_at"]).timestamp()
    assert expires_at == pytest.approx(time.time() + settings.auth.session_ttl_days * 86400, abs=60)


def test_the_first_session_of_a_sign_up_works(http):
    body = http.post("/accounts", json=new_account()).json()

    me = http.get("/users/me", headers={"Authorization": f"Bearer {body['session']['token']}"})

    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]


def test_a_username_of_30_letters_digits_dots_and_underscores_is_taken_as_given(http):
    username = f"A.b_{fresh_name('Z')}_9.".ljust(30, "x")
    assert len(username) == 30

    response = http.post("/accounts", json=new_account(username))

    assert response.status_code == 201, response.text
    assert response.json()["user"]["username"] == username


@pytest.mark.parametrize("username", ["a", "Z", "7", "_", "a" * 30, "a.b", ".a."])
def test_usernames_of_1_to_30_allowed_characters_are_valid(username):
    # A one-letter name cannot be unique on a shared stack: the rule is checked on its own.
    assert NewAccountBody.model_validate(new_account(username)).username == username


@pytest.mark.parametrize(
    "username",
    [
        "a" * 31,
        "",
        "with space",
        "with-dash",
        "ünïcode",
        "trailing_newline\n",
        "at@sign",
        "slash/",
        ".",
        "..",
    ],
    ids=["31-chars", "empty", "space", "dash", "unicode", "newline", "at", "slash", "dot", "dots"],
)
def test_a_username_breaking_the_rules_is_a_400(http, username):
    response = http.post("/accounts", json=new_account(username))

    assert problem_fields(error_of(response, 400)) == [["body", "username"]]


def test_a_username_taken_in_another_case_is_a_409_naming_the_field(http, sign_up):
    member = sign_up()

    response = http.post("/accounts", json=new_account(member.username.upper()))

    error = error_of(response, 409)
    assert error["code"] == "conflict"
    assert error["details"] == {"field": "username"}


def test_an_email_taken_in_another_case_is_a_409_naming_the_field(http, sign_up):
    member = sign_up()

    response = http.post("/accounts", json=new_account(email=member.email.upper()))

    error = error_of(response, 409)
    assert error["code"] == "conflict"
    assert error["details"] == {"field": "email"}


def test_a_password_shorter_than_8_characters_is_a_400_that_does_not_echo_it(http):
    account = {**new_account(), "password": "Sh0rt!x"}

    response = http.post("/accounts", json=account)

    assert problem_fields(error_of(response, 400)) == [["body", "password"]]
    assert "Sh0rt!x" not in response.text


def test_a_password_of_8_characters_is_enough(http):
    response = http.post("/accounts", json={**new_account(), "password": "8 chars!"})

    assert response.status_code == 201, response.text


def test_an_address_that_is_not_an_email_is_a_400(http):
    response = http.post("/accounts", json=new_account(email="nobody.example.com"))

    assert problem_fields(error_of(response, 400)) == [["body", "email"]]


def test_an_unknown_field_is_a_400(http):
    response = http.post("/accounts", json={**new_account(), "is_admin": True})

    assert problem_fields(error_of(response, 400)) == [["body", "is_admin"]]


def test_a_missing_field_is_a_400(http):
    account = new_account()
    del account["password"]

    response = http.post("/accounts", json=account)

    assert problem_fields(error_of(response, 400)) == [["body", "password"]]


def test_malformed_json_is_a_400(http):
    response = http.post(
        "/accounts", data='{"username": "x",', headers={"Content-Type": "application/json"}
    )

    assert error_of(response, 400)["code"] == "malformed_json"


def test_a_body_sent_as_another_content_type_is_a_415(http):
    response = http.post("/accounts", data=new_account())  # a form, not JSON

    assert error_of(response, 415)["code"] == "unsupported_media_type"


def test_the_password_is_stored_as_an_argon2id_hash(clients, sign_up):
    member = sign_up()

    stored = clients.router.run_for_id(
        member.id, lambda conn, schema: store.password_hash(conn, schema, member.id)
    )

    assert stored.startswith("$argon2id$")
    assert member.password not in stored
    assert verify_password(stored, member.password)
    assert not needs_rehash(stored)  # made with today's parameters


def test_the_password_appears_in_no_answer(http):
    account = new_account()

    signed_up = http.post("/accounts", json=account)
    logged_in = http.post(
        "/sessions", json={"login": account["username"], "password": account["password"]}
    )
    me = http.get("/users/me", headers={"Authorization": f"Bearer {logged_in.json()['token']}"})

    for response in (signed_up, logged_in, me):
        assert response.status_code in (200, 201), response.text
        assert account["password"] not in response.text
        assert "password" not in response.text


def test_a_user_lives_on_the_shard_its_id_names_and_on_no_other(clients, settings, sign_up):
    member = sign_up()

    found = users_named(clients, settings, member.username)

    assert found == [(shard_of(member.id), member.id)]


def test_a_sign_up_refused_for_its_email_leaves_the_username_free(http, sign_up):
    # GIVEN a sign-up refused because its e-mail address is taken (its username was claimed)
    taken = sign_up()
    username = fresh_name()
    refused = http.post("/accounts", json=new_account(username, email=taken.email))
    assert error_of(refused, 409)["details"] == {"field": "email"}

    # WHEN the same username signs up with an address of its own
    response = http.post("/accounts", json=new_account(username))

    # THEN the username was released: it is free
    assert response.status_code == 201, response.text
    assert response.json()["user"]["username"] == username


def test_a_sign_up_refused_for_its_email_writes_no_user(http, clients, settings, sign_up):
    taken = sign_up()
    username = fresh_name()

    refused = http.post("/accounts", json=new_account(username, email=taken.email))

    assert refused.status_code == 409
    assert users_named(clients, settings, username) == []
