"""moto's server with one local fix: a DynamoDB query on an index sorts only what it
found, not the whole table first.

moto 5's `Table.query` reads `all_items()`, which sorts every item of the table by its
primary key (comparisons in Python) before it filters for the index, and then sorts
what matched by the index's keys anyway. On a seeded world (`photofeed seed`: 100,000
users hold 200,000 name claims) every user search then took over 5 s in moto and the
API answered 503; DynamoDB itself reads one partition of the index. Scans and queries
on the table's own key keep the sorted walk (their pagination relies on it).

    python -m devstack.moto_server -H 127.0.0.1 -p PORT    # as python -m moto.server
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from moto.dynamodb.models.table import Table

_local = threading.local()
_sorted_items = Table.all_items
_query = Table.query


def _all_items(self: Table) -> list[Any]:
    """Every item; unsorted inside an index query (it sorts its matches itself)."""
    if not getattr(_local, "index_query", False):
        return _sorted_items(self)
    if self.range_key_attr:
        return [item for by_range in self.items.values() for item in by_range.values()]
    return list(self.items.values())


def _index_aware_query(self: Table, *args: Any, **kwargs: Any) -> Any:
    # Table.query(hash_key, range_comparison, range_objs, limit, exclusive_start_key,
    #             scan_index_forward, projection_expressions, index_name, ...)
    index_name = kwargs["index_name"] if "index_name" in kwargs else (args[7:8] or [None])[0]
    _local.index_query = index_name is not None
    try:
        return _query(self, *args, **kwargs)
    finally:
        _local.index_query = False


def install() -> None:
    """Patch moto's tables (in this process)."""
    Table.all_items = _all_items
    Table.query = _index_aware_query


def main() -> None:
    install()
    from moto.server import main as moto_main  # noqa: PLC0415 (after the patch)

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
