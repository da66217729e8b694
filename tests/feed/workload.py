"""A small social workload for feed tests: members who follow, post and read, seeded.

Posts are made ready in PostgreSQL and fanned out by the test (tests.feed.feeds), a batch
at a time and in shuffled order, as a busy queue delivers them; reads go through the API.
`check` reads every member's whole feed page by page and compares it with what the
database says it should hold.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from chalicelib.clients import Clients
from chalicelib.media.records import Media
from tests.feed.fanning import Fanning
from tests.feed.feeds import all_pages, expected_feed, feed_ids, follow, post_ready


class Workload:
    """Members of one test, and what they did."""

    def __init__(
        self, clients: Clients, members: Callable[[int], list[Any]], fanning: Fanning, seed: int
    ) -> None:
        self.clients = clients
        self._members = members
        self.fanning = fanning
        self.rng = random.Random(seed)
        self.members: list[Any] = []
        self.follows: set[tuple[int, int]] = set()

    def join(self, count: int) -> list[Any]:
        """Sign up `count` new members."""
        joined = self._members(count)
        self.members += joined
        return joined

    def follow_randomly(self, count: int, targets: list[Any] | None = None) -> None:
        """`count` new follows between members (of `targets`, if given)."""
        made = 0
        while made < count:
            source = self.rng.choice(self.members)
            target = self.rng.choice(targets or self.members)
            if source is target or (source.id, target.id) in self.follows:
                continue
            follow(source, target)
            self.follows.add((source.id, target.id))
            made += 1

    def post(self, count: int, authors: list[Any] | None = None) -> list[Media]:
        """`count` ready media by random members (of `authors`), not fanned out yet."""
        authors = authors or self.members
        return [post_ready(self.clients, self.rng.choice(authors)) for _ in range(count)]

    def fan_out(self, media: list[Media]) -> None:
        """Fan these media out in shuffled order (a queue keeps no order)."""
        for item in self.rng.sample(media, len(media)):
            self.fanning.ready(item)

    def read(self) -> None:
        """Every member reads their first page (which marks them active)."""
        for member in self.members:
            feed_ids(member, count=5)

    def differences(self, cap: int, count: int = 7) -> dict[str, Any]:
        """Each member whose feed, read page by page, is not what the database says (their
        pages and the expected IDs); empty when every feed is right."""
        wrong: dict[str, Any] = {}
        for member in self.members:
            pages = all_pages(member, count=count)
            read = [media_id for page in pages for media_id in page]
            expected = expected_feed(self.clients, member.id, cap)
            if read != expected:
                wrong[member.username] = {
                    "missing": sorted(set(expected) - set(read), reverse=True),
                    "unexpected": sorted(set(read) - set(expected), reverse=True),
                    "duplicated": len(read) - len(set(read)),
                    "in_order": read == sorted(set(read), reverse=True),
                }
        return wrong
