-- Media: counts kept on the media row (updated in the like's or comment's own
-- transaction, on the same shard: Instagram's fix for counting likes), the moments
-- that lag metrics need, and hashtags for discovery.

ALTER TABLE {schema}.media
  ADD COLUMN like_count     integer NOT NULL DEFAULT 0,
  ADD COLUMN comment_count  integer NOT NULL DEFAULT 0,
  ADD COLUMN ready_at       timestamptz,
  ADD COLUMN deleted_at     timestamptz;

-- A user's visible media, newest first.
CREATE INDEX media_owner_ready_idx ON {schema}.media (owner_id, id DESC) WHERE status = 'ready';

-- Who liked a media, newest first.
CREATE INDEX likes_media_recent_idx ON {schema}.likes (media_id, created_at DESC, user_id DESC);

-- A media's comments, newest first.
CREATE INDEX comments_media_recent_idx ON {schema}.comments (media_id, id DESC)
  WHERE deleted_at IS NULL;

-- Tags of a media's caption (source_id = the media) and comments (source_id = the
-- comment), lower-cased; on the media's shard.
CREATE TABLE {schema}.hashtags (
  media_id    bigint NOT NULL,
  source_id   bigint NOT NULL,
  tag         text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (media_id, source_id, tag)
);
CREATE INDEX hashtags_tag_idx ON {schema}.hashtags (tag, media_id DESC);
