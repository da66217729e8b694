-- The rows a user owns live on the user's shard; likes and comments on the media's.
-- Cross-shard pairs (follows/followers) are written on both shards (see graph/).

CREATE TABLE {schema}.users (
  id          bigint PRIMARY KEY DEFAULT {schema}.next_id(),
  username    text NOT NULL,
  email       text NOT NULL,
  full_name   text NOT NULL DEFAULT '',
  bio         text NOT NULL DEFAULT '',
  is_private  boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON {schema}.users (lower(username));

CREATE TABLE {schema}.credentials (
  user_id        bigint PRIMARY KEY REFERENCES {schema}.users (id) ON DELETE CASCADE,
  password_hash  text NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {schema}.media (
  id              bigint PRIMARY KEY DEFAULT {schema}.next_id(),
  owner_id        bigint NOT NULL REFERENCES {schema}.users (id),
  status          text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'ready', 'failed', 'deleted')),
  caption         text NOT NULL DEFAULT '',
  alt_text        text NOT NULL DEFAULT '',
  content_type    text,
  byte_size       bigint,
  width           integer,
  height          integer,
  blurhash        text,
  renditions      jsonb,
  latitude        double precision,
  longitude       double precision,
  place_name      text,
  failure_reason  text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_owner_id_idx ON {schema}.media (owner_id, id DESC);

CREATE TABLE {schema}.follows (
  source_id   bigint NOT NULL REFERENCES {schema}.users (id),
  target_id   bigint NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_id, target_id)
);

CREATE TABLE {schema}.followers (
  target_id   bigint NOT NULL REFERENCES {schema}.users (id),
  source_id   bigint NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (target_id, source_id)
);

CREATE TABLE {schema}.follow_requests (
  target_id   bigint NOT NULL REFERENCES {schema}.users (id),
  source_id   bigint NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (target_id, source_id)
);

CREATE TABLE {schema}.blocks (
  source_id   bigint NOT NULL REFERENCES {schema}.users (id),
  target_id   bigint NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_id, target_id)
);

CREATE TABLE {schema}.likes (
  media_id    bigint NOT NULL,
  user_id     bigint NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (media_id, user_id)
);

CREATE TABLE {schema}.comments (
  id          bigint PRIMARY KEY DEFAULT {schema}.next_id(),
  media_id    bigint NOT NULL,
  author_id   bigint NOT NULL,
  body        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  deleted_at  timestamptz
);
CREATE INDEX comments_media_id_idx ON {schema}.comments (media_id, id);
