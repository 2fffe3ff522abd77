// Row types of Patron's tables as Kysely sees them. int8 columns are parsed to bigint on
// both drivers (see connect.ts), timestamps to Date, jsonb to plain values.
import type { ColumnType, Generated } from 'kysely';

type Defaulted<T> = ColumnType<T, T | undefined, T>;
type Json = unknown;

export interface ProgramsTable {
  id: string;
  created_at: Defaulted<Date>;
  current_version: Defaulted<number>;
}

export interface ProgramVersionsTable {
  program_id: string;
  version: number;
  document: ColumnType<Json, string, never>;
  created_at: Defaulted<Date>;
  created_by: string;
  reason: string | null;
  origin: Defaulted<ProgramVersionOrigin>;
  draft_id: string | null;
  rollback_of: number | null;
}

export type ProgramVersionOrigin = 'create' | 'put' | 'draft' | 'rollback' | 'schedule';
export type DraftStatus = 'open' | 'scheduled' | 'published' | 'discarded';
export type PublicationStatus = 'scheduled' | 'published' | 'cancelled';
export type ProgramChangeAction =
  | 'version.published'
  | 'draft.created'
  | 'draft.updated'
  | 'draft.discarded'
  | 'publication.scheduled'
  | 'publication.cancelled';

export interface ProgramDraftsTable {
  program_id: string;
  id: string;
  name: string;
  document: ColumnType<Json, string, string>;
  base_version: number;
  revision: Defaulted<number>;
  status: Defaulted<DraftStatus>;
  published_version: number | null;
  created_at: Defaulted<Date>;
  created_by: string;
  updated_at: Defaulted<Date>;
  updated_by: string;
}

export interface ProgramPublicationsTable {
  program_id: string;
  id: string;
  draft_id: string;
  document: ColumnType<Json, string, never>;
  effective_at: Date;
  reason: string;
  status: Defaulted<PublicationStatus>;
  version: number | null;
  settled_at: Date | null;
  created_at: Defaulted<Date>;
  created_by: string;
}

export interface ProgramChangesTable {
  program_id: string;
  id: string;
  at: Defaulted<Date>;
  actor: string;
  action: ProgramChangeAction;
  reason: string | null;
  version: number | null;
  draft_id: string | null;
  publication_id: string | null;
}

export interface MembersTable {
  program_id: string;
  id: string;
  created_at: Defaulted<Date>;
  updated_at: Defaulted<Date>;
  attributes: ColumnType<Record<string, unknown>, string | undefined, string>;
  available: Defaulted<bigint>;
  pending: Defaulted<bigint>;
  held: Defaulted<bigint>;
  tier_id: string | null;
  tier_since: Date | null;
  lifetime_spend: Defaulted<bigint>;
  lifetime_points: Defaulted<bigint>;
  event_count: Defaulted<bigint>;
  first_event_at: Date | null;
  last_event_at: Date | null;
  counters: ColumnType<Record<string, string | number>, string | undefined, string>;
  segments: Defaulted<string[]>;
}

export type SimulationStatus = 'queued' | 'running' | 'done' | 'cancelled' | 'failed';

export interface SimulationsTable {
  program_id: string;
  id: string;
  draft_id: string;
  document: ColumnType<Json, string, never>;
  base_version: number;
  window_from: Date;
  window_to: Date;
  status: Defaulted<SimulationStatus>;
  cancel_requested: Defaulted<boolean>;
  events_total: bigint | null;
  events_done: Defaulted<bigint>;
  result: ColumnType<Json | null, string | null, string | null>;
  error: string | null;
  created_at: Defaulted<Date>;
  created_by: string;
  started_at: Date | null;
  finished_at: Date | null;
}

export interface SegmentMembersTable {
  program_id: string;
  segment_id: string;
  member_id: string;
  added_at: Defaulted<Date>;
}

export interface EventsTable {
  program_id: string;
  id: string;
  type: string;
  member_id: string;
  occurred_at: Date;
  received_at: Date;
  body_hash: string;
  body: ColumnType<Json, string, never>;
  amount_minor: bigint | null;
  currency: string | null;
  refund_of: string | null;
  points: bigint;
  program_version: number;
  response: ColumnType<Json, string, never>;
  trace: ColumnType<Json, string, never>;
}

