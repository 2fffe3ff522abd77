-- Identifiers compare byte by byte. They are opaque keys (ASCII by their CHECKs), compared in
-- nearly every index Patron writes per event (events, members, the ledger, the tier
-- metrics). Under the database's collation each comparison of two different ids goes through
-- the locale's strcoll, even in a "C.UTF-8" database on PostgreSQL 15, which treats only "C"
-- and "POSIX" as bytewise; under "C" it is a memcmp. Measured with perf over a bench run of
-- batches on a C.UTF-8 database, text comparison in indexes (bttextcmp and what it calls)
-- fell from 6.2 % to 4.0 % of PostgreSQL's CPU; a linguistic collation such as en_US.UTF-8
-- makes strcoll, and so the saving, larger. Every column that holds an identifier changes
-- together, so that a join of two of them keeps one collation and stays an index condition;
-- columns of free text (names, reasons, statuses, hashes) keep the database's collation.
-- Lists ordered by id are ordered by bytes. The tables are not rewritten (the type stays
-- text); their indexes on these columns are rebuilt.
ALTER TABLE programs ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE program_versions
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN draft_id TYPE text COLLATE "C";
ALTER TABLE program_drafts
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE program_publications
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN id TYPE text COLLATE "C",
  ALTER COLUMN draft_id TYPE text COLLATE "C";
ALTER TABLE program_changes
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN id TYPE text COLLATE "C",
  ALTER COLUMN draft_id TYPE text COLLATE "C",
  ALTER COLUMN publication_id TYPE text COLLATE "C";
ALTER TABLE clients
  ALTER COLUMN id TYPE text COLLATE "C",
  ALTER COLUMN program_id TYPE text COLLATE "C";
ALTER TABLE signing_keys ALTER COLUMN kid TYPE text COLLATE "C";
ALTER TABLE members
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN id TYPE text COLLATE "C",
  ALTER COLUMN tier_id TYPE text COLLATE "C",
  ALTER COLUMN segments TYPE text[] COLLATE "C";
ALTER TABLE events
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN id TYPE text COLLATE "C",
  ALTER COLUMN type TYPE text COLLATE "C",
  ALTER COLUMN member_id TYPE text COLLATE "C",
  ALTER COLUMN currency TYPE text COLLATE "C",
  ALTER COLUMN refund_of TYPE text COLLATE "C";
ALTER TABLE journal_entries
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN member_id TYPE text COLLATE "C",
  ALTER COLUMN event_id TYPE text COLLATE "C";
ALTER TABLE lots
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN member_id TYPE text COLLATE "C",
  ALTER COLUMN account TYPE text COLLATE "C";
ALTER TABLE postings
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN member_id TYPE text COLLATE "C";
ALTER TABLE member_metric_days
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN member_id TYPE text COLLATE "C",
  ALTER COLUMN metric TYPE text COLLATE "C";
ALTER TABLE rule_usage
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN member_id TYPE text COLLATE "C",
  ALTER COLUMN rule_id TYPE text COLLATE "C",
  ALTER COLUMN period TYPE text COLLATE "C";
ALTER TABLE tier_changes
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN member_id TYPE text COLLATE "C",
  ALTER COLUMN from_tier TYPE text COLLATE "C",
  ALTER COLUMN to_tier TYPE text COLLATE "C",
  ALTER COLUMN event_id TYPE text COLLATE "C";
ALTER TABLE campaign_usage
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN campaign_id TYPE text COLLATE "C",
  ALTER COLUMN period TYPE text COLLATE "C";
ALTER TABLE segment_members
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN segment_id TYPE text COLLATE "C",
  ALTER COLUMN member_id TYPE text COLLATE "C";
ALTER TABLE outbox
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN type TYPE text COLLATE "C",
  ALTER COLUMN member_id TYPE text COLLATE "C";
ALTER TABLE expiry_warnings
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN member_id TYPE text COLLATE "C";
ALTER TABLE idempotency_keys
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN key TYPE text COLLATE "C";
ALTER TABLE rewards
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE redemptions
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN id TYPE text COLLATE "C",
  ALTER COLUMN member_id TYPE text COLLATE "C",
  ALTER COLUMN reward_id TYPE text COLLATE "C";
ALTER TABLE vouchers
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN code TYPE text COLLATE "C",
  ALTER COLUMN redemption_id TYPE text COLLATE "C",
  ALTER COLUMN member_id TYPE text COLLATE "C",
  ALTER COLUMN reward_id TYPE text COLLATE "C";
ALTER TABLE simulations
  ALTER COLUMN program_id TYPE text COLLATE "C",
  ALTER COLUMN id TYPE text COLLATE "C",
  ALTER COLUMN draft_id TYPE text COLLATE "C";
