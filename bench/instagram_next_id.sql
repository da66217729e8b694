-- Instagram's next_id() as published ("Sharding & IDs at Instagram", 2012), with our
-- epoch and a shard in place of theirs: the bench's reference (bench/ids.py fills in
-- {schema}, {epoch}, {shard} and {seq}, its sequence as text).
CREATE FUNCTION {schema}.instagram_next_id(OUT result bigint) AS $$
DECLARE
    our_epoch bigint := {epoch};
    seq_id bigint;
    now_millis bigint;
    shard_id int := {shard};
BEGIN
    SELECT nextval({seq}) % 1024 INTO seq_id;

    SELECT FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) INTO now_millis;
    result := (now_millis - our_epoch) << 23;
    result := result | (shard_id << 10);
    result := result | (seq_id);
END;
$$ LANGUAGE PLPGSQL
