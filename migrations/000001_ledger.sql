-- Patron's core schema: programs and their immutable versions, members with their O(1)
-- balance row, the event log (which doubles as the idempotency record), and the
-- append-only double-entry ledger (journal entries, postings, lots).
--
-- Sign convention (as in Formance): every journal entry's postings sum to zero. Crediting a
-- member posts +N to the member's `available` account and -N to the program's `issued`
-- account, so a program account's balance is the negative of what it has given out.
-- Program accounts have no balance row: their balance is the sum of their postings, so no
-- single program-wide row is written per event.

CREATE FUNCTION patron_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'patron: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'P0001';
END
$$;

CREATE FUNCTION patron_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  unbalanced bigint;
BEGIN
  -- All postings of one journal entry are inserted by one statement, so checking the
  -- statement's transition table proves each entry sums to zero.
  SELECT entry_id INTO unbalanced FROM new_postings GROUP BY entry_id HAVING sum(amount) <> 0 LIMIT 1;
  IF unbalanced IS NOT NULL THEN
    RAISE EXCEPTION 'patron: journal entry % does not sum to zero', unbalanced USING ERRCODE = 'P0002';
  END IF;
  RETURN NULL;
END
$$;

CREATE TABLE programs (
  id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._-]{1,64}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  current_version integer NOT NULL DEFAULT 0 CHECK (current_version >= 0)
);

CREATE TABLE program_versions (
  program_id text NOT NULL REFERENCES programs (id),
  version integer NOT NULL CHECK (version > 0),
  document jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  PRIMARY KEY (program_id, version)
);

