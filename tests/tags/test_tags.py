"""Tag pages and tag search through the API, over the stack's real datastores and
pipeline (uploads made ready by the thumbnail Lambda; fan-out indexes their tags)."""

from __future__ import annotations

import time
import uuid
from urllib.parse import quote

import pytest

from chalicelib import redis_keys
from chalicelib.config import get_settings
from chalicelib.media.hashtags import MAX_TAG_CHARS
from tests.answers import refused
from tests.feed.feeds import post_ready
from tests.media.helpers import a_ready_media, ids, ready_media

WITHIN_SECONDS = 10.0
LIMITS = get_settings().limits


def _tag() -> str:
    """A tag nobody else on the shared stack uses."""
    return f"t{uuid.uuid4().hex[:12]}"


def _page(member, tag: str, **params) -> dict:
    response = member.get(f"/tags/{quote(tag)}/media", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"tag", "items", "next_max_id", "partial"}
    return body


def _ids(member, tag: str) -> list[str]:
    return ids(_page(member, tag, count=50)["items"])


def _search(member, q: str, **params) -> list[tuple[str, int]]:
    response = member.get("/tags/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return [(t["name"], t["media_count"]) for t in response.json()["items"]]


def _eventually(read, expected) -> None:
    deadline = time.monotonic() + WITHIN_SECONDS
    while (found := read()) != expected:
        assert time.monotonic() < deadline, f"{found} != {expected}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def owner(sign_up):
    return sign_up()


@pytest.fixture(scope="module")
def reader(sign_up):
    return sign_up()


def test_a_tag_page_lists_the_tags_media_newest_first_whatever_the_case(owner, reader):
    tag = _tag()
    made = ready_media(owner, 1, caption=f"first #Café{tag}") + ready_media(
        owner, 1, caption=f"second #CAFE\u0301{tag.upper()} and #other{tag}"
    )

    expected = sorted(ids(made), key=int, reverse=True)
    assert _ids(reader, f"café{tag}") == expected
    assert _ids(reader, f"#CAFÉ{tag}") == expected
    assert _page(reader, f"Café{tag}")["tag"] == f"café{tag}"
    assert _ids(reader, f"other{tag}") == [made[1]["id"]]


def test_a_devanagari_tag_keeps_its_vowel_signs(owner, reader):
    tag = f"नमस्ते{uuid.uuid4().int % 10**9}"
    media = a_ready_media(owner, caption=f"#{tag} hello")

    assert _ids(reader, tag) == [media["id"]]
    assert _search(reader, tag[:4]) == [(tag, 1)]  # नमस् : a prefix ending in a virama


def test_an_unknown_tag_is_an_empty_page_and_found_by_no_search(reader):
    tag = _tag()

    assert _page(reader, tag) == {"tag": tag, "items": [], "next_max_id": None, "partial": False}
    assert _search(reader, tag) == []


def test_a_private_owners_tagged_media_reach_only_their_followers(sign_up, reader):
    private, follower = sign_up(private=True), sign_up()
    assert follower.post(f"/users/{private.id}/follow").status_code == 200
    assert private.post(f"/me/follow-requests/{follower.id}/approve").status_code == 204
    tag = _tag()
    media = a_ready_media(private, caption=f"#{tag}")

    assert _ids(private, tag) == [media["id"]]
    assert _ids(follower, tag) == [media["id"]]
    assert _ids(reader, tag) == []


@pytest.mark.parametrize("who_blocks", ["owner", "reader"])
def test_a_block_either_way_hides_the_tagged_media(sign_up, who_blocks):
    poster, other = sign_up(), sign_up()
    tag = _tag()
    media = a_ready_media(poster, caption=f"#{tag}")
    blocker, blocked = (poster, other) if who_blocks == "owner" else (other, poster)
    assert blocker.post(f"/users/{blocked.id}/block").status_code == 200

    assert _ids(other, tag) == []
    assert _ids(poster, tag) == [media["id"]]


def test_a_deleted_media_leaves_its_tag_page(owner, reader):
    tag = _tag()
    kept, gone = ready_media(owner, 2, caption=f"#{tag}")
    assert _ids(reader, tag) == [gone["id"], kept["id"]]

    assert owner.delete(f"/media/{gone['id']}").status_code == 204

    assert _ids(reader, tag) == [kept["id"]]
    assert _ids(owner, tag) == [kept["id"]]


def test_an_edited_caption_moves_the_media_between_tags(owner, reader):
    old, new = _tag(), _tag()
    media = a_ready_media(owner, caption=f"#{old}")
    assert _ids(reader, old) == [media["id"]]
    assert _ids(reader, new) == []  # both lists built: the edit must push

    assert owner.patch(f"/media/{media['id']}", json={"caption": f"#{new}"}).status_code == 200

    assert _ids(reader, old) == []
    assert _ids(reader, new) == [media["id"]]


def test_a_comments_tag_indexes_the_media_until_the_comment_is_deleted(owner, reader):
    tag = _tag()
    media = a_ready_media(owner, caption="no tags")
    assert _ids(reader, tag) == []  # the list is built (empty): the comment must push

    made = reader.post(f"/media/{media['id']}/comments", json={"body": f"love it #{tag}"})
    assert made.status_code == 201, made.text
    assert _ids(owner, tag) == [media["id"]]
    assert _search(owner, tag) == [(tag, 1)]

    path = f"/media/{media['id']}/comments/{made.json()['id']}"
    assert reader.delete(path).status_code == 204
    assert _ids(owner, tag) == []


def test_a_new_media_reaches_a_built_tag_list_through_fan_out(clients, owner, reader):
    tag = _tag()
    first = a_ready_media(owner, caption=f"#{tag}")
    assert _ids(reader, tag) == [first["id"]]
    # The read rebuilt the list, unless the first media's own push raced that rebuild:
    # then the list is left missing (the push is not lost), and a later read builds it.
    _eventually(lambda: bool(_ids(reader, tag) and clients.redis.exists(redis_keys.tag(tag))), True)

    second = a_ready_media(owner, caption=f"#{tag}")

    _eventually(
        lambda: [int(i) for i in clients.redis.lrange(redis_keys.tag(tag), 0, -1)],
        [int(second["id"]), int(first["id"])],
    )
    assert _ids(reader, tag) == [second["id"], first["id"]]


def test_a_lost_tag_list_is_rebuilt_from_the_database(clients, owner, reader):
    tag = _tag()
    made = ready_media(owner, 2, caption=f"#{tag}")
    expected = sorted(ids(made), key=int, reverse=True)
    assert _ids(reader, tag) == expected

    clients.redis.delete(redis_keys.tag(tag))

    assert _ids(reader, tag) == expected
    # A push of these media still in flight (their fan-out) cancels that rebuild's store,
    # by design; a later read stores it.
    _eventually(
        lambda: (_ids(reader, tag) == expected, clients.redis.exists(redis_keys.tag(tag))),
        (True, 1),
    )


def test_pages_follow_one_another_without_gaps_or_repeats(clients, owner, reader):
    tag = _tag()
    made = [post_ready(clients, owner, caption=f"#{tag}").id for _ in range(7)]

    seen, params = [], {"count": 3}
    while True:
        body = _page(reader, tag, **params)
        assert len(body["items"]) <= 3
        seen += ids(body["items"])
        if body["next_max_id"] is None:
            break
        params = {"count": 3, "max_id": body["next_max_id"]}

    assert seen == [str(i) for i in sorted(made, reverse=True)]


def test_search_finds_tags_by_prefix_in_name_order_with_counts(clients, owner, reader):
    stem = _tag()
    ready_media(owner, 2, caption=f"#{stem}b #{stem}a")
    a_ready_media(owner, caption=f"#{stem}A")
    other = _tag()
    a_ready_media(owner, caption=f"#{other}")

    assert _search(reader, stem) == [(f"{stem}a", 3), (f"{stem}b", 2)]
    assert _search(reader, f"#{stem.upper()}") == [(f"{stem}a", 3), (f"{stem}b", 2)]
    assert _search(reader, stem, count=1) == [(f"{stem}a", 3)]
    assert _search(reader, f"{stem}c") == []


def test_search_counts_leave_deleted_media_out_once_recounted(clients, owner, reader):
    tag = _tag()
    _, gone = ready_media(owner, 2, caption=f"#{tag}")
    assert _search(reader, tag) == [(tag, 2)]

    assert owner.delete(f"/media/{gone['id']}").status_code == 204
    clients.redis.delete(redis_keys.tag_count(tag))  # as if COUNT_SECONDS had passed

    assert _search(reader, tag) == [(tag, 1)]


def test_a_lost_search_index_is_rebuilt_from_the_database(clients, owner, reader):
    tag = _tag()
    a_ready_media(owner, caption=f"#{tag}")
    clients.redis.delete(redis_keys.tag_names())

    assert _search(reader, tag) == [(tag, 1)]
    # A push racing that rebuild (any media's fan-out adds names) cancels its store, by
    # design; a later search stores it.
    _eventually(
        lambda: (_search(reader, tag), clients.redis.zscore(redis_keys.tag_names(), tag))[1], 0
    )


BAD_TAGS = {
    "empty after the #": "#",
    "only underscores": "___",
    "a hyphen": "a-b",
    "a space": "a b",
    "a NUL": "a\x00b",
    "an emoji": "a\N{GRINNING FACE}",
    "too long": "a" * (MAX_TAG_CHARS + 1),
    "too long once normalized": "\N{ARABIC LIGATURE SALLALLAHOU ALAYHE WASALLAM}" * 6,
}


@pytest.mark.parametrize("case", list(BAD_TAGS))
def test_a_name_that_is_no_tag_is_refused(reader, case):
    refused(reader.get(f"/tags/{quote(BAD_TAGS[case])}/media"), 400, "validation_failed")


@pytest.mark.parametrize("case", [*BAD_TAGS, "empty"])
def test_a_query_that_is_no_tag_is_refused(reader, case):
    q = BAD_TAGS.get(case, "")
    refused(reader.get("/tags/search", params={"q": q}), 400, "validation_failed")


def test_a_search_needs_a_query(reader):
    refused(reader.get("/tags/search"), 400, "validation_failed")


@pytest.mark.parametrize(
    "params",
    [
        {"count": "0"},
        {"count": str(LIMITS.max_page_size + 1)},
        {"count": "x"},
        {"max_id": "0"},
        {"max_id": str(2**63)},
    ],
    ids=str,
)
def test_a_bad_page_query_on_a_tag_is_refused(reader, params):
    refused(reader.get(f"/tags/{_tag()}/media", params=params), 400, "validation_failed")
    if "count" in params:
        refused(reader.get("/tags/search", params={"q": "a", **params}), 400, "validation_failed")
