"""Make the follow graph's two halves agree again: `photofeed graph repair`.

`follows` (on the source's shard) is the truth; `followers` (on the target's) is its
index. A crash between the halves of a follow, unfollow, approval or block leaves them
disagreeing. The repair walks every shard's follows in pages and, per page, asks each
target shard once:

- a follow with a block between the two users is removed, with its follower row;
- a follow without its follower row gets one (and a leftover request goes);

then walks every shard's followers, and removes any row whose follow is gone; then
every shard's follow requests, and removes those with a block between the two. Rows
younger than the grace period are left to the operations still writing them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from chalicelib.shards.ids import shard_of
from chalicelib.shards.routing import Router
from chalicelib.users.counters import Counters

BATCH = 1000
GRACE_SECONDS = 60.0
Pair = tuple[int, int]  # (source, target): source follows target


@dataclass
class RepairReport:
    """What a repair found and changed."""

    follows_checked: int = 0
    followers_checked: int = 0
    followers_added: int = 0
    followers_removed: int = 0
    follows_removed: int = 0  # follows across a block
    requests_removed: int = 0
    touched_users: set[int] = field(default_factory=set)

    @property
    def changes(self) -> int:
        return (
            self.followers_added
            + self.followers_removed
            + self.follows_removed
            + self.requests_removed
        )


def repair_graph(
    router: Router,
    counters: Counters,
    shards: Iterable[int],
    grace_seconds: float = GRACE_SECONDS,
    progress: Callable[[int], None] = lambda _: None,
) -> RepairReport:
    """Repair the graph rows stored on `shards` (both directions); counters of the
    users whose rows changed are dropped, to be recounted."""
    report = RepairReport()
    for shard in shards:
        for pairs in _pages(router, shard, "follows", grace_seconds):
            report.follows_checked += len(pairs)
            _settle_follows(router, shard, pairs, report)
        for pairs in _pages(router, shard, "followers", grace_seconds):
            report.followers_checked += len(pairs)
            _settle_followers(router, shard, pairs, report)
        for pairs in _pages(router, shard, "follow_requests", grace_seconds):
            _settle_requests(router, shard, pairs, report)
        progress(1)
    counters.forget(report.touched_users)
    return report


def _pages(router: Router, shard: int, table: str, grace_seconds: float) -> Iterable[list[Pair]]:
    """The (source, target) pairs of the shard's table, older than the grace period,
    a page at a time."""
    after: Pair = (0, 0)
    while True:
        rows = router.run(
            shard,
            lambda conn, s, after=after: _rows(
                conn,
                sql.SQL(
                    "SELECT source_id, target_id FROM {s}.{t} "
                    "WHERE (source_id, target_id) > (%s, %s) "
                    "AND created_at < now() - make_interval(secs => %s) "
                    "ORDER BY source_id, target_id LIMIT %s"
                ).format(s=s, t=sql.Identifier(table)),
                [*after, grace_seconds, BATCH],
            ),
        )
        if not rows:
            return
        yield [(source, target) for source, target in rows]
        after = rows[-1]


def _settle_follows(router: Router, shard: int, pairs: list[Pair], report: RepairReport) -> None:
    """Follows stored on `shard`: their index rows, checked on each target's shard."""
    removed, pairs = _without_strangers(router, shard, "follows", pairs, other=1, report=report)
    report.follows_removed += removed
    blocked_by_source = set(router.run(shard, lambda conn, s: _matching(conn, s, "blocks", pairs)))
    for target_shard, group in _by_shard(pairs, lambda pair: pair[1]).items():
        indexed = set(
            router.run(
                target_shard,
                lambda conn, s, g=group: _matching(conn, s, "followers", g),
            )
        )
        blocked_by_target = {
            (b, a)
            for a, b in router.run(
                target_shard,
                lambda conn, s, g=group: _matching(conn, s, "blocks", _swap(g)),
            )
        }
        blocked = [p for p in group if p in blocked_by_source or p in blocked_by_target]
        missing = [p for p in group if p not in indexed and p not in blocked]
        if blocked:
            report.follows_removed += router.run(
                shard, lambda conn, s, b=blocked: _delete(conn, s, "follows", b)
            )
            report.followers_removed += router.run(
                target_shard, lambda conn, s, b=blocked: _delete(conn, s, "followers", b)
            )
        if missing:
            report.followers_added += router.run(
                target_shard, lambda conn, s, m=missing: _insert_followers(conn, s, m)
            )
        # An approval that stopped half-way leaves its request behind a made follow.
        report.requests_removed += router.run(
            target_shard,
            lambda conn, s, g=group, b=blocked: _delete(
                conn, s, "follow_requests", [p for p in g if p not in b]
            ),
        )
        for pair in blocked + missing:
            report.touched_users.update(pair)


