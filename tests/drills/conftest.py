"""The drills share one stack of their own (tests/drills/stackctl.py), started when the
first drill runs and stopped after the last."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.drills.stackctl import DrillStack, drill_stack

# Audiences above this many followers are fanned out in chunk messages (the least the
# settings allow), so that a drill's few hundred followers take several messages.
CHUNK_SIZE = 100


@pytest.fixture(scope="session")
def drills() -> Iterator[DrillStack]:
    with drill_stack({"PHOTOFEED_FEED_CHUNK_SIZE": str(CHUNK_SIZE)}) as stack:
        yield stack
