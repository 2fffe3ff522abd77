// The write half of a round (see process.ts): one statement for everything.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { columns, type ColumnSpec } from '../db/columns.ts';
import type { Database } from '../db/schema.ts';
import { ledgerWriteCtes, type LedgerRows } from '../ledger/index.ts';
import { invalidationPayloads, INVALIDATION_CHANNEL } from '../members/cache.ts';
import type { MetricDelta, TierChange } from '../tiers/index.ts';
import type { EventResponse, MemberState, StoredAnswer } from './process.ts';
import type { ValidEvent } from './validate.ts';

type StoredEvent = { item: ValidEvent; points: bigint; response: EventResponse; trace: unknown };

// The column lists are constants: db/columns.ts keeps each one's statement text by its object.
const EVENT_COLUMNS: ColumnSpec<StoredEvent> = {
  id: ['text', (x) => x.item.id],
  type: ['text', (x) => x.item.type],
  member_id: ['text', (x) => x.item.memberId],
  occurred_at: ['timestamptz', (x) => x.item.occurredAt],
  body_hash: ['text', (x) => x.item.bodyHash],
  body: ['json text', (x) => x.item.bodyText],
  amount_minor: ['bigint', (x) => x.item.amountMinor],
  currency: ['text', (x) => x.item.amount?.currency],
  refund_of: ['text', (x) => x.item.refundOf],
  points: ['bigint', (x) => x.points],
  // The rest of the answer is the row's own columns (see StoredAnswer in process.ts).
  response: ['json', (x): StoredAnswer => ({ balance: x.response.balance, tier: x.response.tier })],
  trace: ['json', (x) => x.trace],
};

const MEMBER_COLUMNS: ColumnSpec<MemberState> = {
  id: ['text', (m) => m.id],
  insert: ['boolean', (m) => m.insert],
  xmin: ['xid', (m) => m.xmin],
  ctid: ['tid', (m) => m.ctid],
  available: ['bigint', (m) => m.available],
  pending: ['bigint', (m) => m.pending],
  held: ['bigint', (m) => m.held],
  tier_id: ['text', (m) => m.tierId],
  tier_since: ['timestamptz', (m) => m.tierSince],
  lifetime_spend: ['bigint', (m) => m.stats.spendMinor],
  lifetime_points: ['bigint', (m) => m.stats.points],
  event_count: ['bigint', (m) => m.stats.events],
  first_event_at: ['timestamptz', (m) => m.stats.firstEventAt],
  last_event_at: ['timestamptz', (m) => m.stats.lastEventAt],
  counters: ['jsonb', (m) => countersJson(m.stats.counters)],
  segments: ['text[]', (m) => m.segments],
};

const METRIC_COLUMNS: ColumnSpec<MetricDelta> = {
  member_id: ['text', (d) => d.memberId],
  metric: ['text', (d) => d.metric],
  day: ['date', (d) => d.day],
  value: ['bigint', (d) => d.value],
};

const USAGE_COLUMNS: ColumnSpec<{ key: [string, string, string]; points: bigint }> = {
  member_id: ['text', (u) => u.key[0]],
  rule_id: ['text', (u) => u.key[1]],
  period: ['text', (u) => u.key[2]],
  points: ['bigint', (u) => u.points],
};

const CAMPAIGN_COLUMNS: ColumnSpec<CampaignIncrement> = {
  campaign_id: ['text', (c) => c.campaignId],
  period: ['text', (c) => c.period],
  points: ['bigint', (c) => c.points],
  xmin: ['xid', (c) => c.xmin],
  ctid: ['tid', (c) => c.ctid],
};

const TIER_CHANGE_COLUMNS: ColumnSpec<TierChange> = {
  member_id: ['text', (c) => c.memberId],
  from_tier: ['text', (c) => c.fromTier],
  to_tier: ['text', (c) => c.toTier],
  reason: ['text', (c) => c.reason],
  event_id: ['text', (c) => c.eventId],
  metric_value: ['bigint', (c) => c.metricValue],
  program_version: ['int', (c) => c.programVersion],
  changed_at: ['timestamptz', (c) => c.changedAt],
};

/** An increment of a campaign counter, with the row version read and where it was (null: no row then). */
interface CampaignIncrement {
  campaignId: string;
  period: string;
  points: bigint;
  xmin: string | null;
  ctid: string | null;
}

