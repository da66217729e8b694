"""GET /users/me, PATCH /users/me, GET /users/{id} and GET /users/by-username/{name}."""

from __future__ import annotations

import pytest
from psycopg2 import sql

from chalicelib.shards.ids import EPOCH_MS, encode, shard_of
from tests.answers import error_of, problem_fields

PROFILE_FIELDS = {"id", "username", "full_name", "bio", "is_private", "created_at", "counts"}


@pytest.fixture(scope="module")
def unchanged(sign_up):
    """A member whose profile no test here changes (reads and unchanged edits only)."""
    return sign_up()


@pytest.fixture(scope="module")
def other(sign_up):
    """Someone else, whose profile no test here changes either."""
    return sign_up()


def updated_at(clients, user_id: int):
    def read(conn, schema: sql.Identifier):
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("SELECT updated_at FROM {}.users WHERE id = %s").format(schema), [user_id]
            )
            return cursor.fetchone()[0]

    return clients.router.run_for_id(user_id, read)


def test_my_profile_includes_my_email(unchanged):
    response = unchanged.get("/users/me")

    assert response.status_code == 200
    me = response.json()
    assert set(me) == PROFILE_FIELDS | {"email"}
    assert me["id"] == str(unchanged.id)
    assert (me["username"], me["email"]) == (unchanged.username, unchanged.email)


def test_someone_elses_profile_by_id_leaves_out_their_email(unchanged, other):
    response = unchanged.get(f"/users/{other.id}")

    assert response.status_code == 200
    profile = response.json()
    assert set(profile) == PROFILE_FIELDS
    assert (profile["id"], profile["username"]) == (str(other.id), other.username)
    assert other.email not in response.text


def test_my_own_profile_by_id_leaves_out_my_email_too(unchanged):
    response = unchanged.get(f"/users/{unchanged.id}")

    assert response.status_code == 200
    assert set(response.json()) == PROFILE_FIELDS


@pytest.mark.parametrize("spelled", [str.lower, str.upper], ids=["lower", "upper"])
def test_a_profile_by_username_in_any_case_leaves_out_the_email(unchanged, other, spelled):
    response = unchanged.get(f"/users/by-username/{spelled(other.username)}")

    assert response.status_code == 200
    profile = response.json()
    assert set(profile) == PROFILE_FIELDS
    assert (profile["id"], profile["username"]) == (str(other.id), other.username)


def test_an_unknown_username_is_a_404(unchanged):
    response = unchanged.get(f"/users/by-username/{unchanged.username}_gone")

    assert error_of(response, 404)["code"] == "not_found"


def test_a_username_no_one_could_have_is_a_400(unchanged):
    response = unchanged.get("/users/by-username/no-dashes")

    assert problem_fields(error_of(response, 400)) == [["path", "username"]]


def test_a_patch_changes_full_name_bio_and_privacy(sign_up):
    member = sign_up()
    changes = {"full_name": "Ada Lovelace", "bio": "Notes on\tthe engine\n🦉", "is_private": True}

    response = member.patch("/users/me", json=changes)

    assert response.status_code == 200, response.text
    for profile in (response.json(), member.get("/users/me").json()):
        assert {name: profile[name] for name in changes} == changes


def test_a_patch_changes_only_the_fields_it_names(sign_up):
    member = sign_up()
    member.patch("/users/me", json={"full_name": "Ada", "bio": "engines"})

    response = member.patch("/users/me", json={"bio": "looms"})

    assert (response.json()["full_name"], response.json()["bio"]) == ("Ada", "looms")


def test_a_patch_can_make_a_private_account_public_again(sign_up):
    member = sign_up(private=True)

    response = member.patch("/users/me", json={"is_private": False})

    assert response.json()["is_private"] is False


def test_going_public_approves_pending_follow_requests(sign_up):
    # GIVEN a private account with a pending follow request
    owner, requester = sign_up(private=True), sign_up()
    assert requester.post(f"/users/{owner.id}/follow").json()["requested"] is True

    # WHEN the account goes public
    response = owner.patch("/users/me", json={"is_private": False})

    # THEN the requester follows it, and it has one follower
    assert response.json()["counts"]["followers"] == 1
    assert requester.get(f"/users/{owner.id}/relationship").json()["following"] is True


