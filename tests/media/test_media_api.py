"""The media API on the local stack: reading, editing and deleting media, a user's media
list, likes, comments and hashtags, the pending-uploads limit.

Media are made for real (reserved, the file POSTed to the presigned URL, processed by
the stack's pump); who may do what to whom is tests/api/test_authorization.py's.
"""

from __future__ import annotations

import io
import re
from datetime import datetime

import pytest
import requests
from botocore.exceptions import ClientError
from PIL import Image

from chalicelib.media.hashtags import MAX_TAG_CHARS, MAX_TAGS
from chalicelib.media.keys import original_key
from tests.answers import error_of, refused
from tests.media.helpers import (
    COMMENT_KEYS,
    MEDIA_KEYS,
    PHOTO,
    PHOTO_SIZE,
    RENDITION_NAMES,
    SUMMARY_KEYS,
    Stock,
    a_failed_media,
    a_pending_media,
    a_ready_media,
    all_pages,
    counted,
    hashtags,
    ids,
    media_count,
    media_rows,
    post_file,
    ready_media,
    reserve,
    upload_body,
    wait_for_media_count,
    wait_until_processed,
)

FORMATS = {"jpeg": ("jpg", "JPEG"), "webp": ("webp", "WEBP")}
PLACE = {"latitude": 48.8584, "longitude": 2.2945, "place_name": "Tour Eiffel"}


@pytest.fixture(scope="module")
def ada(sign_up):
    """A public account whose media most tests act on."""
    return sign_up(prefix="ada")


@pytest.fixture(scope="module")
def bea(sign_up):
    """Someone who sees ada's media (ada's account is public)."""
    return sign_up(prefix="bea")


@pytest.fixture(scope="module")
def stock(ada) -> Stock:
    return Stock(ada, batch=15)


@pytest.fixture(scope="module")
def crowd(sign_up) -> list:
    """Five people who like media (each test likes a media of its own)."""
    return [sign_up(prefix="fan") for _ in range(5)]


@pytest.fixture
def photo(stock) -> dict:
    """A ready media of ada's that no other test touches."""
    return stock.take()


def _media(member, media: dict) -> dict:
    response = member.get(f"/media/{media['id']}")
    assert response.status_code == 200, response.text
    return response.json()


def _summary(member) -> dict:
    return {"id": str(member.id), "username": member.username, "full_name": "", "is_private": False}


# Reading a media


def test_a_media_reads_with_string_ids_and_its_owners_summary(ada, bea, photo):
    media = _media(bea, photo)

    assert set(media) == MEDIA_KEYS
    assert isinstance(media["id"], str)
    assert int(media["id"]) > 0
    assert media["owner"] == _summary(ada)
    assert (media["status"], media["failure_reason"]) == ("ready", None)
    assert (media["width"], media["height"]) == PHOTO_SIZE
    assert isinstance(media["blurhash"], str)
    assert media["blurhash"]
    assert (media["like_count"], media["comment_count"], media["liked"]) == (0, 0, False)
    assert datetime.fromisoformat(media["created_at"]).tzinfo is not None


def test_caption_alt_text_and_location_given_at_upload_are_read_back(ada, bea):
    made = a_ready_media(ada, caption="Paris #travel", alt_text="a tower at dusk", location=PLACE)

    media = _media(bea, made)

    assert (media["caption"], media["alt_text"]) == ("Paris #travel", "a tower at dusk")
    assert media["location"] == PLACE


def test_renditions_are_urls_under_the_public_base_url_serving_the_images(settings, bea, photo):
    base = str(settings.public_media_base_url)
    media = _media(bea, photo)

    assert set(media["renditions"]) == RENDITION_NAMES
    for name, rendition in media["renditions"].items():
        for fmt, (extension, pil_format) in FORMATS.items():
            url = rendition[fmt]
            assert re.fullmatch(
                rf"{re.escape(base)}renditions/{media['id']}/[A-Za-z0-9_-]{{22,}}/{name}\.{extension}",
                url,
            )
            served = requests.get(url, timeout=10)
            assert served.status_code == 200, url
            assert served.headers["Content-Type"] == f"image/{fmt}"
            with Image.open(io.BytesIO(served.content)) as image:
                assert image.format == pil_format
                assert image.size == (rendition["width"], rendition["height"])


