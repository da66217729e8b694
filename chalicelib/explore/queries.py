"""The statements explore sends: each is one shard's part of a query that
Router.query_shards sends once per physical database."""

from __future__ import annotations

from typing import Any

from psycopg2 import sql

Part = tuple[sql.Composable, list[Any]]

# Each like's exponent x = (liked at - epoch) / half-life, then per media the log2 of the
# sum of 2^x, as max(x) + log2(sum 2^(x - max(x))): no power is ever above 1.
_SCORES = """
SELECT id, max(top) + ln(sum(power(2.0::float8, x - top))) / ln(2.0::float8) AS score
  FROM (SELECT l.media_id AS id, e.x, max(e.x) OVER (PARTITION BY l.media_id) AS top
          FROM {s}.likes l
          JOIN {s}.media m ON m.id = l.media_id
          JOIN {s}.users u ON u.id = m.owner_id
         CROSS JOIN LATERAL (SELECT (extract(epoch FROM l.created_at)::float8 - %s)
                                    / %s AS x) e
         WHERE m.status = 'ready' AND NOT u.is_private AND l.media_id >= %s) t
 GROUP BY id ORDER BY score DESC, id DESC LIMIT %s
"""


def scores(
    schema: sql.Identifier, *, oldest: int, epoch: float, half_life: float, cap: int
) -> Part:
    """A shard's best-scored ready media of public owners from `oldest` (an ID) on: (ID,
    log2 of the sum over its likes of 2^((liked at - epoch) / half_life))."""
    return sql.SQL(_SCORES).format(s=schema), [epoch, half_life, oldest, cap]
