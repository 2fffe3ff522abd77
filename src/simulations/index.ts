// Simulation: what a draft would have issued over a window of past events, next to what the
// version it would replace issues over the same events, without writing to the ledger.
//
// Both programs are evaluated on the same inputs, so the difference is the rules' alone:
// each earning event (refunds are left out on both sides) as it was received, with the
// member's tier as it was at the event (from the stored trace), the member's attributes as
// they are now, and the state rules read — metrics, rule segments, cap usage, campaign
// budgets — built up by each program from the window's start, in the order the events
// happened. Static segments are taken as they were at the event. A program's tiers are not
// moved by the simulated points: the report is about points, not about the tier changes a
// draft would cause. Over a window that starts with the program, with the draft equal to the
// version in force, every simulated event earns what it really earned.
//
// A run reads the window in chunks in (occurred_at, id) order, records its progress after each
// and stops at the next chunk when it is cancelled.
import { sql, type Kysely } from 'kysely';
import type { Database, SimulationStatus } from '../db/schema.ts';
import { newId } from '../ids/index.ts';
import type { ProgramCache } from '../programs/index.ts';
import {
  EMPTY_STATS,
  compileProgram,
  localTime,
  metricsOf,
  type CompiledProgram,
  type EvaluationInput,
  type LocalTime,
  type MemberStats,
  type ProgramDocument,
} from '../rules/index.ts';

/** A simulation runs as a one-off job, on any process that works jobs. */
export const SIMULATION_JOB = 'simulations.run';
/** Events read and evaluated per chunk (one query, one progress update). */
export const SIMULATION_CHUNK = 5_000;
/** Events one simulation evaluates at most. */
export const SIMULATION_EVENTS_MAX = 5_000_000;
/** Members listed as the most affected. */
export const MOST_AFFECTED = 20;
export const SIMULATIONS_PAGE_SIZE_MAX = 100;

export interface Simulation {
  id: string;
  draftId: string;
  baseVersion: number;
  from: Date;
  to: Date;
  status: SimulationStatus;
  eventsTotal: number | null;
  eventsDone: number;
  result: SimulationResult | null;
  error: string | null;
  createdAt: Date;
  createdBy: string;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface Totals {
  events: number;
  /** What the events really earned when they were processed. */
  actual: number;
  /** The version in force (baseVersion), evaluated again. */
  published: number;
  draft: number;
  difference: number;
}

export interface SimulationResult {
  totals: Totals;
  rules: {
    id: string;
    source: string;
    published: number;
    draft: number;
    difference: number;
    /** Events on which the rule fired; a multiplier's effect shows in the earn rules' points. */
    fired: { published: number; draft: number };
  }[];
  tiers: { tier: string; published: number; draft: number; difference: number }[];
  segments: { segment: string; published: number; draft: number; difference: number }[];
  mostAffected: { memberId: string; published: number; draft: number; difference: number }[];
  seconds: number;
  eventsPerSecond: number;
}

type Row = Awaited<ReturnType<typeof readChunk>>[number];

/** One program's view of the window: its own cap usage, budgets, member metrics and segments. */
class ProgramState {
  /** Per member: `${ruleId}|${period}` → points, as the member's rule_usage rows. */
  private readonly capUsage = new Map<string, Map<string, bigint>>();
  readonly campaignUsage = new Map<string, bigint>();
  readonly stats = new Map<string, MemberStats>();
  readonly seen = new Set<string>();
  readonly segmentsByMember = new Map<string, string[]>();
  private readonly staticIds: Set<string>;

  constructor(readonly program: CompiledProgram) {
    this.staticIds = new Set(
      (program.document.segments ?? []).filter((s) => s.type === 'static').map((s) => s.id),
    );
  }

