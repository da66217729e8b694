-- IDs of one logical shard: 41 bits of milliseconds since 2026-01-01, 13 bits of shard,
-- 10 bits of sequence (see chalicelib/shards/ids.py). Placeholders: {schema} (the
-- schema), {shard} (its number), {id_seq} and {block_seq} (its sequences, as text).
--
-- Instagram's next_id() took the sequence modulo 1024 and the clock: past 1024 IDs in
-- one millisecond on one shard, IDs repeat. Here each block of 1024 sequence values
-- starts in a millisecond later than every millisecond the block before used (recorded
-- in {block_seq}), so (millisecond, sequence % 1024) never repeats: under a burst the
-- clock part runs at most a millisecond ahead instead of colliding. next_id() is one
-- SQL expression that PostgreSQL inlines into the INSERT; only the first ID of a block
-- calls PL/pgSQL. (Concurrent sessions share the guarantee as long as one shard is not
-- asked for more than 1024 IDs within the few microseconds a block start takes.)

CREATE SEQUENCE {schema}.id_seq AS bigint;
CREATE SEQUENCE {schema}.id_block_ms AS bigint MINVALUE 0 START 0;

CREATE FUNCTION {schema}.clock_ms() RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL SAFE AS $fn$
  SELECT floor(date_part('epoch', clock_timestamp()) * 1000)::bigint
$fn$;

-- Called by the first ID of each block of 1024: the block's first millisecond.
CREATE FUNCTION {schema}.start_id_block() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  start_ms bigint := GREATEST({schema}.clock_ms(),
                              coalesce(pg_sequence_last_value({block_seq}::regclass), 0)) + 1;
BEGIN
  PERFORM setval({block_seq}::regclass, start_ms);
  RETURN start_ms;
END
$fn$;

-- The millisecond of the ID whose sequence value is seq.
CREATE FUNCTION {schema}.id_ms(seq bigint) RETURNS bigint
LANGUAGE sql VOLATILE AS $fn$
  SELECT GREATEST({schema}.clock_ms(),
                  CASE WHEN seq % 1024 = 0 THEN {schema}.start_id_block()
                       ELSE pg_sequence_last_value({block_seq}::regclass) END)
$fn$;

-- Column default of every ID. nextval() is called once, inside id_ms(); the low bits
-- read the same value back with currval() (the operands of | are evaluated in order).
CREATE FUNCTION {schema}.next_id() RETURNS bigint
LANGUAGE sql VOLATILE AS $fn$
  SELECT (({schema}.id_ms(nextval({id_seq}::regclass)) - 1767225600000) << 23)
         | ({shard}::bigint << 10)
         | (currval({id_seq}::regclass) % 1024)
$fn$;

-- Raised by a shard that is being moved: see chalicelib/shards/moves.py.
CREATE FUNCTION {schema}.refuse_writes() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'logical shard % is moving: read-only for a moment', {shard}
    USING ERRCODE = 'read_only_sql_transaction';
END
$fn$;

-- A shard move (chalicelib/shards/moves.py) reads where IDs stand on the old home...
CREATE FUNCTION {schema}.id_state(OUT last_seq bigint, OUT last_ms bigint)
LANGUAGE sql VOLATILE AS $fn$
  SELECT (SELECT last_value FROM {schema}.id_seq),
         GREATEST({schema}.clock_ms(),
                  coalesce(pg_sequence_last_value({block_seq}::regclass), 0))
$fn$;

-- ...and makes the new home continue after them, even if the servers' clocks differ.
CREATE FUNCTION {schema}.continue_ids(last_seq bigint, last_ms bigint) RETURNS void
LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
  PERFORM setval({id_seq}::regclass, last_seq);
  PERFORM setval({block_seq}::regclass, last_ms + 1);
END
$fn$;
