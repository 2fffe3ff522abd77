-- The same identifier checks, written so that PostgreSQL's regular-expression engine does not
-- expand a counted repetition: `{1,128}` made it build 128 copies of the character class, and
-- the check cost about 6 µs per row (measured: 300,000 ids in 1.8 s against 0.13 s for this
-- form). Every event insert and every member update runs one; the length bound moves to
-- length(), which counts characters, and every allowed character is one byte.
ALTER TABLE programs DROP CONSTRAINT programs_id_check,
  ADD CONSTRAINT programs_id_check CHECK (id ~ '^[A-Za-z0-9._-]+$' AND length(id) <= 64);
ALTER TABLE members DROP CONSTRAINT members_id_check,
  ADD CONSTRAINT members_id_check CHECK (id ~ '^[A-Za-z0-9._-]+$' AND length(id) <= 128);
ALTER TABLE events DROP CONSTRAINT events_id_check,
  ADD CONSTRAINT events_id_check CHECK (id ~ '^[A-Za-z0-9._-]+$' AND length(id) <= 128);
ALTER TABLE rewards DROP CONSTRAINT rewards_id_check,
  ADD CONSTRAINT rewards_id_check CHECK (id ~ '^[A-Za-z0-9._-]+$' AND length(id) <= 128);
ALTER TABLE clients DROP CONSTRAINT clients_id_check,
  ADD CONSTRAINT clients_id_check CHECK (id ~ '^[A-Za-z0-9._-]+$' AND length(id) <= 128);
ALTER TABLE segment_members DROP CONSTRAINT segment_members_member_id_check,
  ADD CONSTRAINT segment_members_member_id_check CHECK (member_id ~ '^[A-Za-z0-9._-]+$' AND length(member_id) <= 128);
