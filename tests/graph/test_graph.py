"""The follow graph through the running API: follows, requests, blocks, lists and counters,
with the rows on both users' shards agreeing with every answer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from psycopg2 import sql

from chalicelib.shards.routing import Router
from tests.answers import follow_rows, refused

FLAGS = ("following", "followed_by", "requested", "requested_by", "blocking", "blocked_by")
# Where the rows of an edge source -> target live (chalicelib.graph.store).
ON_SOURCE_SHARD = ("follows", "blocks")
ON_TARGET_SHARD = ("followers", "follow_requests")
# An ID on one of the stack's shards (shard 5) that no user will ever have: its time
# part is the ID epoch's first millisecond.
NOBODY = (1 << 23) | (5 << 10) | 7


def newcomers(sign_up, *kinds: str) -> list:
    """New members, "public" or "private", signed up at once (hashing is the slow part)."""
    with ThreadPoolExecutor(min(len(kinds), 3)) as pool:  # the local API queues few
        return list(pool.map(lambda kind: sign_up(private=kind == "private"), kinds))


def relationship(**flags: bool) -> dict[str, bool]:
    """A relationship answer: the flags given, every other one false."""
    assert set(flags) <= set(FLAGS)
    return {flag: flags.get(flag, False) for flag in FLAGS}


def answer(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def follow(member, other) -> dict:
    return answer(member.post(f"/users/{other.id}/follow"))


def block(member, other) -> dict:
    return answer(member.post(f"/users/{other.id}/block"))


def approve(owner, requester) -> None:
    answer(owner.post(f"/me/follow-requests/{requester.id}/approve"), 204)


def looks(member, other) -> dict:
    return answer(member.get(f"/users/{other.id}/relationship"))


def ids(page: dict) -> list[int]:
    return [int(item["id"]) for item in page["items"]]


def stored(router: Router, source: int, target: int) -> list[str]:
    """The tables holding a row of the edge source -> target, each read on its shard."""

    def read(tables: tuple[str, ...]):
        def work(conn, schema: sql.Identifier) -> list[str]:
            statement = sql.SQL(" UNION ALL ").join(
                sql.SQL("SELECT {} FROM {}.{} WHERE source_id = %s AND target_id = %s").format(
                    sql.Literal(name), schema, sql.Identifier(name)
                )
                for name in tables
            )
            with conn.cursor() as cursor:
                cursor.execute(statement, [source, target] * len(tables))
                return [row[0] for row in cursor.fetchall()]

        return work

    return sorted(
        router.run_for_id(source, read(ON_SOURCE_SHARD))
        + router.run_for_id(target, read(ON_TARGET_SHARD))
    )


def counts(member) -> dict[str, int]:
    """The member's counters as their profile shows them (Redis, rebuilt when missing)."""
    shown = answer(member.get("/users/me"))["counts"]
    return {"followers": shown["followers"], "following": shown["following"]}


def assert_counts(clients, member, *, followers: int, following: int) -> None:
    expected = {"followers": followers, "following": following}
    assert counts(member) == expected
    assert follow_rows(clients.router, member.id) == expected


def pages(member, path: str, count: int) -> list[list[int]]:
    """Every page of a list, following next_cursor until it is null."""
    walked: list[list[int]] = []
    cursor = None
    while True:
        params = {"count": count, **({"cursor": cursor} if cursor else {})}
        page = answer(member.get(path, params=params))
        walked.append(ids(page))
        cursor = page["next_cursor"]
        if cursor is None:
            return walked
        assert len(walked) < 20, "the cursors never end"


# Profiles and who may see what


def test_a_profile_is_visible_to_any_signed_in_user_private_or_not(sign_up):
    viewer, public, private = newcomers(sign_up, "public", "public", "private")

    for owner in (public, private):
        by_id = answer(viewer.get(f"/users/{owner.id}"))
        by_name = answer(viewer.get(f"/users/by-username/{owner.username.upper()}"))

        assert by_id == by_name
        assert int(by_id["id"]) == owner.id
        assert by_id["is_private"] is (owner is private)
        assert "email" not in by_id


