"""Media as people see and change them: uploads reserved, media read, edited and deleted,
likes and comments. Who may see a media is decided here, once.

A media is visible to its owner in any state; to anyone else only when ready, with no
block between them and the owner, and (for a private account) to approved followers.
A media someone may not see does not exist for them: 404, never 403.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.config import Limits
from chalicelib.errors import Conflict, NotFound, PermissionDenied, RateLimited
from chalicelib.graph.service import Graph, Look, Page
from chalicelib.media import bulk, records
from chalicelib.media.bulk import Processed
from chalicelib.media.cache import MediaCache
from chalicelib.media.hashtags import hashtags
from chalicelib.media.keys import PENDING_TAGGING, original_key, rendition_keys
from chalicelib.media.records import READY, Comment, Location, Media
from chalicelib.media.uploads import CONTENT_TYPES
from chalicelib.shards.ids import shard_of
from chalicelib.shards.routing import Router
from chalicelib.users.counters import Counters
from chalicelib.users.store import Summary

if TYPE_CHECKING:
    from chalicelib.activity.service import ActivityRecorder
    from chalicelib.notifications.outbox import Outbox

T = TypeVar("T")
# Cache headers for renditions: their keys never change content.
_PENDING_WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class NewUpload:
    """What a client says about the photo it is about to upload (validated)."""

    content_type: str
    byte_size: int
    caption: str = ""
    alt_text: str = ""
    location: Location | None = None


@dataclass(frozen=True)
class UploadForm:
    """A presigned POST: the client sends `fields` and then the file to `url`."""

    url: str
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int


@dataclass(frozen=True)
class MediaView:
    """A media as one viewer sees it."""

    media: Media
    owner: Look
    liked: bool


@dataclass(frozen=True)
class CommentPage:
    """A page of comments with their authors (comments by hidden authors left out)."""

    comments: list[tuple[Comment, Summary]]
    next: tuple[datetime, int] | None


class MediaService:
    """Reads and changes media, likes and comments on their owners' shards."""

    def __init__(
        self,
        router: Router,
        graph: Graph,
        counters: Counters,
        *,
        s3: Any,
        bucket: str,
        limits: Limits,
        media_cache: MediaCache,
        tagged: Callable[[int, list[str]], None] = lambda media_id, tags: None,
        located: Callable[[Media], None] = lambda media: None,
        activity: ActivityRecorder | None = None,
        notify: Outbox | None = None,
        liked: Callable[[int], None] = lambda media_id: None,
    ) -> None:
        self._router = router
        self._graph = graph
        self._counters = counters
        self._s3 = s3
        self._bucket = bucket
        self._limits = limits
        self._media_cache = media_cache
        # Told of tags a ready media takes (the tag index); those of a media becoming
        # ready are indexed by fan-out.
        self._tagged = tagged
        self._located = located
        # Told of likes and comments once they commit (the owner's activity feed).
        self._activity = activity
        # Told of likes and comments once they commit (push notifications).
        self._notify = notify
        # Told of new likes of public owners' media once they commit (explore's ranking).
        self._liked = liked

    def reserve_upload(self, owner: int, upload: NewUpload) -> tuple[Media, UploadForm]:
        """A pending media and the presigned POST its original goes up with."""
        if upload.content_type not in CONTENT_TYPES:
            raise ValueError(f"not an allowed content type: {upload.content_type}")

        def reserve(conn, schema) -> Media:
            records.lock_owner(conn, schema, owner)
            pending = records.pending_since(conn, schema, owner, _PENDING_WINDOW_SECONDS)
            if pending >= self._limits.max_pending_uploads:
                raise RateLimited(
                    f"{pending} uploads are still pending; finish or wait for them",
                    retry_after=_PENDING_WINDOW_SECONDS // 4,
                )
            media = records.reserve(
                conn,
                schema,
                owner,
                content_type=upload.content_type,
                byte_size=upload.byte_size,
                caption=upload.caption,
                alt_text=upload.alt_text,
                location=upload.location,
            )
            records.set_tags(conn, schema, media.id, media.id, hashtags(upload.caption))
            return media

        media = self._router.run_for_id(owner, reserve)
        return media, self._upload_form(media)

    def _upload_form(self, media: Media) -> UploadForm:
        seconds = self._limits.upload_url_seconds
        limit = self._limits.max_upload_bytes
        post = self._s3.generate_presigned_post(
            Bucket=self._bucket,
            Key=original_key(media.id),
            Fields={"Content-Type": media.content_type, "tagging": PENDING_TAGGING},
            Conditions=[
                {"Content-Type": media.content_type},
                {"tagging": PENDING_TAGGING},
                ["content-length-range", 1, limit],
            ],
            ExpiresIn=seconds,
        )
        expires_at = datetime.now(UTC) + timedelta(seconds=seconds)
        return UploadForm(post["url"], post["fields"], expires_at, limit)

    def view(self, viewer: int, media_id: int) -> MediaView:
        """The media as the viewer may see it; NotFound otherwise."""
        if not self._router.holds(media_id):
            raise NotFound("no such media")
        found = self._on(media_id, lambda c, s: records.load(c, s, media_id, viewer))
        if found is None or found[0].status == records.DELETED:
            raise NotFound("no such media")
        media, liked = found
        owner = self._graph.look(viewer, media.owner_id)
        if viewer != media.owner_id and (media.status != READY or not owner.content_visible):
            raise NotFound("no such media")
        return MediaView(media, owner, liked)

    def edit(self, viewer: int, media_id: int, changes: dict[str, Any]) -> MediaView:
        """The owner's edits to caption, alt text or location (its tags follow the caption)."""
        view = self._owned(viewer, media_id, "edit")

        def apply(conn, schema) -> Media | None:
            media = records.edit(conn, schema, media_id, changes) if changes else view.media
            if media is not None and "caption" in changes:
                records.set_tags(conn, schema, media_id, media_id, hashtags(media.caption))
            return media

        media = self._on(media_id, apply)
        self._media_cache.forget(media_id)
        if media is None:
            raise NotFound("no such media")
        if "caption" in changes and media.status == READY:
            self._tagged(media_id, hashtags(media.caption))
        if media.location is not None and media.status == READY:
            self._located(media)
        return MediaView(media, view.owner, view.liked)

    def delete(self, viewer: int, media_id: int) -> None:
        """The owner deletes a media: its files go first, then the row is marked deleted
        (a retry after a failure finds the row and finishes)."""
        media = self._owned(viewer, media_id, "delete").media
        keys = [original_key(media_id), *rendition_keys(media_id, media.renditions)]
        self._s3.delete_objects(
            Bucket=self._bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
        )
        with self._counters.changing([media.owner_id]) as counted:
            was = self._on(media_id, lambda c, s: records.mark_deleted(c, s, media_id))
            if was == READY:
                counted.append((media.owner_id, "media", -1))
        self._media_cache.forget(media_id)

    def of_owner(
        self, viewer: int, owner_id: int, before: int | None, limit: int
    ) -> tuple[Look, list[tuple[Media, bool]], bool]:
        """A user's ready media (and whether the viewer likes each), newest first, if the
        viewer may see them; and whether there are more."""
        owner = self._graph.visible(viewer, owner_id)
        if not owner.content_visible:
            raise PermissionDenied("this account is private")
        rows = self._on(
            owner_id,
            lambda c, s: records.owner_page(
                c, s, owner_id, before=before, limit=limit + 1, viewer=viewer
            ),
        )
        return owner, rows[:limit], len(rows) > limit

    def like(self, viewer: int, media_id: int) -> int:
        """Like a media the viewer can see (idempotent); its like count."""
        view = self._ready(viewer, media_id)
        owner = view.media.owner_id
        likes = self._on(media_id, lambda c, s: records.like(c, s, media_id, viewer))
        self._media_cache.forget(media_id)
        # A repeated like changes no count (the view's may be cached, thus at most as high).
        if likes > view.media.like_count and not view.owner.user.is_private:
            self._liked(media_id)
        if self._activity is not None:
            self._activity.liked(owner, viewer, media_id)
        if self._notify is not None:
            self._notify.liked(owner, viewer, media_id)
        return likes

    def unlike(self, viewer: int, media_id: int) -> int:
        """Take a like back (idempotent); the like count."""
        self._ready(viewer, media_id)
        likes = self._on(media_id, lambda c, s: records.unlike(c, s, media_id, viewer))
        self._media_cache.forget(media_id)
        return likes

    def likers(
        self, viewer: int, media_id: int, after: tuple[datetime, int] | None, limit: int
    ) -> Page:
        """Who liked the media, newest first (those hidden from the viewer left out)."""
        self._ready(viewer, media_id)
        rows = self._on(
            media_id, lambda c, s: records.likers_page(c, s, media_id, after, limit + 1)
        )
        shown = rows[:limit]
        found = self._graph.summaries(viewer, [user for user, _ in shown])
        last = shown[-1] if len(rows) > limit else None
        return Page(
            [found[user] for user, _ in shown if user in found],
            (last[1], last[0]) if last else None,
        )

    def comment(self, viewer: int, media_id: int, body: str) -> Comment:
        """Comment on a media the viewer can see; its hashtags are recorded."""
        owner = self._ready(viewer, media_id).media.owner_id

        def add(conn, schema) -> Comment:
            made = records.add_comment(conn, schema, media_id, viewer, body)
            records.set_tags(conn, schema, media_id, made.id, hashtags(body))
            return made

        made = self._on(media_id, add)
        self._media_cache.forget(media_id)
        self._tagged(media_id, hashtags(body))
        if self._activity is not None:
            self._activity.commented(owner, viewer, media_id, made.id, made.created_at)
        if self._notify is not None:
            self._notify.commented(owner, viewer, media_id, made.id)
        return made

    def author(self, user_id: int) -> Summary:
        """A user as comments show their author."""
        return self._graph.summaries(user_id, [user_id])[user_id]

    def comments(self, viewer: int, media_id: int, before: int | None, limit: int) -> CommentPage:
        """The media's comments, newest first; comments of hidden authors left out."""
        self._ready(viewer, media_id)
        rows = self._on(
            media_id, lambda c, s: records.comments_page(c, s, media_id, before, limit + 1)
        )
        shown = rows[:limit]
        authors = self._graph.summaries(viewer, list({c.author_id for c in shown}))
        last = shown[-1] if len(rows) > limit else None
        return CommentPage(
            [(c, authors[c.author_id]) for c in shown if c.author_id in authors],
            (last.created_at, last.id) if last else None,
        )

    def delete_comment(self, viewer: int, media_id: int, comment_id: int) -> None:
        """The comment's author or the media's owner deletes a comment."""
        view = self._ready(viewer, media_id)
        found = self._on(media_id, lambda c, s: records.load_comment(c, s, media_id, comment_id))
        if found is None:
            raise NotFound("no such comment")
        if viewer not in (found.author_id, view.media.owner_id):
            raise PermissionDenied("only its author or the media's owner may delete a comment")
        self._on(media_id, lambda c, s: records.delete_comment(c, s, media_id, comment_id))
        self._media_cache.forget(media_id)

    def add_processed_many(self, media: list[Processed]) -> list[int]:
        """Ready media whose photos were processed elsewhere, with their captions' tags
        (`photofeed seed`: one statement per owner shard and table; the owners' counters
        are dropped, to be recounted); their IDs, in the order given."""
        ids = [0] * len(media)
        for shard, indexes in _by_shard([m.owner_id for m in media]).items():
            part = [media[i] for i in indexes]
            made = self._router.run(shard, lambda c, s, p=part: _add_processed(c, s, p))
            for index, media_id in zip(indexes, made, strict=True):
                ids[index] = media_id
        self._counters.forget({m.owner_id for m in media})
        return ids

    def like_many(self, likes: list[tuple[int, int]]) -> int:
        """Many (media ID, user ID) likes at once, counted as `like` counts; how many were
        new (`photofeed seed`: no visibility checks; explore and activity read them when
        rebuilt)."""
        return sum(
            self._router.run(
                shard, lambda c, s, p=[likes[i] for i in indexes]: bulk.like_many(c, s, p)
            )
            for shard, indexes in _by_shard([media_id for media_id, _ in likes]).items()
        )

    def comment_many(self, comments: list[tuple[int, int, str]]) -> int:
        """Many (media ID, author ID, body) comments at once, counted as `comment` counts
        (`photofeed seed`: bodies without hashtags, no visibility checks); how many."""
        return sum(
            self._router.run(
                shard,
                lambda c, s, p=[comments[i] for i in indexes]: bulk.add_comments_many(c, s, p),
            )
            for shard, indexes in _by_shard([row[0] for row in comments]).items()
        )

    def _ready(self, viewer: int, media_id: int) -> MediaView:
        view = self.view(viewer, media_id)
        if view.media.status != READY:
            raise Conflict(f"the media is {view.media.status}, not ready")
        return view

    def _owned(self, viewer: int, media_id: int, verb: str) -> MediaView:
        view = self.view(viewer, media_id)
        if view.media.owner_id != viewer:
            raise PermissionDenied(f"only the owner may {verb} a media")
        return view

    def _on(self, object_id: int, work: Callable[..., T]) -> T:
        return self._router.run_for_id(object_id, work)


def _by_shard(object_ids: list[int]) -> dict[int, list[int]]:
    """The positions of the IDs, by the shard each names."""
    found: dict[int, list[int]] = defaultdict(list)
    for index, object_id in enumerate(object_ids):
        found[shard_of(object_id)].append(index)
    return found


def _add_processed(conn, schema, media: list[Processed]) -> list[int]:
    ids = bulk.add_ready_many(conn, schema, media)
    tags = [
        (media_id, media_id, tag)
        for media_id, m in zip(ids, media, strict=True)
        for tag in hashtags(m.caption)
    ]
    bulk.add_tags_many(conn, schema, tags)
    return ids
