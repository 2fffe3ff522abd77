// Tiers: levels with thresholds on a qualifying metric summed over a window.
//
// Metrics are recorded per member and local day (member_metric_days) by every event, in
// the event's transaction, on the day the event occurred (its `occurredAt` in the
// program's time zone): `points` (points earned, less reversals), `spend:<CUR>` (purchases
// less refunds, minor units), `amount:<type>:<CUR>` and `count:<type>`. A window
// (lifetime, calendar year, rolling N days) evaluated as of a day is a sum over a range of
// days, so a program can change its tier metric or window without losing history.
//
// State machine of a member's tier:
//   (none) ──first event──▶ lowest level
//   level ──event or refund lifts the metric past a higher threshold──▶ higher level, at once;
//            the event that crosses a threshold earns at the old level, the next at the new
//   level ──refund takes the metric below the level's threshold──▶ the level the metric reaches
//   level ──reevaluateTiers (scheduled) finds the retention window below the threshold──▶ lower level
// Every change is a tier_changes row (history), with the metric value that caused it.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { invalidationPayloads, INVALIDATION_CHANNEL } from '../members/cache.ts';
import { formatAmount, minorDigits } from '../money/index.ts';
import type { ProgramDocument } from '../rules/index.ts';
import { localTime } from '../rules/index.ts';

export type TiersConfig = NonNullable<ProgramDocument['tiers']>;
export type TierLevel = TiersConfig['levels'][number];
type Window = TiersConfig['window'];

const REEVALUATION_BATCH_SIZE = 500;

/** Metric rows that make up the tier metric. */
export function metricNames(tiers: TiersConfig, baseCurrency: string): string[] {
  const metric = tiers.metric;
  switch (metric.type) {
    case 'points':
      return ['points'];
    case 'spend':
      return [`spend:${baseCurrency}`];
    case 'amount':
      return metric.eventTypes.map((t) => `amount:${t}:${baseCurrency}`);
    case 'count':
      return metric.eventTypes.map((t) => `count:${t}`);
  }
}

/** Metric units per threshold unit: thresholds on money are whole currency units. */
export function thresholdScale(tiers: TiersConfig, baseCurrency: string): bigint {
  const type = tiers.metric.type;
  return type === 'spend' || type === 'amount' ? 10n ** BigInt(minorDigits(baseCurrency)) : 1n;
}

/** The days a window covers when evaluated as of a local date (inclusive; null = unbounded). */
export function windowDays(
  window: Window,
  asOfDate: string,
): { from: string | null; to: string | null } {
  switch (window.type) {
    case 'lifetime':
      return { from: null, to: null };
    case 'calendarYear':
      return { from: `${asOfDate.slice(0, 4)}-01-01`, to: `${asOfDate.slice(0, 4)}-12-31` };
    case 'rolling':
      return { from: addDays(asOfDate, -(window.days - 1)), to: asOfDate };
  }
}

/**
 * The days a window covers as evaluated at an instant: as of its local date in the program's
 * time zone. An event's round evaluates it at the round's instant, and explain again at the
 * event's receivedAt, which is that instant.
 */
export function windowDaysAt(
  window: Window,
  timeZone: string,
  at: Date,
): { from: string | null; to: string | null } {
  return windowDays(window, localTime(at, timeZone).date);
}

export function addDays(date: string, days: number): string {
  const t = Date.parse(`${date}T00:00:00Z`) + days * 86_400_000;
  return new Date(t).toISOString().slice(0, 10);
}

export function dayInWindow(
  day: string,
  range: { from: string | null; to: string | null },
): boolean {
  return (range.from === null || day >= range.from) && (range.to === null || day <= range.to);
}

/** The highest level whose threshold the metric reaches (levels are sorted, the first at 0). */
export function levelFor(tiers: TiersConfig, scale: bigint, value: bigint): TierLevel {
  let reached = tiers.levels[0] as TierLevel;
  for (const level of tiers.levels) if (value >= BigInt(level.threshold) * scale) reached = level;
  return reached;
}

