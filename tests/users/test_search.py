"""GET /users/search?q=: usernames by prefix, any case, in name order, blocked users left
out, from the name-claims table's index (no shard is scanned for candidates). Bad
queries: tests/api/test_bad_input.py; who finds whom: tests/api/test_authorization.py.

Users cannot be deleted yet (no route or operator command removes one); what stands in
for a deleted user here is an active claim whose user row is gone.
"""

from __future__ import annotations

import uuid

import pytest

from chalicelib.accounts.claims import Claim, NameClaims
from chalicelib.accounts.service import name_holder
from chalicelib.config import get_settings
from tests.answers import refused

LIMITS = get_settings().limits
# An ID on a real shard that names nobody.
NOBODY_ON_A_REAL_SHARD = (1 << 23) | (5 << 10) | 7


def _tag() -> str:
    """A username prefix no one else on the shared stack uses (sign_up adds '_' + 16 hex)."""
    return f"s{uuid.uuid4().hex[:10]}"


def _search(member, q: str, **params) -> dict:
    response = member.get("/users/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    return body


def _names(body: dict) -> list[str]:
    return [item["username"] for item in body["items"]]


def _all_pages(member, q: str, count: int) -> list[dict]:
    pages, cursor = [], None
    while True:
        body = _search(member, q, count=count, **({"cursor": cursor} if cursor else {}))
        pages.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


@pytest.fixture(scope="module")
def searcher(sign_up):
    return sign_up()


@pytest.fixture(scope="module")
def claims(settings, clients) -> NameClaims:
    return NameClaims(
        settings.name_claims_table,
        settings.region,
        settings.endpoint_url,
        name_holder(clients.router),
    )


def test_users_are_found_by_the_beginning_of_their_username_in_name_order(sign_up, searcher):
    # GIVEN three users whose usernames share a prefix
    tag = _tag()
    members = [sign_up(prefix=tag) for _ in range(3)]

    # WHEN someone searches for the prefix
    body = _search(searcher, tag)

    # THEN they are found, as lists show users, in name order, and nothing more
    assert _names(body) == sorted(m.username for m in members)
    assert body["next_cursor"] is None
    item = body["items"][0]
    assert set(item) == {"id", "username", "full_name", "is_private"}
    assert item["id"] == str(next(m.id for m in members if m.username == item["username"]))


def test_a_search_ignores_case_and_a_leading_at_sign(sign_up, searcher):
    tag = _tag()
    member = sign_up(prefix=tag.upper())

    for q in (tag, tag.upper(), f"@{tag}", f"@{member.username.lower()}", member.username):
        assert _names(_search(searcher, q)) == [member.username], q


def test_a_longer_prefix_narrows_the_search(sign_up, searcher):
    tag = _tag()
    first, second = sign_up(prefix=tag), sign_up(prefix=tag)

    assert _names(_search(searcher, tag)) == sorted([first.username, second.username])
    assert _names(_search(searcher, first.username)) == [first.username]


def test_a_private_account_is_found_but_its_lists_stay_private(sign_up, searcher):
    tag = _tag()
    private = sign_up(private=True, prefix=tag)

    body = _search(searcher, tag)

    assert body["items"] == [
        {"id": str(private.id), "username": private.username, "full_name": "", "is_private": True}
    ]
    refused(searcher.get(f"/users/{private.id}/followers"), 403, "forbidden")


def test_the_searcher_finds_themselves(sign_up):
    tag = _tag()
    member = sign_up(prefix=tag)

    assert _names(_search(member, tag)) == [member.username]


def test_a_block_either_way_hides_each_from_the_others_search(sign_up):
    # GIVEN a blocker, whom they block, and a bystander, all sharing a prefix
    tag = _tag()
    blocker, blocked, bystander = (sign_up(prefix=tag) for _ in range(3))
    assert blocker.post(f"/users/{blocked.id}/block").status_code == 200

    # THEN neither finds the other; the bystander finds both
    assert blocked.username not in _names(_search(blocker, tag))
    assert blocker.username not in _names(_search(blocked, tag))
    assert set(_names(_search(bystander, tag))) == {
        blocker.username,
        blocked.username,
        bystander.username,
    }

    # AND once unblocked, both find each other again
    assert blocker.delete(f"/users/{blocked.id}/block").status_code == 200
    assert blocked.username in _names(_search(blocker, tag))
    assert blocker.username in _names(_search(blocked, tag))


def test_pages_follow_one_another_by_cursor_without_gaps_or_repeats(sign_up, searcher):
    tag = _tag()
    members = [sign_up(prefix=tag) for _ in range(5)]

    pages = _all_pages(searcher, tag, count=2)

    assert [len(page["items"]) for page in pages] == [2, 2, 1]
    assert [name for page in pages for name in _names(page)] == sorted(m.username for m in members)


def test_a_full_last_page_says_there_is_no_more(sign_up, searcher):
    tag = _tag()
    for _ in range(2):
        sign_up(prefix=tag)

    body = _search(searcher, tag, count=2)

    assert (len(body["items"]), body["next_cursor"]) == (2, None)


def test_a_page_shortened_by_blocks_still_leads_to_the_next(sign_up):
    # GIVEN four users with a prefix; the searcher blocks the first two by name order
    tag = _tag()
    members = sorted((sign_up(prefix=tag) for _ in range(4)), key=lambda m: m.username)
    searcher, *others = members[3], *members[:3]
    for member in others[:2]:
        assert searcher.post(f"/users/{member.id}/block").status_code == 200

    # WHEN they page through two at a time
    pages = _all_pages(searcher, tag, count=2)

    # THEN the first page is empty but has a cursor, and the rest follow
    assert pages[0] == {"items": [], "next_cursor": pages[0]["next_cursor"]}
    assert pages[0]["next_cursor"] is not None
    assert [name for page in pages for name in _names(page)] == [
        others[2].username,
        searcher.username,
    ]


def test_the_default_page_is_the_configured_size(sign_up, searcher):
    tag = _tag()
    for _ in range(LIMITS.default_page_size + 1):
        sign_up(prefix=tag)

    body = _search(searcher, tag)

    assert len(body["items"]) == LIMITS.default_page_size
    assert body["next_cursor"] is not None


def test_a_prefix_nobody_holds_finds_nothing(searcher):
    assert _search(searcher, _tag()) == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_made_up_cursor_outside_the_prefix_gives_a_page(sign_up, searcher, where):
    tag = _tag()
    member = sign_up(prefix=tag)
    cursor = "0" if where == "before" else "zzz"

    body = _search(searcher, tag, cursor=cursor)

    assert _names(body) == ([member.username] if where == "before" else [])
    assert body["next_cursor"] is None


def test_a_name_still_being_claimed_or_given_up_is_not_found(claims, searcher):
    # GIVEN a sign-up that has claimed a name but not written its user, and one that gave up
    tag = _tag()
    claims.claim("username", f"{tag}_pending", Claim(uuid.uuid4().hex, 5))
    given_up = Claim(uuid.uuid4().hex, 5)
    claims.claim("username", f"{tag}_given_up", given_up)
    claims.release("username", f"{tag}_given_up", given_up)

    # THEN search finds none of them (only active claims are in the index)
    assert _search(searcher, tag) == {"items": [], "next_cursor": None}


def test_a_claim_whose_user_is_gone_is_left_out(claims, searcher, sign_up):
    # GIVEN an active claim naming a user no shard holds (as a deleted user would)
    tag = _tag()
    claim = Claim(uuid.uuid4().hex, 5)
    claims.claim("username", f"{tag}_gone", claim)
    claims.activate("username", f"{tag}_gone", claim, NOBODY_ON_A_REAL_SHARD)
    alive = sign_up(prefix=tag)

    # THEN search shows only the user who exists
    assert _names(_search(searcher, tag)) == [alive.username]


def test_an_e_mail_claim_is_not_searchable(sign_up, searcher):
    member = sign_up()

    # The e-mail address begins with the username; only the username is found.
    body = _search(searcher, member.username)
    assert _names(body) == [member.username]


def test_the_longest_query_and_the_largest_page_are_accepted(searcher):
    assert _search(searcher, "@" + "a" * 30, count=LIMITS.max_page_size)["items"] == []


def test_search_is_not_taken_for_a_user_id(searcher):
    # /users/search is its own route, not /users/{user_id} with a bad ID.
    response = searcher.get("/users/search")

    refused(response, 400, "validation_failed")
    assert "q" in response.text