-- The ledger tables (events, journal_entries, lots, postings) carry no foreign keys. Each
-- reference is written by one function (src/ledger, src/events) in the same statement batch
-- as its target, and `patron verify` re-checks every one of them. Foreign keys were measured
-- on this hot path: their per-row checks cost about as much as the inserts they guard (a
-- batch of 500 events took 2-3× as long), and a key to the program's version row would lock
-- that one hot row from every concurrent transaction. What the database itself enforces is
-- what a bug could otherwise corrupt silently: balanced entries, append-only history,
-- non-negative lots and holds, unique ids.
CREATE TABLE members (
  program_id text NOT NULL,
  id text NOT NULL CHECK (id ~ '^[A-Za-z0-9._-]{1,128}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- The balance row: maintained in the same transaction as every posting to the member's
  -- accounts, and re-checked against the postings by `patron verify`. `available` may go
  -- negative only where the program's negative-balance policy allows it.
  available bigint NOT NULL DEFAULT 0,
  pending bigint NOT NULL DEFAULT 0 CHECK (pending >= 0),
  held bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
  tier_id text,
  tier_since timestamptz,
  PRIMARY KEY (program_id, id)
);

CREATE TABLE events (
  program_id text NOT NULL,
  id text NOT NULL CHECK (id ~ '^[A-Za-z0-9._-]{1,128}$'),
  type text NOT NULL,
  member_id text NOT NULL,
  occurred_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL,
  -- sha256 of the canonical body (sorted keys, values as sent): a replay with the same
  -- hash gets the stored response, a different hash is a conflict.
  body_hash text NOT NULL,
  -- json, not jsonb: written and read back whole, so jsonb's conversion would be pure cost.
  body json NOT NULL,
  amount_minor bigint CHECK (amount_minor >= 0),
  currency text,
  refund_of text,
  points bigint NOT NULL,
  program_version integer NOT NULL,
  response json NOT NULL,
  trace json NOT NULL,
  PRIMARY KEY (program_id, id),
  CHECK ((amount_minor IS NULL) = (currency IS NULL))
);
CREATE INDEX events_refunds ON events (program_id, refund_of) WHERE refund_of IS NOT NULL;

CREATE SEQUENCE journal_entry_ids;
CREATE SEQUENCE lot_ids;

CREATE TABLE journal_entries (
  id bigint PRIMARY KEY DEFAULT nextval('journal_entry_ids'),
  program_id text NOT NULL,
  member_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('earn', 'refund', 'adjustment', 'redemption', 'expiry', 'release', 'void')),
  event_id text,
  -- A correction (refund, reversal) names the entry it corrects.
  corrects_entry_id bigint,
  program_version integer,
  effective_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journal_entries_event ON journal_entries (program_id, event_id);
CREATE INDEX journal_entries_corrects ON journal_entries (corrects_entry_id) WHERE corrects_entry_id IS NOT NULL;

-- Points live in lots; spending and expiry consume them soonest-expiring first (oldest
-- first among equal expiries), which is exactly the order of lots_consumption. A lot's
-- `remaining` is derived state: it equals the sum of the postings that name the lot.
CREATE TABLE lots (
  id bigint PRIMARY KEY DEFAULT nextval('lot_ids'),
  program_id text NOT NULL,
  member_id text NOT NULL,
  account text NOT NULL CHECK (account IN ('available', 'pending')),
  entry_id bigint NOT NULL,
  earned_at timestamptz NOT NULL,
  expires_at timestamptz,
  amount bigint NOT NULL CHECK (amount > 0),
  remaining bigint NOT NULL CHECK (remaining >= 0 AND remaining <= amount)
);
CREATE INDEX lots_consumption ON lots (program_id, member_id, account, expires_at ASC NULLS LAST, earned_at, id)
  WHERE remaining > 0;

CREATE TABLE postings (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  entry_id bigint NOT NULL,
  program_id text NOT NULL,
  -- Set for member accounts (available, pending, held), null for program accounts.
  member_id text,
  account text NOT NULL CHECK (account IN ('available', 'pending', 'held', 'issued', 'redeemed', 'expired', 'adjustments')),
  amount bigint NOT NULL CHECK (amount <> 0),
  lot_id bigint,
  CHECK ((account IN ('available', 'pending', 'held')) = (member_id IS NOT NULL)),
  CHECK (lot_id IS NULL OR member_id IS NOT NULL)
);
CREATE INDEX postings_member ON postings (program_id, member_id, id) WHERE member_id IS NOT NULL;
CREATE INDEX postings_entry ON postings (entry_id);
CREATE INDEX postings_lot ON postings (lot_id) WHERE lot_id IS NOT NULL;

-- Qualifying metrics per member and local day (the program's time zone): a tier window
-- (calendar year, rolling N days, lifetime) is a sum over a range of days.
CREATE TABLE member_metric_days (
  program_id text NOT NULL,
  member_id text NOT NULL,
  metric text NOT NULL,
  day date NOT NULL,
  value bigint NOT NULL,
  PRIMARY KEY (program_id, member_id, metric, day)
);

-- Points a rule has given a member in a cap period (day, week, month, year).
CREATE TABLE rule_usage (
  program_id text NOT NULL,
  member_id text NOT NULL,
  rule_id text NOT NULL,
  period text NOT NULL,
  points bigint NOT NULL CHECK (points >= 0),
  PRIMARY KEY (program_id, member_id, rule_id, period)
);

CREATE TABLE tier_changes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  program_id text NOT NULL,
  member_id text NOT NULL,
  from_tier text,
  to_tier text NOT NULL,
  reason text NOT NULL CHECK (reason IN ('event', 'refund', 'reevaluation', 'override')),
  event_id text,
  metric_value bigint NOT NULL,
  program_version integer NOT NULL,
  changed_at timestamptz NOT NULL
);
CREATE INDEX tier_changes_member ON tier_changes (program_id, member_id, id);

CREATE TABLE signing_keys (
  kid text PRIMARY KEY,
  alg text NOT NULL,
  private_jwk jsonb NOT NULL,
  public_jwk jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz
);

CREATE TABLE clients (
  id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._-]{1,128}$'),
  program_id text NOT NULL REFERENCES programs (id),
  secret_hash text NOT NULL,
  scopes text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);

CREATE TRIGGER program_versions_append_only BEFORE UPDATE OR DELETE ON program_versions
  FOR EACH ROW EXECUTE FUNCTION patron_forbid_change();
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION patron_forbid_change();
CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
  FOR EACH ROW EXECUTE FUNCTION patron_forbid_change();
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
  FOR EACH ROW EXECUTE FUNCTION patron_forbid_change();
CREATE TRIGGER tier_changes_append_only BEFORE UPDATE OR DELETE ON tier_changes
  FOR EACH ROW EXECUTE FUNCTION patron_forbid_change();
CREATE TRIGGER program_versions_no_truncate BEFORE TRUNCATE ON program_versions
  FOR EACH STATEMENT EXECUTE FUNCTION patron_forbid_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION patron_forbid_change();
CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries
  FOR EACH STATEMENT EXECUTE FUNCTION patron_forbid_change();
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
  FOR EACH STATEMENT EXECUTE FUNCTION patron_forbid_change();
CREATE TRIGGER tier_changes_no_truncate BEFORE TRUNCATE ON tier_changes
  FOR EACH STATEMENT EXECUTE FUNCTION patron_forbid_change();
CREATE TRIGGER postings_balanced AFTER INSERT ON postings
  REFERENCING NEW TABLE AS new_postings
  FOR EACH STATEMENT EXECUTE FUNCTION patron_check_balanced();