export function levelIndex(tiers: TiersConfig, tierId: string | null): number {
  return tierId === null ? -1 : tiers.levels.findIndex((l) => l.id === tierId);
}

/**
 * The tier metric of the member row aliased `m` over one window, as a scalar subquery to
 * put in the select list of the query that reads (or locks) the member.
 */
export function tierMetricSql(
  metrics: string[],
  range: { from: string | null; to: string | null },
) {
  return sql<bigint | null>`(SELECT sum(d.value)::bigint FROM member_metric_days d
    WHERE d.program_id = m.program_id AND d.member_id = m.id AND d.metric = ANY(${metrics}::text[])
      AND (${range.from}::date IS NULL OR d.day >= ${range.from}::date)
      AND (${range.to}::date IS NULL OR d.day <= ${range.to}::date))`;
}

export interface MetricDelta {
  memberId: string;
  metric: string;
  day: string;
  value: bigint;
}

/** Metric deltas summed per row (one statement may not touch a row twice), zeros dropped. */
export function mergeMetricDeltas(deltas: MetricDelta[]): MetricDelta[] {
  const merged = new Map<string, MetricDelta>();
  for (const d of deltas) {
    const key = `${d.memberId}\u0000${d.metric}\u0000${d.day}`;
    const prior = merged.get(key);
    merged.set(key, prior ? { ...prior, value: prior.value + d.value } : { ...d });
  }
  return [...merged.values()].filter((d) => d.value !== 0n);
}

export interface TierChange {
  memberId: string;
  fromTier: string | null;
  toTier: string;
  reason: 'event' | 'refund' | 'reevaluation' | 'override';
  eventId: string | null;
  metricValue: bigint;
  programVersion: number;
  changedAt: Date;
}

export async function recordTierChanges(
  trx: Transaction<Database>,
  programId: string,
  changes: TierChange[],
): Promise<void> {
  if (changes.length === 0) return;
  await trx
    .insertInto('tier_changes')
    .values(
      changes.map((c) => ({
        program_id: programId,
        member_id: c.memberId,
        from_tier: c.fromTier,
        to_tier: c.toTier,
        reason: c.reason,
        event_id: c.eventId,
        metric_value: c.metricValue,
        program_version: c.programVersion,
        changed_at: c.changedAt,
      })),
    )
    .execute();
  // Their domain events, in the same transaction (the outbox; events write theirs themselves).
  await trx
    .insertInto('outbox')
    .values(
      changes.map((c) => ({
        program_id: programId,
        type: 'tier.changed',
        member_id: c.memberId,
        occurred_at: c.changedAt,
        data: JSON.stringify({
          memberId: c.memberId,
          from: c.fromTier,
          to: c.toTier,
          reason: c.reason,
          eventId: c.eventId,
        }),
      })),
    )
    .execute();
}

export interface TierProgress {
  nextTier: { id: string; name: string } | null;
  metric: string;
  current: number | string;
  required: number | string | null;
  remaining: number | string | null;
  currency?: string;
}

/** "230 EUR to Gold": progress toward the next level, in the metric's own units. */
export function progressToward(
  tiers: TiersConfig,
  baseCurrency: string,
  tierId: string | null,
  value: bigint,
): TierProgress {
  const scale = thresholdScale(tiers, baseCurrency);
  const next = tiers.levels[levelIndex(tiers, tierId) + 1];
  const money = tiers.metric.type === 'spend' || tiers.metric.type === 'amount';
  const show = (v: bigint): number | string => (money ? formatAmount(v, baseCurrency) : Number(v));
  const required = next ? BigInt(next.threshold) * scale : null;
  const remaining = required === null ? null : required > value ? required - value : 0n;
  return {
    nextTier: next ? { id: next.id, name: next.name } : null,
    metric: tiers.metric.type,
    current: show(value),
    required: required === null ? null : show(required),
    remaining: remaining === null ? null : show(remaining),
    ...(money ? { currency: baseCurrency } : {}),
  };
}