@pytest.mark.parametrize(
    "path",
    [
        "originals/{id}",
        "renditions/..%2Foriginals/{id}",
        "renditions%2F..%2Foriginals%2F{id}",
        "%6Friginals/{id}",
    ],
)
def test_the_original_is_never_served_under_the_public_base_url(settings, clients, photo, path):
    # GIVEN a ready media whose original is still in the bucket
    clients.s3.head_object(Bucket=settings.bucket, Key=original_key(int(photo["id"])))
    url = str(settings.public_media_base_url) + path.format(id=photo["id"])

    # WHEN anyone asks the CDN for it, THEN it is not there
    assert requests.get(url, timeout=10).status_code == 404


# Editing a media


def test_the_owner_edits_caption_alt_text_and_location(ada, bea, photo):
    edit = {"caption": "new caption", "alt_text": "new alt text", "location": PLACE}

    response = ada.patch(f"/media/{photo['id']}", json=edit)

    assert response.status_code == 200, response.text
    assert {key: response.json()[key] for key in edit} == edit
    assert {key: _media(bea, photo)[key] for key in edit} == edit


def test_location_null_removes_the_location(ada):
    made = a_ready_media(ada, caption="kept", location=PLACE)

    response = ada.patch(f"/media/{made['id']}", json={"location": None})

    assert response.status_code == 200, response.text
    assert response.json()["location"] is None
    assert _media(ada, made)["location"] is None
    assert _media(ada, made)["caption"] == "kept"


def test_fields_left_out_of_an_edit_are_unchanged(ada):
    made = a_ready_media(ada, caption="kept #tag", alt_text="old", location=PLACE)

    response = ada.patch(f"/media/{made['id']}", json={"alt_text": "new"})

    assert response.status_code == 200, response.text
    media = _media(ada, made)
    assert (media["caption"], media["alt_text"], media["location"]) == ("kept #tag", "new", PLACE)


def test_an_empty_edit_changes_nothing(ada, photo):
    before = _media(ada, photo)

    response = ada.patch(f"/media/{photo['id']}", json={})

    assert response.status_code == 200, response.text
    assert response.json() == before
    assert _media(ada, photo) == before


def test_an_edited_caption_replaces_the_captions_hashtags(ada, clients, photo):
    media_id = int(photo["id"])
    assert ada.patch(f"/media/{media_id}", json={"caption": "#one #Two"}).status_code == 200

    response = ada.patch(f"/media/{media_id}", json={"caption": "#two and #three"})

    assert response.status_code == 200, response.text
    assert hashtags(clients, media_id) == {media_id: {"two", "three"}}


def test_a_caption_edited_to_have_no_hashtags_leaves_none(ada, clients, photo):
    assert ada.patch(f"/media/{photo['id']}", json={"caption": "#gone"}).status_code == 200

    response = ada.patch(f"/media/{photo['id']}", json={"caption": "no tags now"})

    assert response.status_code == 200, response.text
    assert hashtags(clients, photo["id"]) == {}


def test_an_edit_that_leaves_the_caption_alone_keeps_its_hashtags(ada, clients):
    made = a_ready_media(ada, caption="#kept")

    response = ada.patch(f"/media/{made['id']}", json={"alt_text": "only this", "location": None})

    assert response.status_code == 200, response.text
    assert hashtags(clients, made["id"]) == {int(made["id"]): {"kept"}}


def test_an_edit_refused_to_someone_else_changes_nothing(ada, bea, clients):
    made = a_ready_media(ada, caption="mine #mine")
    before = _media(ada, made)

    refused(bea.patch(f"/media/{made['id']}", json={"caption": "theirs #theirs"}), 403, "forbidden")

    assert _media(ada, made) == before
    assert hashtags(clients, made["id"]) == {int(made["id"]): {"mine"}}


