-- Spending points: the rewards catalogue, two-phase redemptions (a hold, then a confirm or a
-- cancel), single-use vouchers, the answers stored for Idempotency-Key requests, and the
-- transactional outbox of domain events.
--
-- A hold moves points from the member's `available` account to `held`, taking them from the
-- lots soonest-expiring first: its `available` postings name the lots, its `held` posting
-- names none. A confirm moves them from `held` to the program's `redeemed` account; a cancel
-- (or a hold that outlived its time to live) puts them back into the lots they came from.

ALTER TABLE journal_entries DROP CONSTRAINT journal_entries_kind_check;
ALTER TABLE journal_entries ADD CONSTRAINT journal_entries_kind_check
  CHECK (kind IN ('earn', 'refund', 'adjustment', 'redemption', 'expiry', 'release', 'void', 'hold', 'cancel'));

CREATE TABLE rewards (
  program_id text NOT NULL,
  id text NOT NULL CHECK (id ~ '^[A-Za-z0-9._-]{1,128}$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
  cost bigint NOT NULL CHECK (cost > 0),
  -- Units left to hold; null is unlimited. A hold takes a unit, a cancel or an expired hold
  -- gives it back, so held plus confirmed redemptions never exceed the stock.
  stock bigint CHECK (stock >= 0),
  -- At most this many held or confirmed redemptions of the reward per member; null: no limit.
  per_member_limit integer CHECK (per_member_limit > 0),
  -- Tier ids whose members may redeem it; null: every member.
  tiers text[],
  valid_from timestamptz,
  valid_until timestamptz,
  -- A confirmed redemption issues a single-use voucher valid this many days; null: none.
  voucher_validity_days integer CHECK (voucher_validity_days > 0),
  archived_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (program_id, id),
  CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until)
);

CREATE TABLE redemptions (
  program_id text NOT NULL,
  id text NOT NULL,
  member_id text NOT NULL,
  reward_id text,
  points bigint NOT NULL CHECK (points > 0),
  -- Pay with points: the money the points are worth at the program's rate.
  value_minor bigint CHECK (value_minor >= 0),
  currency text,
  status text NOT NULL CHECK (status IN ('held', 'confirmed', 'cancelled', 'expired')),
  hold_entry_id bigint NOT NULL,
  settle_entry_id bigint,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  settled_at timestamptz,
  PRIMARY KEY (program_id, id),
  CHECK ((status = 'held') = (settle_entry_id IS NULL AND settled_at IS NULL)),
  CHECK ((value_minor IS NULL) = (currency IS NULL))
);
-- The holds to release once their time to live is over.
CREATE INDEX redemptions_held_until ON redemptions (expires_at) WHERE status = 'held';
-- Per-member limits of a reward.
CREATE INDEX redemptions_member_reward ON redemptions (program_id, member_id, reward_id)
  WHERE reward_id IS NOT NULL AND status IN ('held', 'confirmed');

CREATE TABLE vouchers (
  program_id text NOT NULL,
  code text NOT NULL,
  redemption_id text NOT NULL,
  member_id text NOT NULL,
  reward_id text NOT NULL,
  issued_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  redeemed_at timestamptz,
  PRIMARY KEY (program_id, code),
  UNIQUE (program_id, redemption_id)
);

-- The stored answer of a POST sent with an Idempotency-Key (API.md): written in the
-- transaction of the change it answers, so a key is never recorded without its effect.
CREATE TABLE idempotency_keys (
  program_id text NOT NULL,
  key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  -- Method and route: the same key on another operation is a conflict, not a replay.
  operation text NOT NULL,
  request_hash text NOT NULL,
  status integer NOT NULL,
  response json NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (program_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Domain events (points.earned, tier.changed, redemption.held …), written in the same
-- statement or transaction as the change they describe, so that none is lost between a
-- commit and its delivery. Deliverers (webhooks, streams, notifications) read them in id order.
CREATE TABLE outbox (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  program_id text NOT NULL,
  type text NOT NULL CHECK (type ~ '^[a-z]+\.[a-z]+$'),
  member_id text,
  occurred_at timestamptz NOT NULL,
  data json NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER outbox_no_update BEFORE UPDATE ON outbox
  FOR EACH ROW EXECUTE FUNCTION patron_forbid_change();
