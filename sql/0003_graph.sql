-- Accounts and the follow graph: the indexes their pages and repairs read by.

-- Claims are made in DynamoDB; a claim left pending by a crash is finished or released
-- by looking for its user here (see chalicelib/accounts/claims.py).
CREATE INDEX users_email_idx ON {schema}.users (lower(email));

-- Lists are newest first, paged by (created_at, other user's ID).
CREATE INDEX follows_source_recent_idx ON {schema}.follows (source_id, created_at DESC, target_id DESC);
CREATE INDEX followers_target_recent_idx ON {schema}.followers (target_id, created_at DESC, source_id DESC);
CREATE INDEX follow_requests_target_recent_idx
  ON {schema}.follow_requests (target_id, created_at DESC, source_id DESC);