def test_a_block_hides_each_profile_from_the_other(sign_up):
    blocker, blocked = newcomers(sign_up, "public", "public")
    block(blocker, blocked)

    for viewer, other in ((blocker, blocked), (blocked, blocker)):
        refused(viewer.get(f"/users/{other.id}"), 404, "not_found")
        refused(viewer.get(f"/users/by-username/{other.username}"), 404, "not_found")


def test_the_relationship_is_answered_across_a_block(sign_up):
    blocker, blocked = newcomers(sign_up, "public", "public")
    block(blocker, blocked)

    assert looks(blocker, blocked) == relationship(blocking=True)
    assert looks(blocked, blocker) == relationship(blocked_by=True)


def test_a_private_accounts_lists_are_forbidden_to_all_but_followers_and_the_owner(sign_up):
    # GIVEN a private owner, an approved follower, a pending requester and a stranger
    owner, follower, requester, stranger = newcomers(
        sign_up, "private", "public", "public", "public"
    )
    follow(follower, owner)
    approve(owner, follower)
    follow(requester, owner)

    for listing, listed in (("followers", [follower.id]), ("following", [])):
        path = f"/users/{owner.id}/{listing}"
        # THEN those not approved are refused; the follower and the owner see the list
        refused(stranger.get(path), 403, "forbidden")
        refused(requester.get(path), 403, "forbidden")
        assert ids(answer(follower.get(path))) == listed
        assert ids(answer(owner.get(path))) == listed


def test_lists_across_a_block_are_not_found_either_way(sign_up):
    blocker, blocked = newcomers(sign_up, "public", "public")
    block(blocker, blocked)

    for viewer, owner in ((blocker, blocked), (blocked, blocker)):
        for path in (f"/users/{owner.id}/followers", f"/users/{owner.id}/following"):
            refused(viewer.get(path), 404, "not_found")


# Following


def test_following_a_public_account_follows_at_once_on_both_shards(sign_up, clients):
    fan, star = newcomers(sign_up, "public", "public")

    assert follow(fan, star) == relationship(following=True)

    assert stored(clients.router, fan.id, star.id) == ["followers", "follows"]
    assert looks(star, fan) == relationship(followed_by=True)


def test_following_a_private_account_asks_first(sign_up, clients):
    fan, owner = newcomers(sign_up, "public", "private")

    assert follow(fan, owner) == relationship(requested=True)

    assert stored(clients.router, fan.id, owner.id) == ["follow_requests"]
    assert looks(owner, fan) == relationship(requested_by=True)


def test_following_again_gives_the_same_answer_and_no_new_rows(sign_up, clients):
    fan, star = newcomers(sign_up, "public", "public")
    first = follow(fan, star)

    assert follow(fan, star) == first
    assert stored(clients.router, fan.id, star.id) == ["followers", "follows"]


def test_asking_again_gives_the_same_answer_and_keeps_one_request(sign_up, clients):
    fan, owner = newcomers(sign_up, "public", "private")
    first = follow(fan, owner)

    assert follow(fan, owner) == first == relationship(requested=True)
    assert stored(clients.router, fan.id, owner.id) == ["follow_requests"]
    assert ids(answer(owner.get("/me/follow-requests"))) == [fan.id]


def test_following_yourself_is_unprocessable(sign_up, clients):
    (member,) = newcomers(sign_up, "public")

    refused(member.post(f"/users/{member.id}/follow"), 422, "unprocessable")
    assert stored(clients.router, member.id, member.id) == []


