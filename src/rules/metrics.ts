// A member's computed metrics as rules and segments see them: lifetime figures kept on the
// member's row (updated in each event's own statement), plus what is derived from them at the
// event's instant — days since the previous event and the RFM scores.
import { minorDigits } from '../money/index.ts';
import type { MemberMetrics } from './cel.ts';
import type { ProgramDocument } from './document.ts';

const DAY_MS = 86_400_000;

/** What the member row keeps: lifetime figures, in the program's first currency for spend. */
export interface MemberStats {
  spendMinor: bigint;
  points: bigint;
  events: bigint;
  firstEventAt: Date | null;
  lastEventAt: Date | null;
  counters: Record<string, bigint>;
}

/** The member row's columns that hold the stats. */
export interface MemberStatsRow {
  lifetime_spend: bigint | string;
  lifetime_points: bigint | string;
  event_count: bigint | string;
  first_event_at: Date | null;
  last_event_at: Date | null;
  counters: Record<string, number | string> | null;
}

export function statsOfRow(row: MemberStatsRow): MemberStats {
  return {
    spendMinor: BigInt(row.lifetime_spend),
    points: BigInt(row.lifetime_points),
    events: BigInt(row.event_count),
    firstEventAt: row.first_event_at,
    lastEventAt: row.last_event_at,
    counters: Object.fromEntries(
      Object.entries(row.counters ?? {}).map(([id, count]) => [id, BigInt(count)]),
    ),
  };
}

export const EMPTY_STATS: MemberStats = {
  spendMinor: 0n,
  points: 0n,
  events: 0n,
  firstEventAt: null,
  lastEventAt: null,
  counters: {},
};

/**
 * The metrics at `at`. `previousEventAt` is the member's last event before this one (recency
 * is measured from it, so a returning member's first event after 90 quiet days sees 90).
 */
export function metricsOf(
  stats: MemberStats,
  document: ProgramDocument,
  at: Date,
  previousEventAt: Date | null,
): MemberMetrics {
  const digits = minorDigits(document.currencies[0] as string);
  const spend = Number(stats.spendMinor) / 10 ** digits;
  const days =
    previousEventAt === null
      ? -1
      : Math.max(0, Math.floor((at.getTime() - previousEventAt.getTime()) / DAY_MS));
  const rfm = document.metrics?.rfm;
  return {
    lifetimeSpend: spend,
    points: stats.points,
    events: stats.events,
    daysSinceLastEvent: BigInt(days),
    recency: rfm ? BigInt(recencyScore(days, rfm.recencyDays)) : 0n,
    frequency: rfm ? BigInt(ascendingScore(Number(stats.events), rfm.frequency)) : 0n,
    monetary: rfm ? BigInt(ascendingScore(spend, rfm.monetary.map(Number))) : 0n,
    counters: stats.counters,
  };
}

/** 5 within the first threshold of days, 1 past the last one or before any event. */
function recencyScore(days: number, thresholds: number[]): number {
  if (days < 0) return 1;
  const within = thresholds.findIndex((limit) => days <= limit);
  return within === -1 ? 1 : 5 - within;
}

/** 1 below the first threshold, 5 from the last one on. */
function ascendingScore(value: number, thresholds: number[]): number {
  return 1 + thresholds.filter((limit) => value >= limit).length;
}
