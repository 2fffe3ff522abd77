-- Expiry of points (C7): the lots due to expire, found without scanning the rest, and the
-- warnings already sent, so that a warning goes out once per lot and expiry instant however
-- often (or concurrently) the warning pass runs.

-- The expiry pass and the warning pass walk the lots that have points left and an expiry of
-- their own, soonest first (keyset on expires_at, id).
CREATE INDEX lots_expiring ON lots (program_id, expires_at, id)
  WHERE remaining > 0 AND account = 'available' AND expires_at IS NOT NULL;

-- One row per lot and the expiry instant it was warned about. Under the inactivity policy
-- the instant is the member's deadline, which moves when the member earns again: a later
-- deadline is a new warning.
CREATE TABLE expiry_warnings (
  program_id text NOT NULL,
  lot_id bigint NOT NULL,
  expires_at timestamptz NOT NULL,
  member_id text NOT NULL,
  points bigint NOT NULL CHECK (points > 0),
  warned_at timestamptz NOT NULL,
  PRIMARY KEY (program_id, lot_id, expires_at)
);
