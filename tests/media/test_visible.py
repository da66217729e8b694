"""Which owners' media each surface shows (the rule alone, without a stack)."""

from __future__ import annotations

import pytest

from chalicelib.media.visible import Audience

# own, follows, blocked, private
OWN = (True, False, False, False)
OWN_PRIVATE = (True, False, False, True)
FOLLOWED_PRIVATE = (False, True, False, True)
STRANGER_PUBLIC = (False, False, False, False)
STRANGER_PRIVATE = (False, False, False, True)
FOLLOWED_BLOCKED = (False, True, True, False)
PUBLIC_BLOCKED = (False, False, True, False)

SHOWN = {
    Audience.FOLLOWED: {OWN, OWN_PRIVATE, FOLLOWED_PRIVATE},
    Audience.PUBLIC_OR_FOLLOWED: {OWN, OWN_PRIVATE, FOLLOWED_PRIVATE, STRANGER_PUBLIC},
    Audience.PUBLIC: {OWN, STRANGER_PUBLIC},
    Audience.PUBLIC_OTHERS: {STRANGER_PUBLIC},
}
CASES = [
    OWN,
    OWN_PRIVATE,
    FOLLOWED_PRIVATE,
    STRANGER_PUBLIC,
    STRANGER_PRIVATE,
    FOLLOWED_BLOCKED,
    PUBLIC_BLOCKED,
]


@pytest.mark.parametrize("audience", list(Audience))
@pytest.mark.parametrize("case", CASES)
def test_each_audience_shows_exactly_its_owners(audience, case):
    own, follows, blocked, private = case

    shown = audience.shows(own=own, follows=follows, blocked=blocked, private=private)

    assert shown == (case in SHOWN[audience])