def test_an_empty_patch_changes_nothing_and_answers_the_profile(clients, sign_up):
    member = sign_up()
    member.patch("/users/me", json={"full_name": "Ada"})
    before, touched = member.get("/users/me").json(), updated_at(clients, member.id)

    response = member.patch("/users/me", json={})

    assert response.status_code == 200
    assert response.json() == before
    assert updated_at(clients, member.id) == touched


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "1"),
        ("username", "someone_else"),
        ("email", "x@example.com"),
        ("counts", {"followers": 1_000_000}),
        ("created_at", "2020-01-01T00:00:00Z"),
    ],
)
def test_a_patch_of_a_field_that_is_not_editable_is_a_400(unchanged, field, value):
    response = unchanged.patch("/users/me", json={field: value})

    assert problem_fields(error_of(response, 400)) == [["body", field]]
    assert unchanged.get("/users/me").json()[field] != value


@pytest.mark.parametrize("field", ["full_name", "bio", "is_private"])
def test_a_patch_setting_a_field_to_null_is_a_400(unchanged, field):
    response = unchanged.patch("/users/me", json={field: None})

    assert problem_fields(error_of(response, 400)) == [["body", field]]


@pytest.mark.parametrize("value", ["true", 1, 0, "yes", [True]])
def test_a_privacy_that_is_not_a_boolean_is_a_400(unchanged, value):
    response = unchanged.patch("/users/me", json={"is_private": value})

    assert problem_fields(error_of(response, 400)) == [["body", "is_private"]]
    assert unchanged.get("/users/me").json()["is_private"] is False


@pytest.mark.parametrize("control", ["\x00", "\x07", "\r", "\x1b", "\x7f"])
@pytest.mark.parametrize("field", ["full_name", "bio"])
def test_text_with_a_control_character_is_a_400(unchanged, field, control):
    response = unchanged.patch("/users/me", json={field: f"before{control}after"})

    assert problem_fields(error_of(response, 400)) == [["body", field]]


@pytest.mark.parametrize(("field", "limit"), [("full_name", 64), ("bio", 150)])
def test_text_at_its_length_limit_is_taken(sign_up, field, limit):
    member = sign_up()

    response = member.patch("/users/me", json={field: "é" * limit})

    assert response.status_code == 200, response.text
    assert response.json()[field] == "é" * limit


@pytest.mark.parametrize(("field", "limit"), [("full_name", 64), ("bio", 150)])
def test_text_past_its_length_limit_is_a_400(unchanged, field, limit):
    response = unchanged.patch("/users/me", json={field: "x" * (limit + 1)})

    assert problem_fields(error_of(response, 400)) == [["body", field]]


def test_a_user_id_no_user_has_is_a_404(unchanged):
    never_issued = encode(EPOCH_MS + 1, shard=0, sequence=1)  # 1 ms into the ID epoch

    response = unchanged.get(f"/users/{never_issued}")

    assert error_of(response, 404)["code"] == "not_found"


def test_a_user_id_naming_a_shard_outside_the_deployment_is_a_404(settings, unchanged):
    outside = (1 << 23) | (8000 << 10)  # 1 ms into the ID epoch, on logical shard 8000
    assert shard_of(outside) == 8000
    assert settings.logical_shards <= 8000

    response = unchanged.get(f"/users/{outside}")

    assert error_of(response, 404)["code"] == "not_found"


@pytest.mark.parametrize("user_id", ["abc", "12x", "0", "-5", str(2**63)])
def test_a_user_id_that_is_not_a_positive_64_bit_number_is_a_400(unchanged, user_id):
    response = unchanged.get(f"/users/{user_id}")

    assert problem_fields(error_of(response, 400)) == [["path", "user_id"]]


def test_a_profile_behind_a_block_is_a_404(sign_up):
    blocker, blocked = sign_up(), sign_up()
    assert blocker.post(f"/users/{blocked.id}/block").status_code == 200

    response = blocked.get(f"/users/{blocker.id}")

    assert error_of(response, 404)["code"] == "not_found"


def test_profiles_need_a_session(http, other):
    for path in ("/users/me", f"/users/{other.id}", f"/users/by-username/{other.username}"):
        assert error_of(http.get(path), 401)["code"] == "unauthorized", path
