"""User search by username prefix: candidates from the name-claims table's index, then
their summaries from the shards.

The index (chalicelib.accounts.claims) answers "which usernames begin with q" in one
DynamoDB query, in name order, without touching a shard; the page's candidates are then
summarised with one query per physical database, and anyone with a block between them
and the searcher is left out. A page can come back shorter than asked after that
filtering; its `next` still says where the index goes on.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.accounts.claims import NameClaims
from chalicelib.graph.service import Graph
from chalicelib.users.store import Summary


@dataclass(frozen=True)
class SearchPage:
    """One page of users found, and the last name the index gave (None: no more)."""

    items: list[Summary]
    next: str | None


class UserSearch:
    """Finds users by the beginning of their username, as a viewer may see them."""

    def __init__(self, claims: NameClaims, graph: Graph) -> None:
        self._claims = claims
        self._graph = graph

    def search(self, viewer: int, prefix: str, after: str | None, limit: int) -> SearchPage:
        """Users whose username begins with `prefix` (any case), in name order, after
        the name `after`; private accounts are found, blocked ones (either way) are not."""
        found = self._claims.usernames(prefix, after, limit + 1)
        shown = found[:limit]
        summaries = self._graph.summaries(viewer, [user_id for _, user_id in shown])
        items = [summaries[user_id] for _, user_id in shown if user_id in summaries]
        return SearchPage(items, shown[-1][0] if len(found) > limit else None)