def test_following_someone_who_blocks_you_is_not_found(sign_up, clients):
    blocker, blocked = newcomers(sign_up, "public", "public")
    block(blocker, blocked)

    refused(blocked.post(f"/users/{blocker.id}/follow"), 404, "not_found")
    assert stored(clients.router, blocked.id, blocker.id) == []


def test_following_someone_you_block_is_a_conflict(sign_up, clients):
    blocker, blocked = newcomers(sign_up, "public", "public")
    block(blocker, blocked)

    refused(blocker.post(f"/users/{blocked.id}/follow"), 409, "conflict")
    assert stored(clients.router, blocker.id, blocked.id) == ["blocks"]


def test_following_a_user_who_does_not_exist_is_not_found(sign_up):
    (member,) = newcomers(sign_up, "public")

    refused(member.post(f"/users/{NOBODY}/follow"), 404, "not_found")


# Unfollowing


def test_unfollowing_removes_both_halves(sign_up, clients):
    fan, star = newcomers(sign_up, "public", "public")
    follow(fan, star)

    assert answer(fan.delete(f"/users/{star.id}/follow")) == relationship()

    assert stored(clients.router, fan.id, star.id) == []
    assert looks(star, fan) == relationship()


def test_unfollowing_again_gives_the_same_answer(sign_up, clients):
    fan, star = newcomers(sign_up, "public", "public")
    follow(fan, star)
    first = answer(fan.delete(f"/users/{star.id}/follow"))

    assert answer(fan.delete(f"/users/{star.id}/follow")) == first
    assert stored(clients.router, fan.id, star.id) == []


def test_unfollowing_withdraws_a_pending_request(sign_up, clients):
    fan, owner = newcomers(sign_up, "public", "private")
    follow(fan, owner)

    assert answer(fan.delete(f"/users/{owner.id}/follow")) == relationship()

    assert stored(clients.router, fan.id, owner.id) == []
    assert ids(answer(owner.get("/me/follow-requests"))) == []


# Blocking


def test_blocking_removes_follows_both_ways_on_both_shards(sign_up, clients):
    blocker, other = newcomers(sign_up, "public", "public")
    follow(blocker, other)
    follow(other, blocker)

    assert block(blocker, other) == relationship(blocking=True)

    assert stored(clients.router, blocker.id, other.id) == ["blocks"]
    assert stored(clients.router, other.id, blocker.id) == []


def test_blocking_removes_requests_both_ways_on_both_shards(sign_up, clients):
    # GIVEN two private accounts that asked to follow each other
    blocker, other = newcomers(sign_up, "private", "private")
    follow(blocker, other)
    follow(other, blocker)

    assert block(blocker, other) == relationship(blocking=True)

    assert stored(clients.router, blocker.id, other.id) == ["blocks"]
    assert stored(clients.router, other.id, blocker.id) == []
    assert ids(answer(blocker.get("/me/follow-requests"))) == []
    assert ids(answer(other.get("/me/follow-requests"))) == []


def test_blocking_again_gives_the_same_answer_and_one_block(sign_up, clients):
    blocker, other = newcomers(sign_up, "public", "public")
    first = block(blocker, other)

    assert block(blocker, other) == first
    assert stored(clients.router, blocker.id, other.id) == ["blocks"]


def test_blocking_someone_who_blocks_you_makes_the_block_mutual(sign_up, clients):
    first, second = newcomers(sign_up, "public", "public")
    block(first, second)

    assert block(second, first) == relationship(blocking=True, blocked_by=True)
    assert stored(clients.router, second.id, first.id) == ["blocks"]


def test_unblocking_does_not_bring_follows_back(sign_up, clients):
    blocker, other = newcomers(sign_up, "public", "public")
    follow(blocker, other)
    follow(other, blocker)
    block(blocker, other)

    assert answer(blocker.delete(f"/users/{other.id}/block")) == relationship()

    assert stored(clients.router, blocker.id, other.id) == []
    assert stored(clients.router, other.id, blocker.id) == []
    assert answer(blocker.get(f"/users/{other.id}"))["id"] == str(other.id)


