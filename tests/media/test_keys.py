"""The S3 key layout: originals name exactly one media ID; anything else is refused."""

from __future__ import annotations

import pytest

from chalicelib.errors import InvalidInput
from chalicelib.media.keys import (
    InvalidUploadKey,
    media_id_from_original_key,
    new_rendition_token,
    original_key,
    rendition_key,
)

MAX_MEDIA_ID = 2**63 - 1


@pytest.mark.parametrize("media_id", [1, 7, 42, 1_234_567_890_123, MAX_MEDIA_ID])
def test_an_original_key_round_trips_to_its_media_id(media_id):
    assert media_id_from_original_key(original_key(media_id)) == media_id


def test_an_original_key_lives_under_originals():
    assert original_key(42) == "originals/42"


def test_a_rendition_key_is_under_renditions_by_media_id_token_name_and_extension():
    assert rendition_key(42, "T0k3n", "large", "jpg") == "renditions/42/T0k3n/large.jpg"


def test_rendition_tokens_are_random_and_long():
    tokens = {new_rendition_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(token) >= 22 for token in tokens)


def test_an_invalid_upload_key_is_invalid_input():
    # The API and the handlers treat every InvalidInput as the caller's fault (poison).
    assert issubclass(InvalidUploadKey, InvalidInput)


@pytest.mark.parametrize(
    "key",
    [
        "renditions/42/1080.jpg",
        "uploads/42",
        "Originals/42",
        "42",
        "/originals/42",
        "",
    ],
)
def test_a_key_under_another_prefix_is_refused(key):
    with pytest.raises(InvalidUploadKey):
        media_id_from_original_key(key)


def test_the_bare_originals_prefix_is_refused():
    with pytest.raises(InvalidUploadKey):
        media_id_from_original_key("originals/")


@pytest.mark.parametrize("key", ["originals/007", "originals/0", "originals/00"])
def test_a_media_id_with_a_leading_zero_is_refused(key):
    with pytest.raises(InvalidUploadKey):
        media_id_from_original_key(key)


@pytest.mark.parametrize(
    "key",
    ["originals/abc", "originals/12a", "originals/1 2", "originals/4.2", "originals/١٢"],
)
def test_a_media_id_that_is_not_ascii_digits_is_refused(key):
    with pytest.raises(InvalidUploadKey):
        media_id_from_original_key(key)


@pytest.mark.parametrize(
    "key", ["originals/42/", "originals/42/x.jpg", "originals/42.jpg", "originals//42"]
)
def test_a_trailing_slash_or_extra_path_is_refused(key):
    with pytest.raises(InvalidUploadKey):
        media_id_from_original_key(key)


def test_a_trailing_newline_is_refused():
    with pytest.raises(InvalidUploadKey):
        media_id_from_original_key("originals/7\n")


@pytest.mark.parametrize("media_id", [MAX_MEDIA_ID + 1, 9_999_999_999_999_999_999, 10**19, 2**64])
def test_a_media_id_above_the_largest_bigint_is_refused(media_id):
    with pytest.raises(InvalidUploadKey):
        media_id_from_original_key(f"originals/{media_id}")


@pytest.mark.parametrize("key", ["originals/-1", "originals/-42", "originals/+42"])
def test_a_signed_media_id_is_refused(key):
    with pytest.raises(InvalidUploadKey):
        media_id_from_original_key(key)
