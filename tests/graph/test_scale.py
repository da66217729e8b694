"""The follow graph at scale, end to end: 1,000 users and 20,000 follows made through the
running API (chalice local, the local stack), then every answer checked against the shards.

Edges are chosen with a seeded generator and a power-law popularity, so a few users have
hundreds of followers; some accounts are private (follows become requests, a share of them
approved) and some users block others before and after the follows. Usernames carry a
random prefix, and the database is read only for this run's users, so the test can run
again and again on a shared stack.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import pytest
import requests
from psycopg2 import sql

from chalicelib.clients import Clients
from chalicelib.shards.schema import table

T = TypeVar("T")
R = TypeVar("R")
Pair = tuple[int, int]  # (source, target): "source follows / asks / blocks target"

SEED = 20_000
USERS = 1_000
FOLLOWS = 20_000
# Chalice's local server is threaded; the machine has two cores.
WORKERS = 8
PRIVATE_SHARE = 0.05
# Blocks made before the follows (each is also tried as a follow, both ways) and after.
BLOCKS_BEFORE = 40
BLOCKS_AFTER = 20
APPROVE_SHARE = 0.5
# Zipf exponent of popularity: the most popular users saturate at every other user.
POPULARITY_EXPONENT = 0.9
RELATIONSHIP_PAIRS = 3_200
PROFILES = 100
FOLLOWER_LISTS = 5
PAGE = 50

RELATIONSHIP_FIELDS = {
    "following",
    "followed_by",
    "requested",
    "requested_by",
    "blocking",
    "blocked_by",
}
# Each edge table, by the column naming the user whose shard holds the row.
OWNER_COLUMN = {
    "follows": "source_id",
    "followers": "target_id",
    "follow_requests": "target_id",
    "blocks": "source_id",
}


class Api:
    """The running API as the test's workers call it: one requests.Session per worker."""

    def __init__(self, base_url: str, workers: int) -> None:
        self._base_url = base_url
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._pool = ThreadPoolExecutor(max_workers=workers)

    def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self._session().request(
            method, self._base_url + path, headers=headers, timeout=30, **kwargs
        )

    def map(self, work: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """`work` over `items` on the workers, results in order."""
        return list(self._pool.map(work, items))

    def close(self) -> None:
        self._pool.shutdown()
        for session in self._sessions:
            session.close()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            self._sessions.append(session)
        return session


@dataclass
class Made:
    """What the API said it did: the edges, pending requests and blocks it made."""

    follows: set[Pair] = field(default_factory=set)
    requests: set[Pair] = field(default_factory=set)
    blocks: set[Pair] = field(default_factory=set)

    def block(self, pair: Pair) -> None:
        """A block ends every follow and request between the two, both ways."""
        both = {pair, pair[::-1]}
        self.follows -= both
        self.requests -= both
        self.blocks.add(pair)


@dataclass(frozen=True)
class Stored:
    """This run's edges as the shards hold them: pair -> created_at."""

    follows: dict[Pair, datetime]
    followers: dict[Pair, datetime]
    requests: dict[Pair, datetime]
    blocks: dict[Pair, datetime]

    def relationship(self, viewer: int, other: int) -> dict[str, bool]:
        """How the viewer and the other stand, by the database."""
        there, back = (viewer, other), (other, viewer)
        return {
            "following": there in self.follows,
            "followed_by": back in self.follows,
            "requested": there in self.requests,
            "requested_by": back in self.requests,
            "blocking": there in self.blocks,
            "blocked_by": back in self.blocks,
        }

    def followers_newest_first(self, user: int) -> list[int]:
        rows = [(at, source) for (source, target), at in self.followers.items() if target == user]
        return [source for _, source in sorted(rows, reverse=True)]


@pytest.fixture
def api(api_url: str) -> Iterator[Api]:
    workers = Api(api_url, WORKERS)
    yield workers
    workers.close()


def timed(label: str, count: int, work: Callable[[], T]) -> T:
    """Run `work`, printing how many of `label` per second it managed."""
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    print(f"{label}: {count} in {seconds:.1f} s = {count / seconds:.0f}/s")
    return result


def assert_same(stored: Iterable[Pair], said: set[Pair], what: str) -> None:
    """The database holds exactly the pairs the API said it made."""
    extra, missing = set(stored) - said, said - set(stored)
    assert (extra, missing) == (set(), set()), (
        f"{what}: {len(extra)} stored but never made, e.g. {sorted(extra)[:5]}; "
        f"{len(missing)} made but not stored, e.g. {sorted(missing)[:5]}"
    )


def expect_none(unexpected: list[str], what: str) -> None:
    assert not unexpected, f"{len(unexpected)} unexpected {what}, e.g.:\n" + "\n".join(
        unexpected[:10]
    )


# GIVEN: users, private accounts and blocks


def sign_up_all(api: Api, count: int) -> dict[int, str]:
    """`count` new users through POST /accounts: their IDs and session tokens, in order."""
    prefix = f"scale_{uuid.uuid4().hex[:8]}"
    password = f"pw-{uuid.uuid4().hex}"

    def sign_up(index: int) -> requests.Response:
        name = f"{prefix}_{index:04d}"
        body = {"username": name, "email": f"{name}@example.com", "password": password}
        return api.call("POST", "/accounts", json=body)

    answers = timed("sign-ups", count, lambda: api.map(sign_up, range(count)))
    expect_none([a.text for a in answers if a.status_code != 201], "sign-up answers")
    bodies = [answer.json() for answer in answers]
    return {int(body["user"]["id"]): body["session"]["token"] for body in bodies}


def make_private(api: Api, tokens: dict[int, str], users: list[int]) -> None:
    def patch(user: int) -> requests.Response:
        return api.call("PATCH", "/users/me", tokens[user], json={"is_private": True})

    answers = api.map(patch, users)
    expect_none(
        [a.text for a in answers if a.status_code != 200 or not a.json()["is_private"]],
        "answers to going private",
    )


def popularity(rng: random.Random, users: list[int]) -> list[float]:
    """A Zipf weight per user (in `users` order), the ranks shuffled."""
    ranks = list(range(1, len(users) + 1))
    rng.shuffle(ranks)
    return [rank**-POPULARITY_EXPONENT for rank in ranks]


def choose_blocks(
    rng: random.Random, users: list[int], weights: list[float], count: int
) -> list[Pair]:
    """Blocks between a popular user and anyone, either way round."""
    chosen: list[Pair] = []
    while len(chosen) < count:
        [popular] = rng.choices(users, weights)
        anyone = rng.choice(users)
        pair = (popular, anyone) if rng.random() < 0.5 else (anyone, popular)
        if popular != anyone and pair not in chosen:
            chosen.append(pair)
    return chosen


def block_all(api: Api, tokens: dict[int, str], pairs: list[Pair], made: Made) -> None:
    def block(pair: Pair) -> requests.Response:
        return api.call("POST", f"/users/{pair[1]}/block", tokens[pair[0]])

    answers = timed("blocks", len(pairs), lambda: api.map(block, pairs))
    unexpected = []
    for pair, answer in zip(pairs, answers, strict=True):
        if answer.status_code != 200 or not answer.json()["blocking"]:
            unexpected.append(f"{pair} block: {answer.status_code} {answer.text}")
        else:
            made.block(pair)
    expect_none(unexpected, "answers to blocks")


# WHEN: follows, approvals


def choose_follows(
    rng: random.Random, users: list[int], weights: list[float], blocks: set[Pair], count: int
) -> list[Pair]:
    """`count` distinct follows: every block tried both ways, the rest by popularity."""
    chosen = dict.fromkeys(pair for blocked in blocks for pair in (blocked, blocked[::-1]))
    while len(chosen) < count:
        targets = rng.choices(users, weights, k=count)
        for source, target in zip(rng.choices(users, k=count), targets, strict=True):
            if source != target and len(chosen) < count:
                chosen[(source, target)] = None
    pairs = list(chosen)
    rng.shuffle(pairs)
    return pairs


def expected_status(pair: Pair, blocks: set[Pair]) -> tuple[int, str | None]:
    """404 when the target blocks the follower (checked first), 409 the other way; with
    the error code the body carries."""
    if pair[::-1] in blocks:
        return 404, "not_found"
    return (409, "conflict") if pair in blocks else (200, None)


def error_code(answer: requests.Response) -> str | None:
    return answer.json()["error"]["code"] if answer.status_code >= 400 else None


def follow_all(
    api: Api, tokens: dict[int, str], pairs: list[Pair], private: set[int], made: Made
) -> Counter[int]:
    """Follow every pair, recording what the API made; the answers' statuses, counted."""

    def follow(pair: Pair) -> requests.Response:
        return api.call("POST", f"/users/{pair[1]}/follow", tokens[pair[0]])

    answers = timed("follows", len(pairs), lambda: api.map(follow, pairs))
    unexpected = []
    for pair, answer in zip(pairs, answers, strict=True):
        status, code = expected_status(pair, made.blocks)
        if (answer.status_code, error_code(answer)) != (status, code):
            unexpected.append(f"{pair} follow: {answer.status_code} (not {status}) {answer.text}")
        elif status == 200:
            body = answer.json()
            asked = pair[1] in private
            wanted = {
                "following": not asked,
                "requested": asked,
                "blocking": False,
                "blocked_by": False,
            }
            if set(body) != RELATIONSHIP_FIELDS or {k: body[k] for k in wanted} != wanted:
                unexpected.append(f"{pair} follow (private: {asked}): {body}")
            if body["following"]:
                made.follows.add(pair)
            if body["requested"]:
                made.requests.add(pair)
    expect_none(unexpected, "answers to follows")
    return Counter(answer.status_code for answer in answers)


def approve_all(api: Api, tokens: dict[int, str], pairs: list[Pair], made: Made) -> None:
    def approve(pair: Pair) -> requests.Response:
        return api.call("POST", f"/me/follow-requests/{pair[0]}/approve", tokens[pair[1]])

    answers = timed("approvals", len(pairs), lambda: api.map(approve, pairs))
    unexpected = [
        f"{pair} approve: {answer.status_code} {answer.text}"
        for pair, answer in zip(pairs, answers, strict=True)
        if answer.status_code != 204
    ]
    expect_none(unexpected, "answers to approvals")
    made.requests -= set(pairs)
    made.follows |= set(pairs)


def choose_blocks_between_followers(rng: random.Random, made: Made, count: int) -> list[Pair]:
    """Blocks across existing follows and requests: half by the one followed, half by the
    follower."""
    crossed = rng.sample(sorted(made.follows | made.requests), count)
    return [pair[::-1] if index % 2 else pair for index, pair in enumerate(crossed)]


# THEN: the database, and what the API answers about it


def read_edges(clients: Clients, name: str, users: list[int]) -> dict[Pair, datetime]:
    """Every row of one edge table owned by `users`, from every logical shard."""

    def part(shard: int, _schema: sql.Identifier) -> tuple[sql.Composable, list[Any]]:
        statement = sql.SQL(
            "SELECT source_id, target_id, created_at FROM {t} WHERE {owner} = ANY(%s)"
        ).format(t=table(shard, name), owner=sql.Identifier(OWNER_COLUMN[name]))
        return statement, [users]

    shards = range(clients.shard_map.get().logical_shards)
    rows = clients.router.query_shards(shards, part)
    pairs = {(source, target): at for source, target, at in rows}
    assert len(pairs) == len(rows), f"{name} holds a pair twice"
    return pairs


def read_stored(clients: Clients, users: list[int]) -> Stored:
    return Stored(*(read_edges(clients, name, users) for name in OWNER_COLUMN))


def sample_pairs(rng: random.Random, users: list[int], stored: Stored, count: int) -> list[Pair]:
    """Pairs of every kind: all requests and blocks (both ways), follows (and their
    reverses), then non-edges up to `count`."""
    chosen = dict.fromkeys(
        pair for edge in (*stored.requests, *stored.blocks) for pair in (edge, edge[::-1])
    )
    follows = rng.sample(sorted(stored.follows), count // 2 - len(chosen) // 2)
    chosen.update(dict.fromkeys((*follows, *(pair[::-1] for pair in follows[: count // 8]))))
    while len(chosen) < count:
        source, target = rng.sample(users, 2)
        chosen[(source, target)] = None
    return list(chosen)


def check_relationships(
    api: Api, tokens: dict[int, str], pairs: list[Pair], stored: Stored
) -> None:
    def look(pair: Pair) -> requests.Response:
        return api.call("GET", f"/users/{pair[1]}/relationship", tokens[pair[0]])

    answers = timed("relationship reads", len(pairs), lambda: api.map(look, pairs))
    unexpected = []
    for pair, answer in zip(pairs, answers, strict=True):
        wanted = stored.relationship(*pair)
        if answer.status_code != 200 or answer.json() != wanted:
            unexpected.append(f"{pair}: {answer.status_code} {answer.text} (database: {wanted})")
    expect_none(unexpected, "relationships")


def check_counts(api: Api, tokens: dict[int, str], users: list[int], stored: Stored) -> None:
    followers = Counter(target for _, target in stored.followers)
    following = Counter(source for source, _ in stored.follows)

    def profile(user: int) -> requests.Response:
        return api.call("GET", f"/users/{user}", tokens[user])

    answers = timed("profile reads", len(users), lambda: api.map(profile, users))
    unexpected = []
    for user, answer in zip(users, answers, strict=True):
        wanted = {"followers": followers[user], "following": following[user]}
        if answer.status_code != 200:
            unexpected.append(f"user {user}: {answer.status_code} {answer.text}")
            continue
        counts = answer.json()["counts"]
        if {name: counts[name] for name in wanted} != wanted:
            unexpected.append(f"user {user}: {counts} (database: {wanted})")
    expect_none(unexpected, "profile counts")


def page_followers(api: Api, token: str, user: int) -> list[int]:
    """Every follower GET /users/{id}/followers shows, page by page."""
    shown: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"count": PAGE, **({"cursor": cursor} if cursor else {})}
        answer = api.call("GET", f"/users/{user}/followers", token, params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        shown += [int(item["id"]) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return shown


def check_follower_lists(
    api: Api, tokens: dict[int, str], users: list[int], stored: Stored
) -> None:
    def listed(user: int) -> list[int]:
        return page_followers(api, tokens[user], user)

    lists = timed("follower lists", len(users), lambda: api.map(listed, users))
    for user, shown in zip(users, lists, strict=True):
        assert len(shown) == len(set(shown)), f"user {user}'s followers repeat"
        assert shown == stored.followers_newest_first(user), f"user {user}'s followers"


def test_a_thousand_users_and_twenty_thousand_follows_agree_with_the_database(api, clients):
    rng = random.Random(SEED)
    started = time.perf_counter()

    # GIVEN 1,000 users, a few private, a few blocking others
    tokens = sign_up_all(api, USERS)
    users = list(tokens)
    private = set(rng.sample(users, round(USERS * PRIVATE_SHARE)))
    timed("going private", len(private), lambda: make_private(api, tokens, sorted(private)))
    weights = popularity(rng, users)
    made = Made()
    block_all(api, tokens, choose_blocks(rng, users, weights, BLOCKS_BEFORE), made)

    # WHEN 20,000 distinct follows are asked for, blocked ones included; a share of the
    # requests to private users is approved; and some pairs block each other afterwards
    pairs = choose_follows(rng, users, weights, made.blocks, FOLLOWS)
    statuses = follow_all(api, tokens, pairs, private, made)
    requested = sorted(made.requests)
    approved = rng.sample(requested, round(len(requested) * APPROVE_SHARE))
    approve_all(api, tokens, approved, made)
    block_all(api, tokens, choose_blocks_between_followers(rng, made, BLOCKS_AFTER), made)
    print(
        f"follow answers {dict(statuses)}; requests {len(requested)}, "
        f"approved {len(approved)}; blocks {len(made.blocks)}"
    )

    # THEN the shards hold exactly what the API said it made, the index mirrors the truth
    stored = read_stored(clients, users)
    assert_same(stored.follows, made.follows, "follows")
    assert_same(stored.followers, set(stored.follows), "followers against follows")
    assert_same(stored.requests, made.requests, "follow_requests")
    assert_same(stored.blocks, made.blocks, "blocks")
    most_followed = Counter(target for _, target in stored.followers).most_common()
    print(f"followers of the most followed: {[count for _, count in most_followed[:10]]}")

    # AND every relationship, count and follower list the API shows agrees with them
    sample = sample_pairs(rng, users, stored, RELATIONSHIP_PAIRS)
    assert len(sample) >= 3_000
    check_relationships(api, tokens, sample, stored)
    popular = [user for user, _ in most_followed[:10]]
    others = rng.sample([user for user in users if user not in popular], PROFILES - 10)
    check_counts(api, tokens, popular + others, stored)
    public = [user for user, _ in most_followed if user not in private][:FOLLOWER_LISTS]
    check_follower_lists(api, tokens, public, stored)
    print(f"whole test: {time.perf_counter() - started:.0f} s")