export interface JournalEntriesTable {
  id: Defaulted<bigint>;
  program_id: string;
  member_id: string;
  kind: string;
  event_id: string | null;
  corrects_entry_id: bigint | null;
  program_version: number | null;
  effective_at: Date;
  created_at: Defaulted<Date>;
}

export interface LotsTable {
  id: Defaulted<bigint>;
  program_id: string;
  member_id: string;
  account: 'available' | 'pending';
  entry_id: bigint;
  earned_at: Date;
  expires_at: Date | null;
  amount: bigint;
  remaining: bigint;
  pending_until: Defaulted<Date | null>;
}

export interface PostingsTable {
  id: Generated<bigint>;
  entry_id: bigint;
  program_id: string;
  member_id: string | null;
  account: string;
  amount: bigint;
  lot_id: bigint | null;
}

export interface MemberMetricDaysTable {
  program_id: string;
  member_id: string;
  metric: string;
  day: string;
  value: bigint;
}

export interface RuleUsageTable {
  program_id: string;
  member_id: string;
  rule_id: string;
  period: string;
  points: bigint;
}

export interface CampaignUsageTable {
  program_id: string;
  campaign_id: string;
  period: string;
  points: bigint;
}

export interface TierChangesTable {
  id: Generated<bigint>;
  program_id: string;
  member_id: string;
  from_tier: string | null;
  to_tier: string;
  reason: 'event' | 'refund' | 'reevaluation' | 'override';
  event_id: string | null;
  metric_value: bigint;
  program_version: number;
  changed_at: Date;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  private_jwk: ColumnType<Json, string, never>;
  public_jwk: ColumnType<Json, string, never>;
  created_at: Defaulted<Date>;
  retired_at: Date | null;
}

export interface ClientsTable {
  id: string;
  program_id: string;
  secret_hash: string;
  scopes: string[];
  created_at: Defaulted<Date>;
  revoked_at: Date | null;
}

export interface RewardsTable {
  program_id: string;
  id: string;
  name: string;
  description: Defaulted<string>;
  cost: bigint;
  stock: bigint | null;
  per_member_limit: number | null;
  tiers: string[] | null;
  valid_from: Date | null;
  valid_until: Date | null;
  voucher_validity_days: number | null;
  archived_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface RedemptionsTable {
  program_id: string;
  id: string;
  member_id: string;
  reward_id: string | null;
  points: bigint;
  value_minor: bigint | null;
  currency: string | null;
  status: 'held' | 'confirmed' | 'cancelled' | 'expired';
  hold_entry_id: bigint;
  settle_entry_id: bigint | null;
  created_at: Date;
  expires_at: Date;
  settled_at: Date | null;
}

export interface VouchersTable {
  program_id: string;
  code: string;
  redemption_id: string;
  member_id: string;
  reward_id: string;
  issued_at: Date;
  expires_at: Date;
  redeemed_at: Date | null;
}

export interface IdempotencyKeysTable {
  program_id: string;
  key: string;
  operation: string;
  request_hash: string;
  status: number;
  response: ColumnType<Json, string, never>;
  created_at: Date;
}

export interface OutboxTable {
  id: Generated<bigint>;
  program_id: string;
  type: string;
  member_id: string | null;
  occurred_at: Date;
  data: ColumnType<Json, string, never>;
  created_at: Defaulted<Date>;
}

export interface Database {
  programs: ProgramsTable;
  program_versions: ProgramVersionsTable;
  program_drafts: ProgramDraftsTable;
  program_publications: ProgramPublicationsTable;
  program_changes: ProgramChangesTable;
  members: MembersTable;
  events: EventsTable;
  journal_entries: JournalEntriesTable;
  lots: LotsTable;
  postings: PostingsTable;
  member_metric_days: MemberMetricDaysTable;
  rule_usage: RuleUsageTable;
  campaign_usage: CampaignUsageTable;
  segment_members: SegmentMembersTable;
  simulations: SimulationsTable;
  tier_changes: TierChangesTable;
  signing_keys: SigningKeysTable;
  clients: ClientsTable;
  rewards: RewardsTable;
  redemptions: RedemptionsTable;
  vouchers: VouchersTable;
  idempotency_keys: IdempotencyKeysTable;
  outbox: OutboxTable;
}
