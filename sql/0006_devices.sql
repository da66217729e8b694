-- Push notifications: a user's devices (each an SNS platform endpoint) and the kinds of
-- notification they muted; on the user's shard.
CREATE TABLE {schema}.devices (
  id            bigint PRIMARY KEY DEFAULT {schema}.next_id(),
  user_id       bigint NOT NULL,
  platform      text NOT NULL CHECK (platform IN ('apns', 'fcm')),
  token         text NOT NULL,
  endpoint_arn  text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, token)
);

-- Absent row: nothing muted.
CREATE TABLE {schema}.notification_preferences (
  user_id     bigint PRIMARY KEY,
  muted       text[] NOT NULL DEFAULT ARRAY[]::text[],
  updated_at  timestamptz NOT NULL DEFAULT now()
);