# Deleting a media


def test_a_deleted_media_is_not_found_by_anyone_not_even_its_owner(ada, bea, photo):
    response = ada.delete(f"/media/{photo['id']}")

    assert response.status_code == 204, response.text
    assert response.content == b""
    for member in (ada, bea):
        refused(member.get(f"/media/{photo['id']}"), 404, "not_found")


def test_deleting_a_media_removes_its_original_and_renditions_from_s3(
    settings, clients, ada, photo
):
    # GIVEN a ready media: its original and eight renditions are in the bucket
    media_id = int(photo["id"])
    prefix = f"renditions/{media_id}/"
    listed = clients.s3.list_objects_v2(Bucket=settings.bucket, Prefix=prefix)
    assert listed["KeyCount"] == 8
    clients.s3.head_object(Bucket=settings.bucket, Key=original_key(media_id))
    urls = [r[fmt] for r in photo["renditions"].values() for fmt in FORMATS]

    # WHEN its owner deletes it
    assert ada.delete(f"/media/{media_id}").status_code == 204

    # THEN nothing of it is left in the bucket, nor served
    assert clients.s3.list_objects_v2(Bucket=settings.bucket, Prefix=prefix)["KeyCount"] == 0
    with pytest.raises(ClientError):
        clients.s3.head_object(Bucket=settings.bucket, Key=original_key(media_id))
    assert [requests.get(url, timeout=10).status_code for url in urls] == [404] * len(urls)


def test_deleting_a_ready_media_takes_one_from_the_owners_media_count(sign_up):
    owner = sign_up()
    first, _ = ready_media(owner, 2)
    wait_for_media_count(owner, 2)

    assert owner.delete(f"/media/{first['id']}").status_code == 204

    assert media_count(owner) == 1


@pytest.mark.parametrize("make", [a_pending_media, a_failed_media], ids=["pending", "failed"])
def test_deleting_a_media_that_never_became_ready_leaves_the_media_count_alone(sign_up, make):
    owner = sign_up()
    a_ready_media(owner)
    wait_for_media_count(owner, 1)
    never_ready = make(owner)

    assert owner.delete(f"/media/{never_ready['id']}").status_code == 204

    assert media_count(owner) == 1


def test_a_deleted_media_leaves_its_owners_media_list(sign_up, bea):
    owner = sign_up()
    kept, deleted = ready_media(owner, 2)

    assert owner.delete(f"/media/{deleted['id']}").status_code == 204

    for member in (owner, bea):
        listed = member.get(f"/users/{owner.id}/media")
        assert listed.status_code == 200, listed.text
        assert ids(listed.json()["items"]) == [kept["id"]]


def test_deleting_a_media_twice_is_not_found_the_second_time(ada, photo):
    assert ada.delete(f"/media/{photo['id']}").status_code == 204

    refused(ada.delete(f"/media/{photo['id']}"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/like"),
        ("DELETE", "/like"),
        ("GET", "/likes"),
        ("POST", "/comments"),
        ("GET", "/comments"),
        ("PATCH", ""),
    ],
)
def test_a_deleted_media_takes_no_likes_comments_or_edits(ada, bea, clients, photo, method, path):
    assert ada.delete(f"/media/{photo['id']}").status_code == 204
    body = {"POST": {"body": "late"}, "PATCH": {"caption": "late"}}.get(method)

    for member in (ada, bea):
        response = member.http.request(
            method, f"/media/{photo['id']}{path}", headers=member.headers, json=body
        )
        refused(response, 404, "not_found")
    assert counted(clients, photo["id"]) == {
        "like_count": 0,
        "comment_count": 0,
        "likes": 0,
        "comments": 0,
    }


# A user's media