  evaluate(row: Row, local: LocalTime): { points: bigint; segments: string[]; trace: unknown } {
    const program = this.program;
    const document = program.document;
    const base = document.currencies[0] as string;
    const previous = this.stats.get(row.member_id) ?? { ...EMPTY_STATS, counters: {} };
    const stats: MemberStats = { ...previous, counters: { ...previous.counters } };
    const input: EvaluationInput = {
      event: {
        id: row.id,
        type: row.type,
        memberId: row.member_id,
        occurredAt: row.occurred_at,
        ...(row.amount_minor !== null && row.currency !== null
          ? {
              amount: {
                minor: BigInt(row.amount_minor),
                currency: row.currency,
                value: row.amount_value ?? '0',
              },
            }
          : {}),
        attributes: row.attributes ?? {},
        ...(row.partner_id ? { partnerId: row.partner_id } : {}),
      },
      member: {
        id: row.member_id,
        tierId: row.tier_before ?? null,
        isNew: !this.seen.has(row.member_id) && row.created_by_event,
        attributes: row.member_attributes ?? {},
      },
      local,
      capUsage: this.capUsageOf(row.member_id),
      campaignUsage: this.campaignUsage,
    };
    // Metrics count the event in first, as the event pipeline does.
    stats.events += 1n;
    if (
      row.amount_minor !== null &&
      row.currency === base &&
      document.eventTypes[row.type]?.kind === 'purchase'
    )
      stats.spendMinor += BigInt(row.amount_minor);
    for (const id of program.countersFor(input))
      stats.counters[id] = (stats.counters[id] ?? 0n) + 1n;
    const previousAt = stats.lastEventAt;
    if (stats.firstEventAt === null || row.occurred_at < stats.firstEventAt)
      stats.firstEventAt = row.occurred_at;
    if (stats.lastEventAt === null || row.occurred_at > stats.lastEventAt)
      stats.lastEventAt = row.occurred_at;
    input.member.metrics = metricsOf(stats, document, row.occurred_at, previousAt);
    const staticSegments = (row.segments_in ?? []).filter((s) => this.staticIds.has(s));
    const segments = [...new Set([...program.segmentsFor(input), ...staticSegments])].sort();
    input.member.segments = segments;
    const evaluation = program.evaluate(input);
    stats.points += evaluation.points;
    this.stats.set(row.member_id, stats);
    this.seen.add(row.member_id);
    const usage = this.capUsageOf(row.member_id);
    for (const u of evaluation.usage) {
      const key = `${u.ruleId}|${u.period}`;
      usage.set(key, (usage.get(key) ?? 0n) + u.points);
    }
    for (const u of evaluation.campaignUsage) {
      const key = `${u.campaignId}|${u.period}`;
      this.campaignUsage.set(key, (this.campaignUsage.get(key) ?? 0n) + u.points);
    }
    return { points: evaluation.points, segments, trace: evaluation.trace };
  }

