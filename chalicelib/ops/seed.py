"""`photofeed seed`: a realistic world in an empty local stack, through the domain's code.

    users      Accounts.sign_up_many: rows on random shards, active name claims; one
               password for all, hashed once (argon2id, as sign-up hashes it)
    follows    Graph.follow_many: a power law of popularity (a few accounts with tens
               of thousands of followers at the default size)
    feeds      the active share of users marked active, their feeds started empty
    renditions a sample uploaded as a phone does (MediaService.reserve_upload, as
               POST /media/uploads, then the presigned POST of a real JPEG): the pump's
               thumbnail and fanout handlers make its renditions and push it, as in
               production, while the seed goes on
    media      MediaService.add_processed_many (ready rows and their tags), fanned out
               per batch by FanOut.media_ready_many (fan-out's rules: active followers
               only, celebrities pulled at read time); no rendition files
    likes, comments  MediaService.like_many / comment_many, counted as single ones are

Everything is drawn from one seeded generator: the same options make the same world
(IDs aside: PostgreSQL makes them from the clock). Derived data the seed does not push
(counters, recent-media, tag, place, explore and activity lists) is rebuilt from
PostgreSQL at its first read, as after a Redis flush.
"""

from __future__ import annotations

import io
import itertools
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests
from psycopg2 import sql

from chalicelib.accounts.passwords import hash_password
from chalicelib.media.bulk import Processed
from chalicelib.media.records import Location
from chalicelib.media.service import NewUpload
from chalicelib.shards.ids import shard_of

# What every seeded user logs in with (documented in the README; a local world only).
PASSWORD = "photofeed-seed"  # noqa: S105 (a local world's, documented)
# Zipf exponents: the k-th most popular account is followed in proportion to k^-1
# (at 100,000 users and ~20 follows each: ~80,000, 57,000 and 43,000 for the first three).
POPULARITY_EXPONENT = 1.0
POSTING_EXPONENT = 0.5
LIKING_EXPONENT = 0.7
USER_BATCH = 5_000
MEDIA_BATCH = 10_000
ROW_BATCH = 50_000
# The renditions sample: photos of this size (a phone's, scaled down to keep the seed
# fast) go through the real pipeline; `large` is then 1080 wide.
PHOTO_SIZE = (1280, 960)
PHOTO_VARIANTS = 8
# A valid blurhash for media whose photos were not processed here (rows only).
BLURHASH = "LEHV6nWB2yk8pyo0adR*.7kCMdnj"
SHAPES = ((1080, 1350), (1080, 1080), (1080, 720))
WORDS = [
    "river",
    "stone",
    "maple",
    "coast",
    "amber",
    "harbor",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "glacier",
    "meadow",
    "orchid",
    "prairie",
    "quartz",
    "summit",
    "tundra",
    "willow",
    "aurora",
    "canyon",
]
TAGS = [
    "sunset",
    "travel",
    "food",
    "coffee",
    "nature",
    "city",
    "beach",
    "dog",
    "cat",
    "art",
    "street",
    "portrait",
    "mountains",
    "friends",
    "love",
    "photooftheday",
    "weekend",
    "hiking",
    "garden",
    "night",
]
CITIES = {
    "Paris": (48.8566, 2.3522),
    "Tokyo": (35.6762, 139.6503),
    "New York": (40.7128, -74.0060),
    "Lagos": (6.5244, 3.3792),
    "São Paulo": (-23.5505, -46.6333),
    "Sydney": (-33.8688, 151.2093),
}
COMMENTS = ("Love this!", "Wow", "So good 😍", "Where is this?", "Amazing light", "🔥🔥")


@dataclass(frozen=True)
class WorldSize:
    """How big a world to make, and from which random seed."""

    users: int = 100_000
    media: int = 500_000
    follows_per_user: int = 20
    likes_per_media: float = 2.0
    comments_per_media: float = 0.2
    renditions: int = 1_000
    active_share: float = 0.3
    seed: int = 1


@dataclass
class Seeded:
    """What a seed made."""

    users: list[int]
    follows: int = 0
    media: int = 0
    pushed: int = 0
    renditions: list[int] | None = None
    likes: int = 0
    comments: int = 0


class AlreadySeeded(RuntimeError):
    """Raised when the stack holds a seeded world already."""


# A progress reporter: (label, total) -> a context manager yielding update(n).
Progress = Callable[[str, int], Any]


def username(index: int) -> str:
    """The `index`-th seeded user's username (also their e-mail's local part)."""
    return f"{WORDS[index % len(WORDS)]}_{index}"


def email(index: int) -> str:
    return f"{username(index)}@seed.photofeed.test"


@dataclass(frozen=True)
class Services:
    """What a seed works through: the API's own services, and fan-out's."""

    accounts: Any
    graph: Any
    media: Any
    fanout: Any
    timelines: Any
    router: Any