/**
 * Everything a round writes, in one statement (one round trip, whatever the batch size):
 * the events with their answers and traces, the ledger (entries, lots, postings, lot
 * debits), the members' balance rows, tier metrics, cap usage, tier history, and the
 * notifications that make other processes evict these members' cached views at commit, and
 * the domain events of it all (points.earned, points.reversed, tier.changed) in the outbox.
 * Rows travel as one delimited text per column (see db/columns.ts).
 */
export async function writeRound(
  trx: Kysely<Database>,
  round: {
    programId: string;
    /** The writing process's mark on its invalidations (see MemberViewCache.origin). */
    origin: string;
    version: number;
    now: Date;
    stored: StoredEvent[];
    ledger: LedgerRows;
    members: MemberState[];
    metrics: MetricDelta[];
    usage: Map<string, bigint>;
    campaigns: CampaignIncrement[];
    tierChanges: TierChange[];
  },
): Promise<void> {
  const { programId, now } = round;
  const at = now.toISOString();
  const updated = round.members.filter((m) => !m.insert).length;
  const inserted = round.members.length - updated;
  const campaignRows = round.campaigns.filter((c) => c.ctid !== null).length;
  const notifications = invalidationPayloads(
    programId,
    round.members.map((m) => m.id),
    round.origin,
  );
  // Each table a statement writes is set up on every execution (its indexes opened, its
  // checks prepared), rows or not: a part with no rows is left out. At 500 single events per
  // second, most rounds are of one event, with no new member, tier change, cap or campaign.
  const ctes: RawBuilder<unknown>[] = [
    sql`written_events AS (
      INSERT INTO events (program_id, id, type, member_id, occurred_at, received_at, body_hash, body, amount_minor,
        currency, refund_of, points, program_version, response, trace)
      SELECT ${programId}, id, type, member_id, occurred_at, ${at}::timestamptz, body_hash, body, amount_minor, currency,
        refund_of, points, ${round.version}, response, trace
      FROM ${columns('t', round.stored, EVENT_COLUMNS)}
      RETURNING id, member_id, points, occurred_at, response)`,
    ledgerWriteCtes(programId, round.ledger),
    sql`member_rows AS (
      SELECT * FROM ${columns('c', round.members, MEMBER_COLUMNS)})`,
    sql`written_members AS (
      UPDATE members SET available = c.available, pending = c.pending, held = c.held, tier_id = c.tier_id,
        tier_since = c.tier_since, updated_at = ${at}::timestamptz, lifetime_spend = c.lifetime_spend,
        lifetime_points = c.lifetime_points, event_count = c.event_count, first_event_at = c.first_event_at,
        last_event_at = c.last_event_at, counters = c.counters, segments = c.segments
      FROM member_rows c
      -- Each row version read is found where it is: a TID scan per row, joined on ctid. This
      -- statement keeps one generic plan per connection, planned from guesses (ten rows per
      -- column list): given any indexable condition, it chose to probe members_pkey by id
      -- alone, a scan of the whole index per member (measured: 520 ms for 461 members). So
      -- the id is compared in another collation than its column's "C" (the same answer for
      -- ids, but not an index condition) and the program is checked below. A row whose version
      -- is no longer the one read is left alone, and the check below fails the statement.
      WHERE members.ctid = c.ctid AND members.id COLLATE "POSIX" = c.id AND NOT c.insert AND members.xmin = c.xmin
      RETURNING members.program_id)`,
  ];
  if (inserted > 0) {
    ctes.push(sql`inserted_members AS (
      INSERT INTO members (program_id, id, created_at, updated_at, available, pending, held, tier_id, tier_since,
        lifetime_spend, lifetime_points, event_count, first_event_at, last_event_at, counters, segments)
      SELECT ${programId}, id, ${at}::timestamptz, ${at}::timestamptz, available, pending, held, tier_id, tier_since,
        lifetime_spend, lifetime_points, event_count, first_event_at, last_event_at, counters, segments
      FROM member_rows WHERE insert
      RETURNING 1)`);
  }
  if (round.metrics.length > 0) {
    ctes.push(sql`written_metrics AS (
      INSERT INTO member_metric_days (program_id, member_id, metric, day, value)
      SELECT ${programId}, member_id, metric, day, value
      FROM ${columns('t', round.metrics, METRIC_COLUMNS)}
      ON CONFLICT (program_id, member_id, metric, day) DO UPDATE SET value = member_metric_days.value + excluded.value
      RETURNING 1)`);
  }
  if (round.usage.size > 0) {
    const usage = [...round.usage].map(([key, points]) => ({
      key: key.split('|') as [string, string, string],
      points,
    }));
    ctes.push(sql`written_usage AS (
      INSERT INTO rule_usage (program_id, member_id, rule_id, period, points)
      SELECT ${programId}, member_id, rule_id, period, points
      FROM ${columns('t', usage, USAGE_COLUMNS)}
      ON CONFLICT (program_id, member_id, rule_id, period) DO UPDATE SET points = rule_usage.points + excluded.points
      RETURNING 1)`);
  }
  if (round.campaigns.length > 0) {
    ctes.push(
      sql`campaign_rows AS (
      SELECT * FROM ${columns('t', round.campaigns, CAMPAIGN_COLUMNS)})`,
      // A counter row whose version is no longer the one read is left alone, and the check
      // below fails the statement: another write spent from the same budget meanwhile.
      sql`written_campaigns AS (
      UPDATE campaign_usage SET points = campaign_usage.points + c.points
      FROM campaign_rows c
      -- Found where they were read, as the members are.
      WHERE campaign_usage.ctid = c.ctid AND campaign_usage.campaign_id COLLATE "POSIX" = c.campaign_id
        AND campaign_usage.period COLLATE "POSIX" = c.period AND c.xmin IS NOT NULL AND campaign_usage.xmin = c.xmin
      RETURNING campaign_usage.program_id)`,
      sql`inserted_campaigns AS (
      INSERT INTO campaign_usage (program_id, campaign_id, period, points)
      SELECT ${programId}, campaign_id, period, points FROM campaign_rows WHERE xmin IS NULL
      RETURNING 1)`,
    );
  }
  const tierChanged = round.tierChanges.length > 0;
  if (tierChanged) {
    ctes.push(sql`written_tier_changes AS (
      INSERT INTO tier_changes (program_id, member_id, from_tier, to_tier, reason, event_id, metric_value,
        program_version, changed_at)
      SELECT ${programId}, member_id, from_tier, to_tier, reason, event_id, metric_value, program_version, changed_at
      FROM ${columns('t', round.tierChanges, TIER_CHANGE_COLUMNS)}
      RETURNING member_id, from_tier, to_tier, reason, event_id, changed_at)`);
  }
  // The domain events of these changes, in the same statement (the outbox).
  ctes.push(
    sql`written_outbox AS (
      INSERT INTO outbox (program_id, type, member_id, occurred_at, data)
      SELECT ${programId}, CASE WHEN points > 0 THEN 'points.earned' ELSE 'points.reversed' END, member_id, occurred_at,
        json_build_object('eventId', id, 'memberId', member_id, 'points', points, 'balance', response -> 'balance',
          'programVersion', ${round.version}::int)
      FROM written_events WHERE points <> 0
      ${
        tierChanged
          ? sql`UNION ALL
      SELECT ${programId}, 'tier.changed', member_id, changed_at,
        json_build_object('memberId', member_id, 'from', from_tier, 'to', to_tier, 'reason', reason, 'eventId', event_id)
      FROM written_tier_changes`
          : sql``
      }
      RETURNING 1)`,
    sql`notified AS (
      SELECT pg_notify(${INVALIDATION_CHANNEL}, payload)
      FROM json_array_elements_text(${JSON.stringify(notifications)}::json) AS payload)`,
  );
  const campaignsChecked =
    round.campaigns.length > 0
      ? sql`, CASE WHEN (SELECT count(*) FROM written_campaigns WHERE program_id = ${programId}) <> ${campaignRows}
        THEN patron_write_conflict('a campaign budget changed since it was read') END AS campaigns_checked`
      : sql``;
  await sql`WITH ${sql.join(
    ctes,
    sql`,
    `,
  )}
    SELECT (SELECT count(*) FROM notified) AS notified${campaignsChecked},
      CASE WHEN (SELECT count(*) FROM written_members WHERE program_id = ${programId}) <> ${updated}
        THEN patron_write_conflict('a member changed since it was read') END AS checked`.execute(
    trx,
  );
}

/** Counters as a JSON object of numbers (they are counts of events, far below 2^53). */
function countersJson(counters: Record<string, bigint>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key in counters) out[key] = Number(counters[key]);
  return out;
}