def test_unblocking_again_gives_the_same_answer(sign_up, clients):
    blocker, other = newcomers(sign_up, "public", "public")
    block(blocker, other)
    first = answer(blocker.delete(f"/users/{other.id}/block"))

    assert answer(blocker.delete(f"/users/{other.id}/block")) == first == relationship()
    assert stored(clients.router, blocker.id, other.id) == []


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_blocking_or_unblocking_yourself_is_unprocessable(sign_up, clients, method):
    (member,) = newcomers(sign_up, "public")

    refused(
        member.http.request(method, f"/users/{member.id}/block", headers=member.headers),
        422,
        "unprocessable",
    )
    assert stored(clients.router, member.id, member.id) == []


# Follow requests


def test_follow_requests_are_listed_newest_first(sign_up):
    owner, *fans = newcomers(sign_up, "private", "public", "public", "public")
    for fan in fans:
        follow(fan, owner)

    newest_first = [fan.id for fan in reversed(fans)]
    assert pages(owner, "/me/follow-requests", count=2) == [newest_first[:2], newest_first[2:]]


def test_approving_makes_the_requester_a_follower_on_both_shards(sign_up, clients):
    owner, fan = newcomers(sign_up, "private", "public")
    follow(fan, owner)

    response = owner.post(f"/me/follow-requests/{fan.id}/approve")

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert stored(clients.router, fan.id, owner.id) == ["followers", "follows"]
    assert looks(fan, owner) == relationship(following=True)
    assert ids(answer(owner.get("/me/follow-requests"))) == []


def test_approving_again_changes_nothing(sign_up, clients):
    owner, fan = newcomers(sign_up, "private", "public")
    follow(fan, owner)
    approve(owner, fan)

    approve(owner, fan)

    assert stored(clients.router, fan.id, owner.id) == ["followers", "follows"]


def test_approving_someone_who_never_asked_is_not_found(sign_up, clients):
    owner, stranger = newcomers(sign_up, "private", "public")

    refused(owner.post(f"/me/follow-requests/{stranger.id}/approve"), 404, "not_found")
    assert stored(clients.router, stranger.id, owner.id) == []


def test_approving_a_denied_request_is_not_found(sign_up, clients):
    owner, fan = newcomers(sign_up, "private", "public")
    follow(fan, owner)
    answer(owner.post(f"/me/follow-requests/{fan.id}/deny"), 204)

    refused(owner.post(f"/me/follow-requests/{fan.id}/approve"), 404, "not_found")
    assert stored(clients.router, fan.id, owner.id) == []


def test_denying_removes_the_request_and_denying_again_is_fine(sign_up, clients):
    owner, fan = newcomers(sign_up, "private", "public")
    follow(fan, owner)

    for _ in range(2):
        response = owner.post(f"/me/follow-requests/{fan.id}/deny")
        assert response.status_code == 204, response.text

    assert stored(clients.router, fan.id, owner.id) == []
    assert looks(fan, owner) == relationship()


def test_going_public_approves_every_pending_request(sign_up, clients):
    owner, *fans = newcomers(sign_up, "private", "public", "public")
    for fan in fans:
        follow(fan, owner)

    assert answer(owner.patch("/users/me", json={"is_private": False}))["is_private"] is False

    for fan in fans:
        assert stored(clients.router, fan.id, owner.id) == ["followers", "follows"]
        assert looks(fan, owner) == relationship(following=True)
    assert ids(answer(owner.get("/me/follow-requests"))) == []
    assert_counts(clients, owner, followers=2, following=0)


# Lists


@pytest.fixture(scope="module")
def crowd(sign_up):
    """A hub and five others: each follows the hub, and the hub follows each, in an
    order unlike that of their IDs (so newest-first cannot pass for ID order)."""
    hub, *others = newcomers(sign_up, *["public"] * 6)
    order = sorted(others, key=lambda member: member.id, reverse=True)
    for other in order:
        follow(other, hub)
        follow(hub, other)
    return hub, [member.id for member in reversed(order)]


