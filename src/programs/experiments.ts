// Results of an experiment, per group: members, events, points issued and spend per member,
// each variant against control with a 95 % confidence interval of the difference.
//
// The group each event was evaluated in is read from its stored trace, not recomputed: it is
// what actually happened, even if the percents changed in a later version. A member counts in
// the results once they have an event in the window. Spend is what the member's purchases in
// the program's first currency amounted to; refunds are not evaluated by rules and so are not
// part of an experiment. The interval is Welch's (normal approximation, z = 1.96): the groups
// of a loyalty experiment hold hundreds to millions of members, where it is accurate.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { minorDigits } from '../money/index.ts';
import { CONTROL_GROUP, type Experiment, type ProgramDocument } from '../rules/index.ts';

const Z_95 = 1.959964;

export interface Interval {
  difference: number;
  low: number;
  high: number;
}

export interface GroupResult {
  group: string;
  percent: number;
  members: number;
  events: number;
  pointsIssued: number;
  pointsPerMember: number;
  /** Minor units of the currency, per member. */
  spendPerMember: number;
  versusControl: { pointsPerMember: Interval; spendPerMember: Interval } | null;
}

export interface ExperimentResults {
  experiment: Experiment;
  currency: string;
  from: Date | null;
  to: Date | null;
  groups: GroupResult[];
}

interface Moments {
  members: number;
  events: number;
  pointsIssued: number;
  pointsSquares: number;
  spend: number;
  spendSquares: number;
}

function mean(sum: number, n: number): number {
  return n === 0 ? 0 : sum / n;
}

/** Sample variance of per-member values from their sum and sum of squares. */
function variance(sum: number, squares: number, n: number): number {
  if (n < 2) return 0;
  return Math.max(0, (squares - (sum * sum) / n) / (n - 1));
}

function welch(
  a: { sum: number; squares: number; n: number },
  b: { sum: number; squares: number; n: number },
): Interval {
  const difference = mean(a.sum, a.n) - mean(b.sum, b.n);
  const se =
    a.n === 0 || b.n === 0
      ? Number.NaN
      : Math.sqrt(variance(a.sum, a.squares, a.n) / a.n + variance(b.sum, b.squares, b.n) / b.n);
  return { difference, low: difference - Z_95 * se, high: difference + Z_95 * se };
}

export async function experimentResults(
  db: Kysely<Database>,
  programId: string,
  document: ProgramDocument,
  experiment: Experiment,
  window: { from?: Date; to?: Date },
): Promise<ExperimentResults> {
  const currency = document.currencies[0] as string;
  const purchaseTypes = Object.entries(document.eventTypes)
    .filter(([, type]) => type.kind === 'purchase')
    .map(([name]) => name);
  const from = window.from ?? (experiment.start ? new Date(experiment.start) : null);
  const to = window.to ?? (experiment.end ? new Date(experiment.end) : null);
  const rows = await sql<{
    variant: string;
    members: string;
    events: string;
    issued: string;
    issued_sq: string;
    spend: string;
    spend_sq: string;
  }>`
    WITH per_member AS (
      SELECT trace -> 'experiments' -> ${experiment.id} ->> 'variant' AS variant, member_id,
        count(*) AS events,
        coalesce(sum(points) FILTER (WHERE points > 0), 0)::numeric AS issued,
        coalesce(sum(amount_minor) FILTER (
          WHERE currency = ${currency} AND type = ANY(${purchaseTypes}::text[])), 0)::numeric AS spend
      FROM events
      WHERE program_id = ${programId}
        AND trace -> 'experiments' -> ${experiment.id} IS NOT NULL
        AND (${from?.toISOString() ?? null}::timestamptz IS NULL OR occurred_at >= ${from?.toISOString() ?? null}::timestamptz)
        AND (${to?.toISOString() ?? null}::timestamptz IS NULL OR occurred_at < ${to?.toISOString() ?? null}::timestamptz)
      GROUP BY 1, 2
    )
    SELECT variant, count(*)::text AS members, sum(events)::text AS events,
      sum(issued)::text AS issued, sum(issued * issued)::text AS issued_sq,
      sum(spend)::text AS spend, sum(spend * spend)::text AS spend_sq
    FROM per_member GROUP BY variant`.execute(db);

  const moments = new Map<string, Moments>(
    rows.rows.map((r) => [
      r.variant,
      {
        members: Number(r.members),
        events: Number(r.events),
        pointsIssued: Number(r.issued),
        pointsSquares: Number(r.issued_sq),
        spend: Number(r.spend),
        spendSquares: Number(r.spend_sq),
      },
    ]),
  );
  const empty: Moments = {
    members: 0,
    events: 0,
    pointsIssued: 0,
    pointsSquares: 0,
    spend: 0,
    spendSquares: 0,
  };
  const control = moments.get(CONTROL_GROUP) ?? empty;
  const groups = [
    { id: CONTROL_GROUP, percent: experiment.controlPercent },
    ...experiment.variants.map((v) => ({ id: v.id, percent: v.percent })),
  ].map(({ id, percent }): GroupResult => {
    const m = moments.get(id) ?? empty;
    return {
      group: id,
      percent,
      members: m.members,
      events: m.events,
      pointsIssued: m.pointsIssued,
      pointsPerMember: mean(m.pointsIssued, m.members),
      spendPerMember: mean(m.spend, m.members),
      versusControl:
        id === CONTROL_GROUP
          ? null
          : {
              pointsPerMember: welch(
                { sum: m.pointsIssued, squares: m.pointsSquares, n: m.members },
                { sum: control.pointsIssued, squares: control.pointsSquares, n: control.members },
              ),
              spendPerMember: welch(
                { sum: m.spend, squares: m.spendSquares, n: m.members },
                { sum: control.spend, squares: control.spendSquares, n: control.members },
              ),
            },
    };
  });
  return { experiment, currency, from, to, groups };
}

/** Minor units (a mean, so fractional) as a decimal string, to the currency's minor unit. */
export function minorToDecimal(minor: number, currency: string): string | null {
  if (!Number.isFinite(minor)) return null;
  const digits = minorDigits(currency);
  return (minor / 10 ** digits).toFixed(digits);
}
