"""moto's server with one local fix: a DynamoDB query on an index looks only at the
items its key conditions can select, and sorts only those.

moto 5's `Table.query` reads `all_items()`, which sorts every item of the table by its
primary key (comparisons in Python) before it filters for the index, and then sorts
what matched by the index's keys anyway. On a seeded world (`photofeed seed`: 100,000
users hold 200,000 name claims) every user search then took over 5 s in moto and the
API answered 503; DynamoDB itself reads one partition of the index. Here an index
query first keeps the items whose raw string keys meet its conditions (=, BETWEEN,
begins_with: a superset of what moto then keeps after its own checks), in the
index's order, so moto's own sort of them is a single pass, not a sort of the table.
Scans and queries on the table's own key keep the sorted walk (their pagination relies
on it).

    python -m devstack.moto_server -H 127.0.0.1 -p PORT    # as python -m moto.server
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models.table import Table

_local = threading.local()
_sorted_items = Table.all_items
_query = Table.query
# Key conditions the pre-filter understands, on string keys; anything else is left to moto.
_STRING = "S"


def _all_items(self: Table) -> list[Any]:
    """Every item, sorted by the table's key; inside an index query, only those whose
    keys can meet its key conditions (moto checks them again and sorts what it keeps)."""
    query = getattr(_local, "query", None)
    if query is None:
        return _sorted_items(self)
    tests, order = query
    if self.range_key_attr:
        items = [item for by_range in self.items.values() for item in by_range.values()]
    else:
        items = list(self.items.values())
    found = [item for item in items if all(test(item.attrs) for test in tests)]
    # In the index's order already (raw strings sort as moto's string values do), so
    # that moto's own sort of them is one pass.
    keys = [*order, self.hash_key_attr]
    return sorted(found, key=lambda item: tuple(_string(item.attrs, name) for name in keys))


def _tests(hash_conditions: list, range_conditions: list) -> list[Callable[[dict], bool]]:
    """Cheap tests on raw string values that every item the query returns passes."""
    tests = []
    wanted = [(name, "EQ", [value]) for name, value in hash_conditions or []]
    for name, comparison, values in wanted + list(range_conditions or []):
        if any(value.type != _STRING for value in values):
            continue
        raw = [value.value for value in values]
        if comparison in ("EQ", "="):
            tests.append(lambda attrs, n=name, v=raw[0]: _string(attrs, n) == v)
        elif comparison == "BETWEEN":
            tests.append(lambda attrs, n=name, lo=raw[0], hi=raw[1]: lo <= _string(attrs, n) <= hi)
        elif comparison == "BEGINS_WITH":
            tests.append(lambda attrs, n=name, p=raw[0]: _string(attrs, n).startswith(p))
    return tests


def _string(attrs: dict, name: str) -> str:
    """An attribute's raw string value; None's stand-in sorts outside every range."""
    value = attrs.get(name)
    return value.value if value is not None and value.type == _STRING else "\x00"


def _index_aware_query(self: Table, *args: Any, **kwargs: Any) -> Any:
    # Table.query(hash_key, range_comparison, range_objs, limit, exclusive_start_key,
    #             scan_index_forward, projection_expressions, index_name, ...)
    index_name = kwargs["index_name"] if "index_name" in kwargs else (args[7:8] or [None])[0]
    if index_name is not None:
        hashes = kwargs.get("hash_key_conditions") or []
        ranges = kwargs.get("range_key_conditions") or []
        order = [name for name, _ in hashes] + [name for name, _, _ in ranges]
        _local.query = (_tests(hashes, ranges), order)
    try:
        return _query(self, *args, **kwargs)
    finally:
        _local.query = None


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