@pytest.mark.parametrize("listing", ["followers", "following"])
def test_a_list_comes_newest_first_in_pages_without_duplicates_or_gaps(crowd, listing):
    hub, newest_first = crowd

    walked = pages(hub, f"/users/{hub.id}/{listing}", count=2)

    assert walked == [newest_first[:2], newest_first[2:4], newest_first[4:]]


@pytest.mark.parametrize("listing", ["followers", "following"])
def test_a_list_fits_one_page_when_the_count_allows(crowd, listing):
    hub, newest_first = crowd

    assert pages(hub, f"/users/{hub.id}/{listing}", count=50) == [newest_first]


def test_lists_leave_out_users_with_a_block_between_them_and_the_viewer(sign_up):
    # GIVEN an owner with three followers it follows back, a viewer who blocks the
    # first, and a second who blocks the viewer
    owner, viewer, blocked, blocker, friend = newcomers(sign_up, *["public"] * 5)
    for member in (blocked, blocker, friend):
        follow(member, owner)
        follow(owner, member)
    block(viewer, blocked)
    block(blocker, viewer)

    for listing in ("followers", "following"):
        path = f"/users/{owner.id}/{listing}"
        assert ids(answer(viewer.get(path))) == [friend.id]
        assert ids(answer(owner.get(path))) == [friend.id, blocker.id, blocked.id]


@pytest.mark.parametrize("count", [0, -1, 51, 1000])
def test_a_page_size_outside_1_to_50_is_refused(crowd, count):
    hub, _ = crowd

    refused(
        hub.get(f"/users/{hub.id}/followers", params={"count": count}), 400, "validation_failed"
    )


@pytest.mark.parametrize(
    "cursor",
    ["", "x", "1", "_1", "1_", "1_2_3", "123456789012345678_1", "1_12345678901234567890", "-1_1"],
)
def test_a_malformed_cursor_is_refused(crowd, cursor):
    hub, _ = crowd

    refused(
        hub.get(f"/users/{hub.id}/following", params={"cursor": cursor}), 400, "validation_failed"
    )


# Counters


def test_counts_follow_a_follow_and_an_unfollow_and_ignore_repeats(sign_up, clients):
    fan, star = newcomers(sign_up, "public", "public")
    assert_counts(clients, fan, followers=0, following=0)  # cached from here on
    assert_counts(clients, star, followers=0, following=0)

    for _ in range(2):
        follow(fan, star)
        assert_counts(clients, fan, followers=0, following=1)
        assert_counts(clients, star, followers=1, following=0)

    for _ in range(2):
        answer(fan.delete(f"/users/{star.id}/follow"))
        assert_counts(clients, fan, followers=0, following=0)
        assert_counts(clients, star, followers=0, following=0)


def test_counts_follow_a_block_and_ignore_repeats(sign_up, clients):
    blocker, other = newcomers(sign_up, "public", "public")
    follow(blocker, other)
    follow(other, blocker)
    assert_counts(clients, blocker, followers=1, following=1)
    assert_counts(clients, other, followers=1, following=1)

    for _ in range(2):
        block(blocker, other)
        assert_counts(clients, blocker, followers=0, following=0)
        assert_counts(clients, other, followers=0, following=0)


def test_counts_follow_an_approval_and_ignore_repeats(sign_up, clients):
    owner, fan = newcomers(sign_up, "private", "public")
    follow(fan, owner)
    assert_counts(clients, owner, followers=0, following=0)
    assert_counts(clients, fan, followers=0, following=0)

    for _ in range(2):
        approve(owner, fan)
        assert_counts(clients, owner, followers=1, following=0)
        assert_counts(clients, fan, followers=0, following=1)
