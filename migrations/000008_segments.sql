-- Computed member metrics and segments. The lifetime figures live on the member's row, so an
-- event updates them in the same UPDATE that writes the balance: no row more per event.
-- `segments` holds the rule segments the member was in after its last event; static
-- segments are lists imported by id into segment_members.
ALTER TABLE members ADD COLUMN lifetime_spend bigint NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN lifetime_points bigint NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN event_count bigint NOT NULL DEFAULT 0 CHECK (event_count >= 0);
ALTER TABLE members ADD COLUMN first_event_at timestamptz;
ALTER TABLE members ADD COLUMN last_event_at timestamptz;
ALTER TABLE members ADD COLUMN counters jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE members ADD COLUMN segments text[] NOT NULL DEFAULT '{}';
-- GET /v1/segments/{id}/members of a rule segment.
CREATE INDEX members_segments ON members USING gin (segments);

CREATE TABLE segment_members (
  program_id text NOT NULL,
  segment_id text NOT NULL,
  member_id text NOT NULL CHECK (member_id ~ '^[A-Za-z0-9._-]{1,128}$'),
  added_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (program_id, segment_id, member_id)
);
-- A member's static segments, read with each of its events.
CREATE INDEX segment_members_member ON segment_members (program_id, member_id);