def seed_world(services: Services, size: WorldSize, progress: Progress) -> Seeded:
    """Fill an empty stack with a world of `size`; AlreadySeeded if it holds one."""
    if services.accounts.claims.owner("username", username(0)) is not None:
        raise AlreadySeeded(
            f"this stack is seeded already (user {username(0)} exists): seed a fresh stack "
            "(make down && make up)"
        )
    rng = random.Random(size.seed)  # noqa: S311 (a reproducible world, not a secret)
    world = Seeded(users=_users(services, size, rng, progress))
    world.follows = _follows(services, size, world.users, rng, progress)
    _start_feeds(services, size, world.users, rng, progress)
    # The pump processes the sample while the rest is made.
    world.renditions = _upload_sample(services, size, world.users, rng, progress)
    media, world.pushed = _media(services, size, world.users, rng, progress)
    world.media = len(media)
    world.likes, world.comments = _likes_and_comments(
        services, size, world.users, rng, progress, media=media
    )
    _wait_for(services, world.renditions, progress)
    return world


def _users(
    services: Services, size: WorldSize, rng: random.Random, progress: Progress
) -> list[int]:
    hashed = hash_password(PASSWORD)  # once: 100,000 argon2 hashes would take ~40 minutes
    ids: list[int] = []
    with progress("users", size.users) as update:
        for start in range(0, size.users, USER_BATCH):
            batch = range(start, min(start + USER_BATCH, size.users))
            accounts = [(username(i), email(i)) for i in batch]
            ids += services.accounts.sign_up_many(accounts, hashed, rng)
            update(len(accounts))
    return ids


def _zipf(count: int, exponent: float) -> list[float]:
    """Cumulative weights of ranks 1..count under k^-exponent (for random.choices)."""
    return list(itertools.accumulate((k + 1) ** -exponent for k in range(count)))


def _follows(
    services: Services, size: WorldSize, users: list[int], rng: random.Random, progress: Progress
) -> int:
    popular = rng.sample(users, len(users))  # popularity order
    weights = _zipf(len(popular), POPULARITY_EXPONENT)
    made = 0
    with progress("follows", len(users)) as update:
        for start in range(0, len(users), USER_BATCH):
            pairs = []
            for source in users[start : start + USER_BATCH]:
                wanted = min(int(rng.expovariate(1 / size.follows_per_user)) + 1, len(users) - 1)
                targets = set(rng.choices(popular, cum_weights=weights, k=wanted))
                pairs += [(source, target) for target in targets if target != source]
            made += services.graph.follow_many(pairs)
            update(min(USER_BATCH, len(users) - start))
    return made


def _start_feeds(
    services: Services, size: WorldSize, users: list[int], rng: random.Random, progress: Progress
) -> None:
    active = rng.sample(users, int(len(users) * size.active_share))
    with progress("active users' feeds", len(active)) as update:
        for start in range(0, len(active), USER_BATCH):
            services.timelines.start_feeds(active[start : start + USER_BATCH])
            update(min(USER_BATCH, len(active) - start))


def _media(
    services: Services, size: WorldSize, users: list[int], rng: random.Random, progress: Progress
) -> tuple[list[int], int]:
    posters = rng.sample(users, len(users))
    weights = _zipf(len(posters), POSTING_EXPONENT)
    made: list[int] = []
    pushed = 0
    with progress("media and fan-out", size.media) as update:
        for start in range(0, size.media, MEDIA_BATCH):
            count = min(MEDIA_BATCH, size.media - start)
            owners = rng.choices(posters, cum_weights=weights, k=count)
            rows = [_processed(owner, rng) for owner in owners]
            ids = services.media.add_processed_many(rows)
            done = services.fanout.media_ready_many(list(zip(ids, owners, strict=True)))
            made += ids
            pushed += done.pushed
            update(count)
    return made, pushed


def _caption(rng: random.Random) -> str:
    words = " ".join(rng.choices(WORDS, k=rng.randint(2, 8)))
    tags = " ".join(f"#{tag}" for tag in rng.sample(TAGS, rng.randint(0, 3)))
    return f"{words.capitalize()} {tags}".strip()


def _location(rng: random.Random) -> Location | None:
    if rng.random() >= 0.2:
        return None
    name, (latitude, longitude) = rng.choice(list(CITIES.items()))
    return Location(latitude + rng.uniform(-0.02, 0.02), longitude + rng.uniform(-0.02, 0.02), name)


def _processed(owner: int, rng: random.Random) -> Processed:
    width, height = rng.choice(SHAPES)
    return Processed(
        owner_id=owner,
        caption=_caption(rng),
        width=width,
        height=height,
        blurhash=BLURHASH,
        byte_size=rng.randint(800_000, 4_000_000),
        location=_location(rng),
    )


