-- IDs of one logical shard: 41 bits of milliseconds since 2026-01-01, 13 bits of shard,
-- 10 bits of sequence (see chalicelib/shards/ids.py). The migration runner fills in the
-- schema, the shard number and the names of the shard's two sequences.
--
-- Instagram's next_id() took the sequence modulo 1024 and the clock, so IDs repeated
-- whenever a shard was asked for more than 1024 in one millisecond. Here the sequence
-- is cut into blocks of 1024 values, and each block gets milliseconds of its own. The
-- first value of a block closes the block before, then opens its own at a millisecond
-- later than any the block before can use (recorded in the gate); every other value
-- takes the clock, read while its block was open, but no less than that millisecond.
-- Blocks never share a millisecond, so (millisecond, sequence % 1024) never repeats,
-- whatever the number of sessions. A block opens at most a millisecond ahead of the
-- clock (its opener waits rather than run further ahead), so IDs keep to the clock
-- within a millisecond. A value that finds its block closed already is drawn again; a
-- block whose opener died (a cancelled statement) is skipped after a second, once.
-- (setval cannot compare-and-set: only an opener stalled for over a second between its
-- last look at the gate and its write, together with a value of the block before
-- stalled as long, could still make a repeat.)
--
-- The gate is a sequence used as a register (setval/last value, never rolled back):
-- block number (22 bits) << 41 | milliseconds since the epoch it opened at (0 while
-- it is being opened).

CREATE SEQUENCE {schema}.id_seq AS bigint;
CREATE SEQUENCE {schema}.id_gate AS bigint MINVALUE 0 START 0;

CREATE FUNCTION {schema}.clock_ms() RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL SAFE AS $fn$
  SELECT floor(date_part('epoch', clock_timestamp()) * 1000)::bigint
$fn$;

-- Opens `block` and returns the millisecond it opened at, or NULL if a later block
-- opened first (the caller then draws again).
CREATE FUNCTION {schema}.open_id_block(block bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  waiting_since bigint := {schema}.clock_ms();
  gate bigint;
  behind bigint;
  last_opened bigint;
  closed_at bigint;
BEGIN
  LOOP  -- blocks open in order; an opener that died is not waited for beyond a second
    gate := coalesce(pg_sequence_last_value({gate_seq}::regclass), 1);
    behind := (block - (gate >> 41)) & 4194303;
    IF behind = 0 OR behind > 2097152 THEN
      RETURN NULL;  -- this block or a later one is open or opening already
    END IF;
    EXIT WHEN behind = 1 AND (gate & 2199023255551) > 0;
    EXIT WHEN {schema}.clock_ms() - waiting_since > 1000;
  END LOOP;
  IF gate & 2199023255551 > 0 THEN
    last_opened := (gate & 2199023255551) + 1767225600000;
  ELSE  -- its opener died while opening: it may have opened at up to now + 1
    last_opened := {schema}.clock_ms() + 1;
  END IF;
  PERFORM setval({gate_seq}::regclass, block << 41);  -- close the block before
  closed_at := {schema}.clock_ms();
  WHILE closed_at < last_opened LOOP  -- keep within a millisecond of the clock
    closed_at := {schema}.clock_ms();
  END LOOP;
  -- Do not move the gate back: if a later block's opener took over meanwhile (this one
  -- stalled past a second), give way to it.
  IF coalesce(pg_sequence_last_value({gate_seq}::regclass), 1) >> 41 <> block THEN
    RETURN NULL;
  END IF;
  -- Later than any millisecond the block before used: its values read the clock
  -- before the close, and took no less than its opening millisecond.
  PERFORM setval({gate_seq}::regclass, (block << 41) | (closed_at + 1 - 1767225600000));
  RETURN closed_at + 1;
END
$fn$;

-- The default of every ID column.
CREATE FUNCTION {schema}.next_id() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  seq bigint := nextval({id_seq}::regclass);
  now_ms bigint;
  gate bigint;
  waiting_since bigint;
  dead_block bigint;
BEGIN
  LOOP
    IF seq >> 10 = dead_block THEN  -- skip the rest of a block whose opener died
      seq := nextval({id_seq}::regclass);
      CONTINUE;
    END IF;
    IF seq & 1023 = 0 THEN
      now_ms := {schema}.open_id_block((seq >> 10) & 4194303);
      IF now_ms IS NOT NULL THEN
        RETURN ((now_ms - 1767225600000) << 23) | ({shard}::bigint << 10);
      END IF;
      seq := nextval({id_seq}::regclass);  -- a later block opened first
      CONTINUE;
    END IF;
    now_ms := {schema}.clock_ms() - 1767225600000;  -- read before the gate: see the header
    gate := coalesce(pg_sequence_last_value({gate_seq}::regclass), 1);
    IF gate >> 41 = (seq >> 10) & 4194303 AND gate & 2199023255551 > 0 THEN
      -- our block is open
      RETURN (GREATEST(now_ms, gate & 2199023255551) << 23) | ({shard}::bigint << 10)
             | (seq & 1023);
    END IF;
    waiting_since := coalesce(waiting_since, now_ms);
    IF (((seq >> 10) - (gate >> 41)) & 4194303) > 2097152 THEN
      seq := nextval({id_seq}::regclass);  -- the gate moved past our block: draw again
      waiting_since := NULL;
    ELSIF now_ms - waiting_since > 1000 THEN
      dead_block := seq >> 10;  -- its opener is gone
      waiting_since := NULL;
    END IF;  -- else our block is about to open: look again
  END LOOP;
END
$fn$;

-- Raised by a shard that is being moved: see chalicelib/shards/moves.py.
CREATE FUNCTION {schema}.refuse_writes() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'logical shard % is moving: read-only for a moment', {shard}
    USING ERRCODE = 'read_only_sql_transaction';
END
$fn$;

-- A shard move (read-only by then) reads where IDs stand on the old home: the sequence,
-- the gate, and the latest millisecond an ID there can carry...
CREATE FUNCTION {schema}.id_state(OUT last_seq bigint, OUT gate bigint, OUT last_ms bigint)
LANGUAGE sql VOLATILE AS $fn$
  SELECT (SELECT last_value FROM {schema}.id_seq),
         coalesce(pg_sequence_last_value({gate_seq}::regclass), 1),
         GREATEST({schema}.clock_ms(),
                  (coalesce(pg_sequence_last_value({gate_seq}::regclass), 1) & 2199023255551)
                  + 1767225600000)
$fn$;

-- ...and the new home continues after them: the same sequence and gate, once its own
-- clock is past the old home's last millisecond (servers' clocks differ a little).
CREATE FUNCTION {schema}.continue_ids(last_seq bigint, gate bigint, last_ms bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
  IF {schema}.clock_ms() < last_ms - 1000 THEN
    RAISE EXCEPTION 'the clock of the new home is more than a second behind the old';
  END IF;
  WHILE {schema}.clock_ms() <= last_ms LOOP
  END LOOP;
  PERFORM setval({id_seq}::regclass, last_seq);
  PERFORM setval({gate_seq}::regclass, gate);
END
$fn$;
