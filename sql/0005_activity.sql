-- The activity feed: when a follow request was approved (NULL: a follow of a public
-- account), so a requester's "follow_approved" entries can be rebuilt from their shard.
ALTER TABLE {schema}.follows ADD COLUMN approved_at timestamptz;

CREATE INDEX follows_source_approved_idx ON {schema}.follows (source_id, approved_at DESC)
  WHERE approved_at IS NOT NULL;