export interface ReevaluationResult {
  members: number;
  downgraded: number;
  upgraded: number;
}

/**
 * Re-evaluates every member's tier on the retention window (the qualifying window unless
 * the program sets one) as of `now`, moving members to the level the metric reaches. This
 * is the downgrade path; a scheduler runs it (daily, after midnight in the program's zone).
 * It works in batches of members, each its own transaction, and is safe to run twice.
 */
export async function reevaluateTiers(
  db: Kysely<Database>,
  programId: string,
  document: ProgramDocument,
  version: number,
  now: Date,
  /** Told, after each batch commits, which members changed tier (to evict cached views). */
  onCommitted?: (memberIds: string[]) => void,
): Promise<ReevaluationResult> {
  const result: ReevaluationResult = { members: 0, downgraded: 0, upgraded: 0 };
  const tiers = document.tiers;
  if (!tiers) return result;
  const base = document.currencies[0] as string;
  const metrics = metricNames(tiers, base);
  const scale = thresholdScale(tiers, base);
  const range = windowDaysAt(tiers.retentionWindow ?? tiers.window, document.timeZone, now);
  let after = '';
  for (;;) {
    let changed: string[] = [];
    const done = await db.transaction().execute(async (trx) => {
      const members = await sql<{
        id: string;
        ctid: string;
        tier_id: string | null;
        tier_value: bigint | null;
      }>`
        SELECT m.id, m.ctid::text AS ctid, m.tier_id, ${tierMetricSql(metrics, range)} AS tier_value FROM members m
        WHERE m.program_id = ${programId} AND m.id > ${after}
        ORDER BY m.id LIMIT ${REEVALUATION_BATCH_SIZE} FOR UPDATE OF m`.execute(trx);
      if (members.rows.length === 0) return true;
      after = (members.rows.at(-1) as { id: string }).id;
      const changes: TierChange[] = [];
      for (const member of members.rows) {
        const value = member.tier_value ?? 0n;
        const target = levelFor(tiers, scale, value);
        if (target.id === member.tier_id) continue;
        const lower = levelIndex(tiers, target.id) < levelIndex(tiers, member.tier_id);
        if (lower) result.downgraded += 1;
        else result.upgraded += 1;
        changes.push({
          memberId: member.id,
          fromTier: member.tier_id,
          toTier: target.id,
          reason: 'reevaluation',
          eventId: null,
          metricValue: value,
          programVersion: version,
          changedAt: now,
        });
      }
      result.members += members.rows.length;
      if (changes.length > 0) {
        // The rows read are locked, so where they are is stable: a TID scan finds exactly
        // them, whatever the statistics (given program_id too, the planner may read every
        // member of the program by it; see rowsByKey).
        const where = new Map(members.rows.map((m) => [m.id, m.ctid]));
        await sql`UPDATE members SET tier_id = c.tier_id, tier_since = ${now.toISOString()}::timestamptz, updated_at = now()
          FROM unnest(${changes.map((c) => c.memberId)}::text[], ${changes.map((c) => c.toTier)}::text[]) AS c(id, tier_id)
          WHERE members.ctid = ANY(${changes.map((c) => where.get(c.memberId))}::tid[]) AND members.id = c.id`.execute(
          trx,
        );
        await recordTierChanges(trx, programId, changes);
        changed = changes.map((c) => c.memberId);
        // Other processes evict these members' cached views when this commits.
        await sql`SELECT pg_notify(${INVALIDATION_CHANNEL}, payload)
          FROM json_array_elements_text(${JSON.stringify(invalidationPayloads(programId, changed))}::json) AS payload`.execute(
          trx,
        );
      }
      return members.rows.length < REEVALUATION_BATCH_SIZE;
    });
    if (changed.length > 0) onCommitted?.(changed);
    if (done) return result;
  }
}