  private capUsageOf(memberId: string): Map<string, bigint> {
    let usage = this.capUsage.get(memberId);
    if (!usage) this.capUsage.set(memberId, (usage = new Map()));
    return usage;
  }
}

async function readChunk(
  db: Kysely<Database>,
  programId: string,
  from: Date,
  to: Date,
  after: { at: Date; id: string } | null,
  limit: number,
) {
  const rows = await sql<{
    id: string;
    type: string;
    member_id: string;
    occurred_at: Date;
    amount_minor: string | bigint | null;
    amount_value: string | null;
    currency: string | null;
    points: string | bigint;
    attributes: Record<string, unknown> | null;
    partner_id: string | null;
    tier_before: string | null;
    segments_in: string[] | null;
    member_attributes: Record<string, unknown> | null;
    created_by_event: boolean;
  }>`SELECT e.id, e.type, e.member_id, e.occurred_at, e.amount_minor, e.body -> 'amount' ->> 'value' AS amount_value,
      e.currency, e.points, e.body -> 'attributes' AS attributes, e.trace ->> 'partnerId' AS partner_id,
      e.trace -> 'tier' ->> 'before' AS tier_before,
      (SELECT array_agg(x) FROM json_array_elements_text(e.trace -> 'segments' -> 'in') AS x) AS segments_in,
      m.attributes AS member_attributes, coalesce(m.created_at = e.received_at, false) AS created_by_event
    FROM events e LEFT JOIN members m ON m.program_id = e.program_id AND m.id = e.member_id
    WHERE e.program_id = ${programId} AND e.refund_of IS NULL
      AND e.occurred_at >= ${from.toISOString()}::timestamptz AND e.occurred_at < ${to.toISOString()}::timestamptz
      ${after ? sql`AND (e.occurred_at, e.id) > (${after.at.toISOString()}::timestamptz, ${after.id})` : sql``}
    ORDER BY e.occurred_at, e.id
    LIMIT ${limit}`.execute(db);
  return rows.rows;
}

interface Sums {
  published: number;
  draft: number;
  firedPublished: number;
  firedDraft: number;
}

function add(map: Map<string, Sums>, key: string, published: number, draft: number): Sums {
  let sums = map.get(key);
  if (!sums) map.set(key, (sums = { published: 0, draft: 0, firedPublished: 0, firedDraft: 0 }));
  sums.published += published;
  sums.draft += draft;
  return sums;
}

/** Contributions of each rule (and campaign) in a trace, as numbers of points. */
function contributions(trace: unknown): [string, number][] {
  const t = trace as {
    rules?: { id: string; fired: boolean; contribution?: string; source?: string }[];
    campaigns?: { id: string; applied: boolean; awarded?: number }[];
  };
  const out: [string, number][] = [];
  for (const r of t.rules ?? [])
    if (r.fired) out.push([`${r.source ?? 'rule'}|${r.id}`, Number(r.contribution ?? 0)]);
  for (const c of t.campaigns ?? [])
    if (c.applied && c.awarded) out.push([`campaign|${c.id}`, c.awarded]);
  return out;
}

const rounded = (n: number) => Math.round(n * 100) / 100;

function sumsList<K extends string>(map: Map<string, Sums>, key: K) {
  return [...map]
    .map(([name, s]) => ({
      [key]: name,
      published: rounded(s.published),
      draft: rounded(s.draft),
      difference: rounded(s.draft - s.published),
    }))
    .sort((a, b) => Math.abs(b.difference) - Math.abs(a.difference)) as ({
    [P in K]: string;
  } & { published: number; draft: number; difference: number })[];
}

/**
 * Runs a queued simulation to its end (or until cancelled, or its signal aborts), recording
 * progress as it goes. Safe to call twice: only a queued simulation is started.
 */
export async function runSimulation(
  db: Kysely<Database>,
  programs: ProgramCache,
  programId: string,
  id: string,
  options: { signal?: AbortSignal; chunk?: number } = {},
): Promise<SimulationStatus> {
  const { signal } = options;
  const chunk = Math.min(Math.max(1, options.chunk ?? SIMULATION_CHUNK), SIMULATION_CHUNK);
  const claimed = await db
    .updateTable('simulations')
    .set({ status: 'running', started_at: new Date() })
    .where('program_id', '=', programId)
    .where('id', '=', id)
    .where('status', '=', 'queued')
    .returning(['document', 'base_version', 'window_from', 'window_to'])
    .executeTakeFirst();
  if (!claimed) {
    // Already run, running elsewhere, or cancelled while queued.
    const row = await readSimulation(db, programId, id);
    return row?.status ?? 'failed';
  }
  const started = performance.now();
  try {
    const published = await programs.get(db, programId, claimed.base_version);
    const draft = compileProgram(claimed.document as ProgramDocument, 0, programId);
    const total = await sql<{ n: string }>`SELECT count(*)::text AS n FROM events
      WHERE program_id = ${programId} AND refund_of IS NULL
        AND occurred_at >= ${claimed.window_from.toISOString()}::timestamptz
        AND occurred_at < ${claimed.window_to.toISOString()}::timestamptz`.execute(db);
    const eventsTotal = Math.min(Number(total.rows[0]?.n ?? 0), SIMULATION_EVENTS_MAX);
    await db
      .updateTable('simulations')
      .set({ events_total: BigInt(eventsTotal) })
      .where('program_id', '=', programId)
      .where('id', '=', id)
      .execute();

    const states = [new ProgramState(published), new ProgramState(draft)] as const;
    const totals = { events: 0, actual: 0, published: 0, draft: 0 };
    const rules = new Map<string, Sums>();
    const tiers = new Map<string, Sums>();
    const segments = new Map<string, Sums>();
    const members = new Map<string, Sums>();
    // Local time is the same for every event in a minute: computed once per minute and zone.
    const locals = new Map<string, LocalTime>();
    const localOf = (at: Date, zone: string): LocalTime => {
      const key = `${zone}|${Math.floor(at.getTime() / 60_000)}`;
      let local = locals.get(key);
      if (!local) {
        if (locals.size > 100_000) locals.clear();
        local = localTime(at, zone);
        locals.set(key, local);
      }
      return local;
    };

    const read = (after: { at: Date; id: string } | null) =>
      readChunk(db, programId, claimed.window_from, claimed.window_to, after, chunk);
    // The next chunk is read while this one is evaluated: PostgreSQL and Node work at once.
    let next: Promise<Row[]> | null = read(null);
    while (next && totals.events < eventsTotal) {
      if (signal?.aborted) throw new Error('the simulation run was stopped');
      const rows: Row[] = await next;
      if (rows.length === 0) break;
      const last = rows.at(-1) as Row;
      next = rows.length === chunk ? read({ at: last.occurred_at, id: last.id }) : null;
      // Never left unobserved: a run that stops early does not await it.
      next?.catch(() => {});
      for (const row of rows) {
        if (totals.events >= eventsTotal) break;
        const p = states[0].evaluate(row, localOf(row.occurred_at, published.document.timeZone));
        const d = states[1].evaluate(row, localOf(row.occurred_at, draft.document.timeZone));
        const pp = Number(p.points);
        const dp = Number(d.points);
        totals.events += 1;
        totals.actual += Number(row.points);
        totals.published += pp;
        totals.draft += dp;
        for (const [key, value] of contributions(p.trace))
          add(rules, key, value, 0).firedPublished += 1;
        for (const [key, value] of contributions(d.trace))
          add(rules, key, 0, value).firedDraft += 1;
        add(tiers, row.tier_before ?? '(none)', pp, dp);
        for (const s of new Set([...p.segments, ...d.segments]))
          add(segments, s, p.segments.includes(s) ? pp : 0, d.segments.includes(s) ? dp : 0);
        add(members, row.member_id, pp, dp);
      }
      const progress = await db
        .updateTable('simulations')
        .set({ events_done: BigInt(totals.events) })
        .where('program_id', '=', programId)
        .where('id', '=', id)
        .returning('cancel_requested')
        .executeTakeFirst();
      if (progress?.cancel_requested) {
        await finish(db, programId, id, 'cancelled', null, null);
        return 'cancelled';
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const result: SimulationResult = {
      totals: { ...totals, difference: totals.draft - totals.published },
      rules: sumsList(rules, 'key').map(({ key, ...sums }) => {
        const [source, ruleId] = key.split('|') as [string, string];
        const counts = rules.get(key) as Sums;
        return {
          id: ruleId,
          source,
          ...sums,
          fired: { published: counts.firedPublished, draft: counts.firedDraft },
        };
      }),
      tiers: sumsList(tiers, 'tier'),
      segments: sumsList(segments, 'segment'),
      mostAffected: sumsList(members, 'memberId').slice(0, MOST_AFFECTED),
      seconds: rounded(seconds),
      eventsPerSecond: seconds > 0 ? Math.round(totals.events / seconds) : totals.events,
    };
    await finish(db, programId, id, 'done', result, null);
    return 'done';
  } catch (error) {
    await finish(db, programId, id, 'failed', null, (error as Error).message.slice(0, 1000));
    throw error;
  }
}

async function finish(
  db: Kysely<Database>,
  programId: string,
  id: string,
  status: SimulationStatus,
  result: SimulationResult | null,
  error: string | null,
): Promise<void> {
  await db
    .updateTable('simulations')
    .set({
      status,
      result: result === null ? null : JSON.stringify(result),
      error,
      finished_at: new Date(),
    })
    .where('program_id', '=', programId)
    .where('id', '=', id)
    .execute();
}

export async function createSimulation(
  db: Kysely<Database>,
  programId: string,
  input: { draftId: string; document: ProgramDocument; baseVersion: number; from: Date; to: Date },
  actor: string,
  now: Date,
): Promise<Simulation> {
  const row = await db
    .insertInto('simulations')
    .values({
      program_id: programId,
      id: newId('sim', now),
      draft_id: input.draftId,
      document: JSON.stringify(input.document),
      base_version: input.baseVersion,
      window_from: input.from,
      window_to: input.to,
      events_total: null,
      result: null,
      error: null,
      created_by: actor,
      created_at: now,
      started_at: null,
      finished_at: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return simulationOf(row);
}

function simulationOf(row: {
  id: string;
  draft_id: string;
  base_version: number;
  window_from: Date;
  window_to: Date;
  status: SimulationStatus;
  events_total: bigint | null;
  events_done: bigint;
  result: unknown;
  error: string | null;
  created_at: Date;
  created_by: string;
  started_at: Date | null;
  finished_at: Date | null;
}): Simulation {
  return {
    id: row.id,
    draftId: row.draft_id,
    baseVersion: row.base_version,
    from: row.window_from,
    to: row.window_to,
    status: row.status,
    eventsTotal: row.events_total === null ? null : Number(row.events_total),
    eventsDone: Number(row.events_done),
    result: (row.result as SimulationResult | null) ?? null,
    error: row.error,
    createdAt: row.created_at,
    createdBy: row.created_by,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

export async function readSimulation(
  db: Kysely<Database>,
  programId: string,
  id: string,
): Promise<Simulation | undefined> {
  const row = await db
    .selectFrom('simulations')
    .selectAll()
    .where('program_id', '=', programId)
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? simulationOf(row) : undefined;
}

/** Asks a queued or running simulation to stop; answers its status after the request. */
export async function cancelSimulation(
  db: Kysely<Database>,
  programId: string,
  id: string,
  now: Date,
): Promise<Simulation | undefined> {
  // A queued one is cancelled at once; a running one stops at its next chunk.
  await db
    .updateTable('simulations')
    .set({ status: 'cancelled', finished_at: now })
    .where('program_id', '=', programId)
    .where('id', '=', id)
    .where('status', '=', 'queued')
    .execute();
  await db
    .updateTable('simulations')
    .set({ cancel_requested: true })
    .where('program_id', '=', programId)
    .where('id', '=', id)
    .where('status', '=', 'running')
    .execute();
  return readSimulation(db, programId, id);
}
