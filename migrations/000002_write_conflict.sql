-- Fails the statement that calls it, as a serialization failure (40001). An event write that
-- runs without locks (src/events/process.ts, 'check') calls it when a member row it read has
-- changed since, so that nothing of the statement is written and the batch runs again with
-- its member rows locked.
CREATE FUNCTION patron_write_conflict(detail text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'patron: write conflict: %', detail USING ERRCODE = '40001';
END
$$;