def _upload_sample(
    services: Services, size: WorldSize, users: list[int], rng: random.Random, progress: Progress
) -> list[int]:
    """Reserve and upload the sample's photos as a phone does; their media IDs (the
    pump processes them meanwhile)."""
    photos = _photos(rng)
    owners = rng.sample(users, min(size.renditions, len(users)))
    ids = []
    with requests.Session() as http, progress("renditions sample: uploads", len(owners)) as update:
        for owner in owners:
            photo = rng.choice(photos)
            upload = NewUpload("image/jpeg", len(photo), _caption(rng), "", _location(rng))
            media, form = services.media.reserve_upload(owner, upload)
            sent = http.post(form.url, data=form.fields, files={"file": ("photo.jpg", photo)})
            sent.raise_for_status()
            ids.append(media.id)
            update(1)
    return ids


def _photos(rng: random.Random) -> list[bytes]:
    """A few distinct JPEGs (gradients and shapes), made here with Pillow, which only
    operators' and tests' environments have (never the API's)."""
    from PIL import Image, ImageDraw  # noqa: PLC0415 (see above)

    photos = []
    for _ in range(PHOTO_VARIANTS):
        base = tuple(rng.randrange(256) for _ in range(3))
        image = Image.new("RGB", PHOTO_SIZE, base)
        draw = ImageDraw.Draw(image)
        for _ in range(12):
            x, y = rng.randrange(PHOTO_SIZE[0]), rng.randrange(PHOTO_SIZE[1])
            r = rng.randrange(40, 300)
            colour = tuple(rng.randrange(256) for _ in range(3))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=85)
        photos.append(out.getvalue())
    return photos


def _likes_and_comments(
    services: Services,
    size: WorldSize,
    users: list[int],
    rng: random.Random,
    progress: Progress,
    *,
    media: list[int],
) -> tuple[int, int]:
    """Likes and comments on the seed's own ready media (popular ones by a power law)."""
    media = list(media)
    rng.shuffle(media)
    weights = _zipf(len(media), LIKING_EXPONENT)
    likes = comments = 0
    total_likes = int(size.media * size.likes_per_media)
    total_comments = int(size.media * size.comments_per_media)
    with progress("likes and comments", total_likes + total_comments) as update:
        for start in range(0, total_likes, ROW_BATCH):
            count = min(ROW_BATCH, total_likes - start)
            liked = rng.choices(media, cum_weights=weights, k=count)
            pairs = list({(m, rng.choice(users)) for m in liked})
            likes += services.media.like_many(pairs)
            update(count)
        for start in range(0, total_comments, ROW_BATCH):
            count = min(ROW_BATCH, total_comments - start)
            on = rng.choices(media, cum_weights=weights, k=count)
            rows = [(m, rng.choice(users), rng.choice(COMMENTS)) for m in on]
            comments += services.media.comment_many(rows)
            update(count)
    return likes, comments


def _wait_for(services: Services, media_ids: list[int], progress: Progress) -> None:
    """Until the pump has processed every media of the sample (ready or failed)."""
    with progress("renditions sample: processed", len(media_ids)) as update:
        done = 0
        deadline = time.monotonic() + 60 + len(media_ids)
        while done < len(media_ids) and time.monotonic() < deadline:
            time.sleep(1)
            now = sum(1 for _ in _processed_among(services, media_ids))
            update(now - done)
            done = now
        if done < len(media_ids):
            raise TimeoutError(f"{len(media_ids) - done} sample photos are still pending")


def _processed_among(services: Services, media_ids: list[int]) -> Iterator[int]:
    by_shard: dict[int, list[int]] = {}
    for media_id in media_ids:
        by_shard.setdefault(shard_of(media_id), []).append(media_id)
    rows = services.router.query_shards(
        by_shard,
        lambda shard, s: (
            sql.SQL("SELECT id FROM {}.media WHERE id = ANY(%s) AND status <> 'pending'").format(s),
            [by_shard[shard]],
        ),
    )
    return (row[0] for row in rows)


def api_services() -> Services:
    """The services as the API builds them (chalicelib.api.deps), and fan-out's."""
    from chalicelib.api import deps  # noqa: PLC0415 (the API's lazy wiring)
    from chalicelib.feed.fanout import fanout_of  # noqa: PLC0415

    clients = deps.get_clients()

    def no_chunks(chunk: object) -> None:
        raise AssertionError("a seed fans out in batches, never in chunk messages")

    return Services(
        accounts=deps.get_accounts(),
        graph=deps.get_graph(),
        media=deps.get_media(),
        fanout=fanout_of(clients, no_chunks),
        timelines=deps.get_timelines(),
        router=clients.router,
    )
