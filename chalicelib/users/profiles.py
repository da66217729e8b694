"""Profiles: a user's row and counters, as a viewer may see them, and their edits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.accounts.claims import NameClaims
from chalicelib.errors import NotFound
from chalicelib.graph.service import Graph
from chalicelib.shards.routing import Router
from chalicelib.users import store
from chalicelib.users.counters import Counters, Counts
from chalicelib.users.store import User


@dataclass(frozen=True)
class Profile:
    """A user and their counters."""

    user: User
    counts: Counts


class Profiles:
    """Reads and edits profiles."""

    def __init__(self, router: Router, graph: Graph, counters: Counters, claims: NameClaims):
        self._router = router
        self._graph = graph
        self._counters = counters
        self._claims = claims

    def view(self, viewer: int, user_id: int) -> Profile:
        """The user's profile; NotFound if there is none or a block stands between them."""
        user = self._graph.visible(viewer, user_id).user
        return Profile(user, self._counters.get(user.id))

    def by_username(self, viewer: int, username: str) -> Profile:
        """The profile of the user holding `username`."""
        user_id = self._claims.owner("username", username)
        if user_id is None:
            raise NotFound("no such user")
        return self.view(viewer, user_id)

    def update(self, user_id: int, changes: dict[str, Any]) -> Profile:
        """Apply the owner's edits (store.EDITABLE only); an account going public
        approves its pending follow requests, as followers would expect."""
        if not changes:
            return self.view(user_id, user_id)
        user = self._router.run_for_id(
            user_id, lambda conn, schema: store.update(conn, schema, user_id, changes)
        )
        if user is None:
            raise NotFound("no such user")
        if changes.get("is_private") is False:
            self._graph.approve_all(user_id)
        return Profile(user, self._counters.get(user_id))