def _settle_followers(router: Router, shard: int, pairs: list[Pair], report: RepairReport) -> None:
    """Follower rows stored on `shard`: removed where the follow they index is gone."""
    removed, pairs = _without_strangers(router, shard, "followers", pairs, other=0, report=report)
    report.followers_removed += removed
    for source_shard, group in _by_shard(pairs, lambda pair: pair[0]).items():
        followed = set(
            router.run(
                source_shard,
                lambda conn, s, g=group: _matching(conn, s, "follows", g),
            )
        )
        orphans = [p for p in group if p not in followed]
        if orphans:
            report.followers_removed += router.run(
                shard, lambda conn, s, o=orphans: _delete(conn, s, "followers", o)
            )
            for pair in orphans:
                report.touched_users.update(pair)


def _settle_requests(router: Router, shard: int, pairs: list[Pair], report: RepairReport) -> None:
    """Follow requests stored on `shard` (their targets'): removed across a block, or
    from an ID no shard of ours holds."""
    removed, pairs = _without_strangers(
        router, shard, "follow_requests", pairs, other=0, report=report
    )
    report.requests_removed += removed
    blocked = {
        (b, a)
        for a, b in router.run(shard, lambda conn, s: _matching(conn, s, "blocks", _swap(pairs)))
    }
    for source_shard, group in _by_shard(pairs, lambda pair: pair[0]).items():
        blocked.update(
            router.run(source_shard, lambda conn, s, g=group: _matching(conn, s, "blocks", g))
        )
    if blocked:
        report.requests_removed += router.run(
            shard, lambda conn, s: _delete(conn, s, "follow_requests", sorted(blocked))
        )


def _without_strangers(
    router: Router,
    shard: int,
    table: str,
    pairs: list[Pair],
    *,
    other: int,
    report: RepairReport,
) -> tuple[int, list[Pair]]:
    """Delete the shard's rows whose other user (pair[other]) names no shard of ours
    (no such user can exist); how many, and the pairs left."""
    strangers = [pair for pair in pairs if not router.holds(pair[other])]
    if not strangers:
        return 0, pairs
    removed = router.run(shard, lambda conn, s: _delete(conn, s, table, strangers))
    report.touched_users.update(pair[1 - other] for pair in strangers)
    return removed, [pair for pair in pairs if pair not in set(strangers)]


def _by_shard(pairs: list[Pair], user: Callable[[Pair], int]) -> dict[int, list[Pair]]:
    groups: dict[int, list[Pair]] = defaultdict(list)
    for pair in pairs:
        groups[shard_of(user(pair))].append(pair)
    return groups


def _swap(pairs: list[Pair]) -> list[Pair]:
    return [(b, a) for a, b in pairs]


def _values(pairs: list[Pair]) -> list[list[int]]:
    return [[a for a, _ in pairs], [b for _, b in pairs]]


def _matching(
    conn: Connection, schema: sql.Identifier, table: str, pairs: list[Pair]
) -> list[Pair]:
    """Which of the (source, target) pairs the table holds."""
    if not pairs:
        return []
    return [
        (a, b)
        for a, b in _rows(
            conn,
            sql.SQL(
                "SELECT p.source_id, p.target_id "
                "FROM unnest(%s::bigint[], %s::bigint[]) AS p(source_id, target_id) "
                "WHERE EXISTS (SELECT 1 FROM {s}.{t} r "
                "WHERE r.source_id = p.source_id AND r.target_id = p.target_id)"
            ).format(s=schema, t=sql.Identifier(table)),
            _values(pairs),
        )
    ]


def _delete(conn: Connection, schema: sql.Identifier, table: str, pairs: list[Pair]) -> int:
    if not pairs:
        return 0
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "DELETE FROM {s}.{t} r USING unnest(%s::bigint[], %s::bigint[]) "
                "AS p(source_id, target_id) "
                "WHERE r.source_id = p.source_id AND r.target_id = p.target_id"
            ).format(s=schema, t=sql.Identifier(table)),
            _values(pairs),
        )
        return cursor.rowcount


def _insert_followers(conn: Connection, schema: sql.Identifier, pairs: list[Pair]) -> int:
    with conn.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "INSERT INTO {s}.followers (source_id, target_id) "
                "SELECT * FROM unnest(%s::bigint[], %s::bigint[]) ON CONFLICT DO NOTHING"
            ).format(s=schema),
            _values(pairs),
        )
        return cursor.rowcount


def _rows(conn: Connection, statement: sql.Composable, values: list) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(statement, values)
        return cursor.fetchall()