@pytest.fixture(scope="module")
def gallery(sign_up) -> tuple[object, list[str]]:
    """An owner with seven ready media (IDs newest first), one pending and one failed."""
    owner = sign_up()
    made = ready_media(owner, 7)
    a_pending_media(owner)
    a_failed_media(owner)
    return owner, list(reversed(ids(made)))


def test_a_users_media_are_listed_newest_first(bea, gallery):
    owner, newest_first = gallery

    response = bea.get(f"/users/{owner.id}/media")

    assert response.status_code == 200, response.text
    body = response.json()
    assert ids(body["items"]) == newest_first
    assert body["next_cursor"] is None
    assert all(set(item) == MEDIA_KEYS for item in body["items"])


@pytest.mark.parametrize("count", [1, 2, 3, 7, 50])
def test_cursor_pages_cover_a_users_media_without_gaps_or_duplicates(bea, gallery, count):
    owner, newest_first = gallery

    pages = all_pages(bea, f"/users/{owner.id}/media", count)

    assert [item["id"] for page in pages for item in page] == newest_first
    assert all(len(page) == count for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= count


def test_pending_and_failed_media_are_not_listed_even_to_their_owner(gallery):
    owner, newest_first = gallery

    response = owner.get(f"/users/{owner.id}/media", params={"count": 50})

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert ids(items) == newest_first
    assert {item["status"] for item in items} == {"ready"}


def test_the_largest_page_of_a_users_media_is_accepted(settings, bea, gallery):
    owner, newest_first = gallery

    response = bea.get(f"/users/{owner.id}/media", params={"count": settings.limits.max_page_size})

    assert response.status_code == 200, response.text
    assert ids(response.json()["items"]) == newest_first


@pytest.mark.parametrize("beyond", ["zero", "one above the largest"])
def test_a_page_count_out_of_bounds_is_refused(settings, bea, gallery, beyond):
    owner, _ = gallery
    count = 0 if beyond == "zero" else settings.limits.max_page_size + 1

    response = bea.get(f"/users/{owner.id}/media", params={"count": count})

    refused(response, 400, "validation_failed")


# Likes


def _like(member, media: dict) -> dict:
    response = member.post(f"/media/{media['id']}/like")
    assert response.status_code == 200, response.text
    return response.json()


def _unlike(member, media: dict) -> dict:
    response = member.delete(f"/media/{media['id']}/like")
    assert response.status_code == 200, response.text
    return response.json()


def test_liking_twice_counts_one_like(bea, clients, photo):
    answers = [_like(bea, photo), _like(bea, photo)]

    assert answers == [{"liked": True, "like_count": 1}] * 2
    assert counted(clients, photo["id"])["like_count"] == 1
    assert counted(clients, photo["id"])["likes"] == 1


def test_unliking_twice_takes_the_one_like_back(bea, clients, photo):
    _like(bea, photo)

    answers = [_unlike(bea, photo), _unlike(bea, photo)]

    assert answers == [{"liked": False, "like_count": 0}] * 2
    assert counted(clients, photo["id"]) == {
        "like_count": 0,
        "comment_count": 0,
        "likes": 0,
        "comments": 0,
    }


def test_likes_from_many_users_are_each_counted(crowd, clients, photo):
    likers = crowd[:3]

    answers = [_like(member, photo) for member in likers]

    assert [a["like_count"] for a in answers] == [1, 2, 3]
    assert counted(clients, photo["id"])["like_count"] == 3
    assert counted(clients, photo["id"])["likes"] == 3


def test_a_like_shows_as_liked_to_the_liker_alone(ada, bea, photo):
    _like(bea, photo)

    assert (_media(bea, photo)["liked"], _media(bea, photo)["like_count"]) == (True, 1)
    assert (_media(ada, photo)["liked"], _media(ada, photo)["like_count"]) == (False, 1)


def test_a_users_media_list_shows_which_media_the_viewer_likes(sign_up, bea):
    owner = sign_up()
    older, newer = ready_media(owner, 2)
    _like(bea, older)

    seen_by_bea = bea.get(f"/users/{owner.id}/media").json()["items"]
    seen_by_owner = owner.get(f"/users/{owner.id}/media").json()["items"]

    assert [(m["id"], m["liked"], m["like_count"]) for m in seen_by_bea] == [
        (newer["id"], False, 0),
        (older["id"], True, 1),
    ]
    assert [m["liked"] for m in seen_by_owner] == [False, False]


def test_likers_are_listed_newest_first(crowd, ada, photo):
    likers = crowd[:3]
    for member in likers:
        _like(member, photo)

    response = ada.get(f"/media/{photo['id']}/likes")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    assert all(set(item) == SUMMARY_KEYS for item in body["items"])
    assert ids(body["items"]) == [str(m.id) for m in reversed(likers)]


def test_cursor_pages_cover_the_likers_without_gaps_or_duplicates(crowd, ada, photo):
    likers = crowd
    for member in likers:
        _like(member, photo)

    pages = all_pages(ada, f"/media/{photo['id']}/likes", 2)

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [item["id"] for page in pages for item in page] == [str(m.id) for m in reversed(likers)]


def test_an_unlike_takes_the_liker_out_of_the_likers(crowd, ada, bea, photo):
    other = crowd[0]
    _like(bea, photo)
    _like(other, photo)

    _unlike(bea, photo)

    assert ids(ada.get(f"/media/{photo['id']}/likes").json()["items"]) == [str(other.id)]


@pytest.mark.parametrize("who_blocks", ["the viewer", "the liker"])
def test_likers_with_a_block_between_them_and_the_viewer_are_left_out(
    sign_up, ada, photo, who_blocks
):
    # GIVEN two likers and a viewer, with a block between the viewer and one liker
    viewer, hidden, shown = sign_up(), sign_up(), sign_up()
    _like(hidden, photo)
    _like(shown, photo)
    blocker, blocked = (viewer, hidden) if who_blocks == "the viewer" else (hidden, viewer)
    assert blocker.post(f"/users/{blocked.id}/block").status_code == 200

    # WHEN the viewer lists the likers, THEN the hidden liker is left out (for them only)
    assert ids(viewer.get(f"/media/{photo['id']}/likes").json()["items"]) == [str(shown.id)]
    assert ids(ada.get(f"/media/{photo['id']}/likes").json()["items"]) == [
        str(shown.id),
        str(hidden.id),
    ]


# Comments


def _comment(member, media: dict, body: str) -> dict:
    response = member.post(f"/media/{media['id']}/comments", json={"body": body})
    assert response.status_code == 201, response.text
    return response.json()


def _comments(member, media: dict) -> list[dict]:
    response = member.get(f"/media/{media['id']}/comments", params={"count": 50})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_a_comment_is_created_with_its_author_and_body(bea, photo):
    response = bea.post(f"/media/{photo['id']}/comments", json={"body": "lovely\nlight"})

    assert response.status_code == 201, response.text
    comment = response.json()
    assert set(comment) == COMMENT_KEYS
    assert isinstance(comment["id"], str)
    assert int(comment["id"]) > 0
    assert comment["media_id"] == photo["id"]
    assert comment["author"] == _summary(bea)
    assert comment["body"] == "lovely\nlight"
    assert datetime.fromisoformat(comment["created_at"]).tzinfo is not None


def test_each_comment_is_counted_on_the_media(ada, bea, clients, photo):
    _comment(bea, photo, "one")
    _comment(ada, photo, "two")

    assert _media(bea, photo)["comment_count"] == 2
    assert counted(clients, photo["id"])["comments"] == 2


def test_comments_are_listed_newest_first_in_cursor_pages_without_gaps_or_duplicates(bea, photo):
    made = [_comment(bea, photo, f"comment {n}") for n in range(5)]

    pages = all_pages(bea, f"/media/{photo['id']}/comments", 2)

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [item["id"] for page in pages for item in page] == ids(list(reversed(made)))
    assert all(set(item) == COMMENT_KEYS for page in pages for item in page)


@pytest.mark.parametrize("deleter", ["its author", "the media's owner"])
def test_a_comment_is_deleted_by_its_author_or_the_medias_owner(ada, bea, clients, photo, deleter):
    comment = _comment(bea, photo, "soon gone")
    member = bea if deleter == "its author" else ada

    response = member.delete(f"/media/{photo['id']}/comments/{comment['id']}")

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert _comments(ada, photo) == []
    assert _media(ada, photo)["comment_count"] == 0
    assert counted(clients, photo["id"])["comment_count"] == 0


def test_a_comment_is_not_deleted_by_someone_else_who_sees_the_media(sign_up, ada, bea, photo):
    comment = _comment(bea, photo, "mine")
    other = sign_up()

    refused(other.delete(f"/media/{photo['id']}/comments/{comment['id']}"), 403, "forbidden")

    assert ids(_comments(ada, photo)) == [comment["id"]]
    assert _media(ada, photo)["comment_count"] == 1


def test_a_comment_deleted_twice_is_not_found_the_second_time(bea, clients, photo):
    comment = _comment(bea, photo, "once")
    path = f"/media/{photo['id']}/comments/{comment['id']}"
    assert bea.delete(path).status_code == 204

    refused(bea.delete(path), 404, "not_found")

    assert counted(clients, photo["id"])["comment_count"] == 0


def test_a_comment_named_under_another_media_is_not_found(ada, bea, stock, photo):
    comment = _comment(bea, photo, "here")
    elsewhere = stock.take()

    refused(ada.delete(f"/media/{elsewhere['id']}/comments/{comment['id']}"), 404, "not_found")

    assert ids(_comments(ada, photo)) == [comment["id"]]


@pytest.mark.parametrize("who_blocks", ["the viewer", "the author"])
def test_comments_by_authors_with_a_block_between_them_and_the_viewer_are_left_out(
    sign_up, ada, photo, who_blocks
):
    viewer, hidden, shown = sign_up(), sign_up(), sign_up()
    hidden_comment = _comment(hidden, photo, "hidden")
    shown_comment = _comment(shown, photo, "shown")
    blocker, blocked = (viewer, hidden) if who_blocks == "the viewer" else (hidden, viewer)
    assert blocker.post(f"/users/{blocked.id}/block").status_code == 200

    assert ids(_comments(viewer, photo)) == [shown_comment["id"]]
    assert ids(_comments(ada, photo)) == [shown_comment["id"], hidden_comment["id"]]


def test_a_comments_hashtags_are_stored_under_the_comment(ada, bea, clients):
    made = a_ready_media(ada, caption="#sunset")

    comment = _comment(bea, made, "so #Golden, very #sunset")

    assert hashtags(clients, made["id"]) == {
        int(made["id"]): {"sunset"},
        int(comment["id"]): {"golden", "sunset"},
    }


def test_deleting_a_comment_removes_its_hashtags_and_keeps_the_captions(ada, bea, clients):
    made = a_ready_media(ada, caption="#sunset")
    comment = _comment(bea, made, "#golden #sunset")

    assert bea.delete(f"/media/{made['id']}/comments/{comment['id']}").status_code == 204

    assert hashtags(clients, made["id"]) == {int(made["id"]): {"sunset"}}


# Media not ready take no likes or comments


@pytest.fixture(scope="module")
def unready(sign_up) -> dict[str, tuple[object, dict]]:
    """A pending and a failed media, with their owner."""
    owner = sign_up()
    return {"pending": (owner, a_pending_media(owner)), "failed": (owner, a_failed_media(owner))}


NOT_READY_CALLS = {
    "like": ("POST", "/like", None),
    "unlike": ("DELETE", "/like", None),
    "list likers": ("GET", "/likes", None),
    "comment": ("POST", "/comments", {"body": "too soon"}),
    "list comments": ("GET", "/comments", None),
    "delete a comment": ("DELETE", "/comments/1", None),
}


@pytest.mark.parametrize("call", list(NOT_READY_CALLS))
@pytest.mark.parametrize("state", ["pending", "failed"])
def test_a_media_not_ready_takes_no_likes_or_comments(clients, unready, state, call):
    owner, media = unready[state]
    method, path, body = NOT_READY_CALLS[call]

    response = owner.http.request(
        method, f"/media/{media['id']}{path}", headers=owner.headers, json=body
    )

    refused(response, 409, "conflict")
    assert counted(clients, media["id"]) == {
        "like_count": 0,
        "comment_count": 0,
        "likes": 0,
        "comments": 0,
    }


def test_a_failed_media_tells_its_owner_why(unready):
    owner, media = unready["failed"]

    seen = _media(owner, media)

    assert seen["status"] == "failed"
    assert isinstance(seen["failure_reason"], str)
    assert seen["failure_reason"]
    assert seen["renditions"] is None


# The pending-uploads limit


def test_reserving_past_the_pending_limit_is_refused_with_retry_after(settings, clients, sign_up):
    # GIVEN a user with as many uploads pending as the limit allows
    uploader = sign_up()
    limit = settings.limits.max_pending_uploads
    for _ in range(limit):
        reserve(uploader)

    # WHEN they reserve one more
    response = uploader.post("/media/uploads", json=upload_body(caption="one too many"))

    # THEN it is refused, saying when to retry, and no row was written for it
    error = error_of(response, 429)
    assert error["code"] == "rate_limited"
    retry_after = int(response.headers["Retry-After"])
    assert retry_after > 0
    assert error["details"] == {"retry_after": retry_after}
    assert [status for _, status in media_rows(clients, uploader.id)] == ["pending"] * limit


def test_an_upload_that_arrives_frees_its_place_under_the_pending_limit(settings, sign_up):
    uploader = sign_up()
    first = reserve(uploader)
    for _ in range(settings.limits.max_pending_uploads - 1):
        reserve(uploader)
    assert uploader.post("/media/uploads", json=upload_body()).status_code == 429

    post_file(first["upload"], PHOTO)
    assert wait_until_processed(uploader, first["media"]["id"])["status"] == "ready"

    response = uploader.post("/media/uploads", json=upload_body())
    assert response.status_code == 201, response.text


# Hashtags in any script


@pytest.fixture(scope="module")
def tagger(sign_up):
    """Who reserves uploads to read their captions' tags (a few: the limit is far)."""
    return sign_up()


@pytest.mark.parametrize(
    ("caption", "tags"),
    [
        ("#日本 の旅", {"日本"}),
        ("#Café and #CAFÉ and #café", {"café"}),
        ("#Cafe\u0301 is #Café", {"café"}),
        ("#\uff54\uff4f\uff4b\uff59\uff4f #Tokyo", {"tokyo"}),  # full-width "tokyo"
    ],
    ids=["another script", "case", "decomposed accents", "full-width letters"],
)
def test_hashtags_of_any_script_are_stored_normalized_and_case_folded(
    clients, tagger, caption, tags
):
    media = a_pending_media(tagger, caption=caption)

    assert hashtags(clients, media["id"]) == {int(media["id"]): tags}


def test_a_caption_keeps_its_first_thirty_hashtags(clients, tagger):
    caption = " ".join(f"#tag{n:02}" for n in range(MAX_TAGS + 5))

    media = a_pending_media(tagger, caption=caption)

    assert hashtags(clients, media["id"]) == {
        int(media["id"]): {f"tag{n:02}" for n in range(MAX_TAGS)}
    }


def test_a_hashtag_is_cut_to_its_longest_length(clients, tagger):
    media = a_pending_media(tagger, caption="#" + "Long" * 50)

    assert hashtags(clients, media["id"]) == {int(media["id"]): {"long" * (MAX_TAG_CHARS // 4)}}
