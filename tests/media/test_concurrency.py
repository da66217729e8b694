"""Media writes from many Lambda containers at once, on the real PostgreSQL.

The local API holds one connection per database, so its requests never overlap in
PostgreSQL; in AWS each concurrent request has a container (and a connection) of its
own. Here each container is a MediaService built as chalicelib.api.deps builds it, with
database connections of its own, and every container calls at the same moment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from chalicelib.errors import RateLimited
from chalicelib.graph.service import Graph
from chalicelib.media.cache import MediaCache
from chalicelib.media.service import MediaService, NewUpload
from chalicelib.shards.connections import Databases
from chalicelib.shards.routing import Router
from chalicelib.users.counters import Counters
from tests.media.helpers import PHOTO, a_ready_media, counted, media_rows

T = TypeVar("T")


@pytest.fixture(scope="module")
def containers(settings, clients) -> Iterator[list[MediaService]]:
    """More containers than the pending-uploads limit, with connections of their own
    (what they share here, the shard map, Redis and S3 clients, holds no transaction)."""
    dsns = {name: str(dsn) for name, dsn in settings.databases.items()}
    databases = [Databases(dsns) for _ in range(settings.limits.max_pending_uploads + 5)]
    routers = [Router(d, clients.shard_map) for d in databases]
    # Connect now, all at once and for a while, so that PgBouncer opens server
    # connections for them: the calls under test then overlap in PostgreSQL.
    shards = _a_shard_per_database(clients, settings.logical_shards)
    at_once([lambda router=router: _connect(router, shards) for router in routers])
    yield [_service(settings, clients, router) for router in routers]
    for d in databases:
        d.close()


def _service(settings, clients, router: Router) -> MediaService:
    counters = Counters(clients.redis, router)
    return MediaService(
        router,
        Graph(router, counters),
        counters,
        s3=clients.s3,
        bucket=settings.bucket,
        limits=settings.limits,
        media_cache=MediaCache(clients.redis, settings.feed.media_cache_seconds),
    )


def _a_shard_per_database(clients, shards: int) -> list[int]:
    shard_map = clients.shard_map.get()
    first: dict[str, int] = {}
    for shard in range(shards):
        first.setdefault(shard_map.database_of(shard), shard)
    return list(first.values())


def _connect(router: Router, shards: list[int]) -> None:
    for shard in shards:
        router.run(shard, lambda conn, s: conn.cursor().execute("SELECT pg_sleep(0.1)"))


def at_once(calls: list[Callable[[], T]]) -> list[T | Exception]:
    """Run every call in a thread of its own, all released together; each one's result
    or the exception it raised."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T | Exception:
        start.wait()
        try:
            return call()
        except Exception as exc:  # the test inspects what each call raised
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _reserve(service: MediaService, owner: int) -> Callable[[], Any]:
    return lambda: service.reserve_upload(owner, NewUpload("image/jpeg", len(PHOTO)))


def test_concurrent_reservations_never_exceed_the_pending_limit(
    settings, clients, sign_up, containers
):
    # GIVEN a user with no upload pending
    uploader = sign_up()
    limit = settings.limits.max_pending_uploads

    # WHEN more containers than the limit allows each reserve an upload for them at once
    outcomes = at_once([_reserve(service, uploader.id) for service in containers])

    # THEN the limit's worth are reserved; the others are told to retry later
    refusals = [o for o in outcomes if isinstance(o, Exception)]
    assert all(isinstance(o, RateLimited) for o in refusals)
    assert len(refusals) == len(containers) - limit
    assert len(media_rows(clients, uploader.id)) == limit


def test_concurrent_likes_are_each_counted(clients, sign_up, containers):
    owner = sign_up()
    media_id = int(a_ready_media(owner)["id"])
    likers = [sign_up(prefix="fan") for _ in range(8)]

    outcomes = at_once(
        [
            lambda service=service, liker=liker: service.like(liker.id, media_id)
            for service, liker in zip(containers, likers, strict=False)
        ]
    )

    assert sorted(outcomes) == list(range(1, len(likers) + 1))  # type: ignore[type-var]
    assert counted(clients, media_id) == {
        "like_count": len(likers),
        "comment_count": 0,
        "likes": len(likers),
        "comments": 0,
    }


def test_concurrent_comments_are_each_counted(clients, sign_up, containers):
    owner = sign_up()
    media_id = int(a_ready_media(owner)["id"])

    outcomes = at_once(
        [
            lambda service=service, n=n: service.comment(owner.id, media_id, f"comment {n}")
            for n, service in enumerate(containers[:10])
        ]
    )

    assert not [o for o in outcomes if isinstance(o, Exception)]
    assert counted(clients, media_id) == {
        "like_count": 0,
        "comment_count": 10,
        "likes": 0,
        "comments": 10,
    }
