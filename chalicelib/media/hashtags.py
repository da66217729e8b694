"""Hashtags in captions and comments: Unicode-aware, case-insensitive, bounded."""

from __future__ import annotations

import unicodedata

# Instagram's limits: 30 tags a post; no tag is longer than this.
MAX_TAGS = 30
MAX_TAG_CHARS = 100


def hashtags(text: str) -> list[str]:
    """The tags of a text, normalized (NFKC, case-folded), in order, each once."""
    found: list[str] = []
    start = text.find("#")
    while start != -1 and len(found) < MAX_TAGS:
        end = start + 1
        while end < len(text) and _in_tag(text[end]):
            end += 1
        body = text[start + 1 : end]
        if body.strip("_") and (start == 0 or not _in_tag(text[start - 1])):
            tag = normalize_tag(body)[:MAX_TAG_CHARS]
            if tag not in found:
                found.append(tag)
        start = text.find("#", max(end, start + 1))
    return found


def normalize_tag(tag: str) -> str:
    """A tag as stored (what a search for it must use)."""
    return unicodedata.normalize("NFKC", tag).casefold()


def tag_name(text: str) -> str:
    """A tag a caller names (a leading '#' allowed), as stored; ValueError unless it is
    one tag as captions make them (tag characters only, not only underscores, at most
    MAX_TAG_CHARS once normalized)."""
    tag = normalize_tag(text.removeprefix("#"))
    if not tag or len(tag) > MAX_TAG_CHARS:
        raise ValueError(f"a tag has 1 to {MAX_TAG_CHARS} characters")
    if not all(_in_tag(char) for char in tag) or not tag.strip("_"):
        raise ValueError("a tag holds letters, digits, marks and underscores only")
    return tag


def _in_tag(char: str) -> bool:
    # Letters, digits and combining marks of any script (Devanagari's vowel signs are
    # marks, not letters), and the underscore.
    return char == "_" or unicodedata.category(char)[0] in "LNM"
