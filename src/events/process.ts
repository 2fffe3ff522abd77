// The earn loop: a batch of events in, one outcome per event out, in order.
//
// A batch (single events reach here grouped by the GroupCommitter) is read, evaluated and
// written all or nothing: read the program version in force, detect replays by event id and
// body hash, read the members' balance rows, evaluate the rules, post to the ledger, update
// balances, tier metrics and tiers, and store every event with its answer and rule trace
// (the idempotency record). An item that is invalid or refused fails only itself and writes
// nothing.
//
// Two ways to make that atomic, one code path:
// - 'check' (tried first): the reads are plain statements and the whole write is one
//   statement, which is its own transaction. It writes only if no member row it read has
//   changed since (the row's xmin, which every update of a row renews) and creates new
//   members with a plain INSERT; anything else fails the statement, nothing is written, and
//   the batch runs again under 'lock'. Two round trips instead of six for an event (the
//   first statement reads the replays and the member rows together): measured, the round
//   trips were most of an event's latency.
// - 'lock': one transaction that creates missing members and locks every member row in
//   sorted order before it reads. It never waits for a member row: a row that another
//   transaction holds (or a member that another is creating) is skipped, and that member's
//   events are written right after, by a transaction of their own that waits for the row
//   ('wait'). So concurrent batches that share a few members do not queue behind each
//   other: measured, four concurrent batches of 500 over 20,000 members spent most of their
//   time waiting for each other's locks. The deferred events' transaction starts as soon as
//   the rows are skipped, on another connection, so it waits while the batch writes. A batch
//   is not atomic as a whole, only each event.
//   A refund whose original is earlier in the same batch starts a new round in that
//   transaction, so it sees the original's postings exactly as a later request would; such
//   a batch goes straight to 'lock'.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { lotExpiresAt } from '../expiry/policy.ts';
import { LedgerBatch, openLots, pendingLotsOf, type LotRow } from '../ledger/index.ts';
import { formatAmount } from '../money/index.ts';
import type { MemberViewCache } from '../members/cache.ts';
import { rowsByKey } from '../db/by-key.ts';
import type { ProgramCache } from '../programs/index.ts';
import {
  EMPTY_STATS,
  localTime,
  metricsOf,
  statsOfRow,
  type CompiledProgram,
  type EvaluationInput,
  type MemberStats,
  type ProgramDocument,
} from '../rules/index.ts';
import {
  dayInWindow,
  levelFor,
  levelIndex,
  metricNames,
  mergeMetricDeltas,
  thresholdScale,
  tierMetricSql,
  windowDaysAt,
  type MetricDelta,
  type TierChange,
} from '../tiers/index.ts';
import { compactTrace, type StoredTierTrace } from './trace.ts';
import { writeRound } from './write-round.ts';
import { parseEvent, validateForProgram, type FieldError, type ValidEvent } from './validate.ts';

export const BATCH_SIZE_MAX = 1000;
/**
 * Larger batches go straight to 'lock': their round trips are shared by many events, and the
 * chance that a concurrent batch touches one of their members grows with their size (four
 * concurrent batches of 500 over 20,000 members were measured slower with 'check' first).
 */
const CHECK_BATCH_SIZE_MAX = 64;
const TRANSACTION_ATTEMPTS_MAX = 3;

export interface EventResponse {
  eventId: string;
  memberId: string;
  pointsEarned: number;
  replayed: boolean;
  balance: { available: number; pending: number; held: number };
  tier: { id: string; name: string } | null;
  programVersion: number;
}

export type RejectionCode =
  'refund-of-unknown-event' | 'refund-exceeds-remaining' | 'refund-not-allowed' | 'member-unknown';

export type EventOutcome =
  | { status: 'created'; body: EventResponse }
  | { status: 'replayed'; body: EventResponse }
  | { status: 'invalid'; errors: FieldError[] }
  | { status: 'conflict'; detail: string }
  | { status: 'rejected'; code: RejectionCode; detail: string; pointer: string }
  | { status: 'unknown_program' };

export interface EventDeps {
  db: Kysely<Database>;
  programs: ProgramCache;
  now: () => Date;
  /** Member views to evict once a transaction that changed those members has committed. */
  members: MemberViewCache;
  /** Counts how batches were written, when given (tests; metrics later). */
  writes?: WriteCounts;
}

export interface WriteCounts {
  /** Batches written by one checked statement ('check'). */
  checked: number;
  /** Batches written under 'lock' (large, with rounds, or after a conflict). */
  locked: number;
  /** Events deferred by 'lock' because another transaction held their member's row. */
  deferred: number;
}

export interface Submission {
  raw: unknown;
  /** JSON Pointer prefix of this event in its request: '' for a single event, '/events/3' in a batch. */
  at: string;
  /** The client that sent it; rules may depend on the partner. */
  partnerId?: string;
}

/** Processes events for one program; answers one outcome per submission, in order. */
export async function processEvents(
  deps: EventDeps,
  programId: string,
  submissions: Submission[],
): Promise<EventOutcome[]> {
  const outcomes: (EventOutcome | undefined)[] = new Array(submissions.length).fill(undefined);
  const parsed = submissions.map((s) => parseEvent(s.raw, s.at));
  parsed.forEach((p, i) => {
    if (!p.ok) outcomes[i] = { status: 'invalid', errors: p.errors };
  });
  const pendingIndexes = parsed.flatMap((p, i) => (p.ok ? [i] : []));
  if (pendingIndexes.length === 0) return outcomes as EventOutcome[];

  const run = async (
    indexes: number[],
    guard: Guard,
    startDeferred?: (indexes: number[]) => void,
  ): Promise<BatchResult> => {
    const batch =
      guard === 'check'
        ? await processBatch(deps, deps.db, programId, submissions, parsed, indexes, guard)
        : await deps.db
            .transaction()
            .execute((trx) =>
              processBatch(
                deps,
                trx,
                programId,
                submissions,
                parsed,
                indexes,
                guard,
                startDeferred,
              ),
            );
    // After the commit: no read can cache a view older than what was just written.
    const changed = batch.results.flatMap(([, o]) =>
      o.status === 'created' ? [o.body.memberId] : [],
    );
    deps.members.invalidate(programId, changed);
    for (const [i, outcome] of batch.results) outcomes[i] = outcome;
    return batch;
  };

  // The events of members that another transaction holds wait for those rows in a transaction
  // of their own, on another connection, started as soon as 'lock' has skipped them: it waits
  // while this batch's own write runs rather than after it, so the batch takes the longer of
  // the two instead of their sum (four concurrent batches of 500 over 20,000 members defer
  // about a dozen events each). It never touches this batch's rows: every event of a skipped
  // member, and every refund of such an event, goes with it. Settles to the error it failed
  // with, if any; it is awaited before anything is answered.
  let early: Promise<unknown> | undefined;
  const startDeferred = (indexes: number[]) => {
    if (deps.writes) deps.writes.deferred += indexes.length;
    early = run(sortedIndexes(indexes), 'wait').then(
      () => undefined,
      (error: unknown) => error ?? new Error('deferred events failed'),
    );
  };
  const settleEarly = async () => {
    const error = early === undefined ? undefined : await early;
    early = undefined;
    return error;
  };
  try {
    let batch: BatchResult | undefined;
    if (pendingIndexes.length <= CHECK_BATCH_SIZE_MAX) {
      try {
        batch = await run(pendingIndexes, 'check');
        if (deps.writes) deps.writes.checked += 1;
      } catch (error) {
        if (!isWriteConflict(error)) throw error;
      }
    }
    if (batch === undefined) {
      if (deps.writes) deps.writes.locked += 1;
      batch = await run(pendingIndexes, 'lock', startDeferred);
    }
    const earlyError = await settleEarly();
    if (earlyError !== undefined) throw earlyError;
    // What could not start early (a batch of several rounds, or a repeated id whose first
    // occurrence was deferred) is written now, in order, once the rows it waits for are free.
    if (batch.deferred.length > 0) {
      if (deps.writes) deps.writes.deferred += batch.deferred.length;
      await run(sortedIndexes(batch.deferred), 'wait');
    }
  } catch (error) {
    const earlyError = await settleEarly();
    if (!isRetryable(error)) throw error;
    if (earlyError !== undefined && !isRetryable(earlyError)) throw earlyError;
    // Another transaction committed one of these event ids, or a deadlock or serialisation
    // failure hit: redo each event not yet answered on its own (a bounded number of times),
    // so one collision cannot fail its neighbours, and a replay now finds the committed event.
    for (const i of pendingIndexes) {
      if (outcomes[i] === undefined) await retried(() => run([i], 'wait'));
    }
  }
  return outcomes as EventOutcome[];
}

/**
 * An event's answer as stored: what its row does not hold already (see StoredAnswer), or, for
 * events stored before answers were stored so, the whole answer.
 */
interface StoredAnswerRow {
  id: string;
  h: string;
  r: StoredAnswer | EventResponse;
  m: string;
  p: number;
  v: number;
}

/**
 * The part of an event's answer that its row does not hold: the balance after it and the tier.
 * (About 100 bytes instead of 195 per event, sent, checked and written with every event.)
 */
export type StoredAnswer = Pick<EventResponse, 'balance' | 'tier'>;

/** The answer a replay gets: the first answer, put back together from the event's row. */
function answerOf(row: StoredAnswerRow): EventResponse {
  if ('eventId' in row.r) return row.r;
  return {
    eventId: row.id,
    memberId: row.m,
    pointsEarned: row.p,
    replayed: false,
    balance: row.r.balance,
    tier: row.r.tier,
    programVersion: row.v,
  };
}

/** Submission order: a member's events are evaluated in the order they were sent. */
function sortedIndexes(indexes: number[]): number[] {
  return [...indexes].sort((a, b) => a - b);
}

async function retried<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (error) {
      if (!isRetryable(error) || attempt >= TRANSACTION_ATTEMPTS_MAX) throw error;
    }
  }
}

function isRetryable(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === '23505' || code === '40001' || code === '40P01';
}

/**
 * How a 'check' write fails when something changed under it: a member row it read was
 * updated (40001, raised by the write itself), an event id or new member was inserted
 * meanwhile (23505), a lot it debits was spent meanwhile (23514), two writes crossed
 * (40P01), or the batch needs rounds.
 */
function isWriteConflict(error: unknown): boolean {
  if (error instanceof NeedsLock) return true;
  const code = (error as { code?: string }).code;
  return isRetryable(error) || code === '23514';
}

/** A batch that 'check' cannot write in one statement (it needs rounds). */
class NeedsLock extends Error {}

/**
 * See the top of this file. 'lock' skips member rows that another transaction holds and
 * defers their events; 'wait' (for those deferred events) waits for the rows instead.
 */
type Guard = 'check' | 'lock' | 'wait';

interface BatchResult {
  results: [number, EventOutcome][];
  /** Submissions left for a later transaction: their member's row was held by another. */
  deferred: number[];
}

type Parsed = ReturnType<typeof parseEvent>;

async function processBatch(
  deps: EventDeps,
  trx: Kysely<Database>,
  programId: string,
  submissions: Submission[],
  parsed: Parsed[],
  indexes: number[],
  guard: Guard,
  /** 'lock': starts the deferred events' own transaction at once (see processEvents). */
  startDeferred?: (indexes: number[]) => void,
): Promise<BatchResult> {
  const now = deps.now();
  const results: [number, EventOutcome][] = [];
  const items = indexes.map((i) => ({
    index: i,
    event: (parsed[i] as Extract<Parsed, { ok: true }>).event,
  }));

  // One round trip: the program version in force and the events already stored with these
  // ids. Replays are answered first: an id seen before with the same canonical body gets
  // its stored answer, even if today's program would no longer accept the event (its
  // occurredAt has left the backdating window, its type was removed): the answer stays.
  // A checked write reads its members unlocked, so the same round trip reads them too,
  // as of the version this process saw last (a guess the head's answer confirms: a different
  // version in force, whose tiers may count another metric, reads them again).
  const guess = guard === 'check' ? deps.programs.lastSeen(programId) : undefined;
  const guessedRead = guess
    ? memberRead(
        programId,
        [...new Set(items.map((v) => v.event.memberId))].sort(),
        false,
        guess.document,
        now,
      )
    : undefined;
  const head = await sql<
    {
      current_version: number;
      existing: StoredAnswerRow[];
    } & Partial<MemberRow>
  >`SELECT p.current_version,
      (SELECT coalesce(json_agg(json_build_object('id', e.id, 'h', e.body_hash, 'r', e.response,
          'm', e.member_id, 'p', e.points, 'v', e.program_version)), '[]'::json)
        FROM ${rowsByKey('events', 'e', programId, [...new Set(items.map((v) => v.event.id))])}) AS existing
      ${guessedRead ? sql`, m.*` : sql``}
    FROM programs p
    ${guessedRead ? sql`LEFT JOIN LATERAL (${guessedRead}) AS m ON true` : sql``}
    WHERE p.id = ${programId}`.execute(trx);
  const version = head.rows[0]?.current_version ?? 0;
  const prefetched =
    guess && guess.version === version
      ? head.rows.flatMap((row) =>
          row.id === undefined || row.id === null ? [] : [row as MemberRow],
        )
      : undefined;
  if (version === 0) {
    return { results: indexes.map((i) => [i, { status: 'unknown_program' }]), deferred: [] };
  }
  const program = await deps.programs.get(trx, programId, version);
  deps.programs.remember(programId, program);
  const existing = new Map<string, { hash: string; response: EventResponse }>();
  for (const row of head.rows[0]?.existing ?? [])
    existing.set(row.id, { hash: row.h, response: answerOf(row) });

  const firstInBatch = new Map<string, number>();
  const duplicates: { index: number; of: number }[] = [];
  const fresh: { index: number; event: ValidEvent }[] = [];
  const hashes = new Map(items.map((v) => [v.index, v.event.bodyHash]));
  const invalid = new Map<number, EventOutcome>();
  for (const item of items) {
    const stored = existing.get(item.event.id);
    if (stored) {
      results.push([
        item.index,
        stored.hash === item.event.bodyHash
          ? { status: 'replayed', body: { ...stored.response, replayed: true } }
          : {
              status: 'conflict',
              detail: `event ${item.event.id} was already received with a different body`,
            },
      ]);
      continue;
    }
    const first = firstInBatch.get(item.event.id);
    if (first !== undefined) {
      duplicates.push({ index: item.index, of: first });
      continue;
    }
    firstInBatch.set(item.event.id, item.index);
    const checked = validateForProgram(
      item.event,
      program,
      now,
      (submissions[item.index] as Submission).at,
    );
    if (checked.ok) fresh.push({ index: item.index, event: checked.event });
    else {
      const outcome: EventOutcome = { status: 'invalid', errors: checked.errors };
      invalid.set(item.index, outcome);
      results.push([item.index, outcome]);
    }
  }

  // Rounds: a refund of an event earlier in this batch waits for a round of its own.
  const rounds: (typeof fresh)[] = [];
  let roundIds = new Set<string>();
  for (const item of fresh) {
    const refundsThisRound = item.event.refundOf !== undefined && roundIds.has(item.event.refundOf);
    if (rounds.length === 0 || refundsThisRound) {
      rounds.push([]);
      roundIds = new Set();
    }
    (rounds.at(-1) as typeof fresh).push(item);
    roundIds.add(item.event.id);
  }
  // Decided before anything is written: a 'check' write commits at once.
  if (guard === 'check' && rounds.length > 1) throw new NeedsLock();
  const outcomesByIndex = new Map<number, EventOutcome>();
  const deferred: Deferred = {
    members: new Set(),
    events: new Set(),
    indexes: [],
    started: [],
    // Only a batch of one round knows, when it skips a row, every event that must wait.
    start: rounds.length === 1 ? startDeferred : undefined,
  };
  for (const round of rounds) {
    for (const [i, outcome] of await processRound(
      trx,
      programId,
      program,
      round,
      submissions,
      now,
      guard,
      deferred,
      deps.members.origin,
      prefetched,
    )) {
      outcomesByIndex.set(i, outcome);
    }
  }
  for (const [i, outcome] of outcomesByIndex) results.push([i, outcome]);

  const deferredIndexes = new Set([...deferred.indexes, ...deferred.started]);
  for (const dup of duplicates) {
    if (deferredIndexes.has(dup.of)) {
      // Its first occurrence is written later: so is it, and it is answered as a replay then.
      deferred.indexes.push(dup.index);
      continue;
    }
    const first = (outcomesByIndex.get(dup.of) ?? invalid.get(dup.of)) as EventOutcome;
    const sameBody = hashes.get(dup.index) === hashes.get(dup.of);
    if (!sameBody) {
      results.push([
        dup.index,
        {
          status: 'conflict',
          detail: 'the same event id appears earlier in this batch with a different body',
        },
      ]);
    } else if (first.status === 'created') {
      results.push([dup.index, { status: 'replayed', body: { ...first.body, replayed: true } }]);
    } else {
      results.push([dup.index, first]);
    }
  }
  return { results, deferred: deferred.indexes };
}

/** What 'lock' leaves for a later transaction, across the rounds of a batch. */
interface Deferred {
  /** Members whose row another transaction held: all their events in this batch wait. */
  members: Set<string>;
  /** The ids of the deferred events (a refund of one of them waits too). */
  events: Set<string>;
  /** Deferred events left for after this transaction. */
  indexes: number[];
  /** Deferred events already handed to `start`. */
  started: number[];
  /** Set when deferred events can start their own transaction at once. */
  start: ((indexes: number[]) => void) | undefined;
}

export interface MemberState {
  id: string;
  isNew: boolean;
  createdThisRound: boolean;
  /** The write inserts this row ('check': the member did not exist when read). */
  insert: boolean;
  /** The row version read ('check' writes only if it is still the same). */
  xmin: string | null;
  /** Where that row version is: the write finds the row by it, whatever the statistics. */
  ctid: string | null;
  available: bigint;
  pending: bigint;
  held: bigint;
  tierId: string | null;
  tierSince: Date | null;
  attributes: Record<string, unknown>;
  /** Lifetime metrics, updated with each event of this round. */
  stats: MemberStats;
  /** The rule segments the member is in (as of its last event). */
  segments: string[];
  /** The static segments the member's id was imported into. */
  staticSegments: string[];
  changed: boolean;
}

/** The metrics a tier counts and the days of its window today, in the program's time zone. */
function tierWindow(document: ProgramDocument, now: Date) {
  const tiers = document.tiers;
  return {
    metrics: tiers ? metricNames(tiers, document.currencies[0] as string) : [],
    range: tiers ? windowDaysAt(tiers.window, document.timeZone, now) : { from: null, to: null },
  };
}

/** A member's row as the event path reads it, with its tier metric before the round. */
interface MemberRow {
  id: string;
  available: bigint;
  pending: bigint;
  held: bigint;
  tier_id: string | null;
  /** Instants as milliseconds since the epoch (see memberRead). */
  tier_since: bigint | null;
  attributes: Record<string, unknown>;
  /** The row version read and where it is (see MemberState). */
  xmin: string;
  ctid: string;
  lifetime_spend: bigint;
  lifetime_points: bigint;
  event_count: bigint;
  first_event_at: bigint | null;
  last_event_at: bigint | null;
  counters: Record<string, number | string>;
  segments: string[];
  tier_value: bigint | null;
}

function instantOf(ms: bigint | null): Date | null {
  return ms === null ? null : new Date(Number(ms));
}

/**
 * The rows of these members, found and locked as rowsByKey says, each with its tier metric
 * as of today in the program's time zone (before the round's events) read in the same
 * statement.
 */
function memberRead(
  programId: string,
  memberIds: string[],
  lock: 'wait' | 'skip' | false,
  document: ProgramDocument,
  now: Date,
) {
  const { metrics, range } = tierWindow(document, now);
  // Instants travel as whole milliseconds (what a Date holds): formatting a timestamptz as
  // text and parsing it back in Node cost more, on both sides, than this arithmetic.
  return sql<MemberRow>`SELECT m.id, m.available, m.pending, m.held,
      m.tier_id, floor(extract(epoch FROM m.tier_since) * 1000)::int8 AS tier_since, m.attributes,
      m.row_xmin::text AS xmin, m.row_ctid::text AS ctid, m.lifetime_spend, m.lifetime_points, m.event_count,
      floor(extract(epoch FROM m.first_event_at) * 1000)::int8 AS first_event_at,
      floor(extract(epoch FROM m.last_event_at) * 1000)::int8 AS last_event_at, m.counters,
      m.segments, ${tierMetricSql(metrics, range)} AS tier_value
    FROM ${rowsByKey('members', 'm', programId, memberIds, lock)}`;
}

interface Original {
  id: string;
  memberId: string;
  type: string;
  amountMinor: bigint | null;
  currency: string | null;
  points: bigint;
  refundOf: string | null;
  occurredAt: Date;
  earnEntryId: bigint | null;
  refundedMinor: bigint;
  reversedPoints: bigint;
}

async function processRound(
  trx: Kysely<Database>,
  programId: string,
  program: CompiledProgram,
  roundItems: { index: number; event: ValidEvent }[],
  submissions: Submission[],
  now: Date,
  guard: Guard,
  deferred: Deferred,
  /** Marks the round's invalidations as this process's (see MemberViewCache.origin). */
  origin: string,
  /** 'check': the member rows the batch's first statement read (see processBatch). */
  prefetched?: MemberRow[],
): Promise<[number, EventOutcome][]> {
  const defer = (item: { index: number; event: ValidEvent }) => {
    deferred.members.add(item.event.memberId);
    deferred.events.add(item.event.id);
    deferred.indexes.push(item.index);
  };
  // A member whose row was held in an earlier round keeps its events in order: all wait.
  const items = roundItems.filter((item) => {
    const waits =
      deferred.members.has(item.event.memberId) ||
      (item.event.refundOf !== undefined && deferred.events.has(item.event.refundOf));
    if (waits) defer(item);
    return !waits;
  });
  const document = program.document;
  const settings = document.settings ?? { createMembersOnEvent: true, negativeBalance: 'allow' };
  const tiers = document.tiers;
  const baseCurrency = document.currencies[0] as string;
  const out: [number, EventOutcome][] = [];
  const reject = (index: number, code: RejectionCode, detail: string, pointer: string) =>
    out.push([
      index,
      {
        status: 'rejected',
        code,
        detail,
        pointer: `${(submissions[index] as Submission).at}${pointer}`,
      },
    ]);

  // Refunds need their originals; the originals' refund totals are read after the member
  // rows are locked, so two concurrent refunds of one purchase cannot both pass the check.
  const refundIds = [
    ...new Set(items.flatMap((i) => (i.event.refundOf ? [i.event.refundOf] : []))),
  ];
  const originalMembers = new Map<string, string>();
  if (refundIds.length > 0) {
    const rows = await sql<{ id: string; member_id: string }>`
      SELECT e.id, e.member_id FROM ${rowsByKey('events', 'e', programId, refundIds)}`.execute(trx);
    for (const row of rows.rows) originalMembers.set(row.id, row.member_id);
  }
  const accepted: typeof items = [];
  for (const item of items) {
    const of = item.event.refundOf;
    if (of === undefined) accepted.push(item);
    else if (!originalMembers.has(of)) {
      reject(
        item.index,
        'refund-of-unknown-event',
        `event ${of} is not known to this program`,
        '/refundOf',
      );
    } else if (originalMembers.get(of) !== item.event.memberId) {
      reject(
        item.index,
        'refund-not-allowed',
        `event ${of} belongs to another member`,
        '/memberId',
      );
    } else accepted.push(item);
  }

  const { metrics: tierMetrics, range } = tierWindow(document, now);
  const baseline = new Map<string, bigint>();

  // Lock (creating where the program allows it) every member row, in sorted order.
  const memberIds = [...new Set(accepted.map((i) => i.event.memberId))].sort();
  const createIds = settings.createMembersOnEvent
    ? [
        ...new Set(
          accepted.filter((i) => i.event.refundOf === undefined).map((i) => i.event.memberId),
        ),
      ].sort()
    : [];
  const lowest = tiers?.levels[0];
  const members = new Map<string, MemberState>();
  if (memberIds.length > 0) {
    const inserted = new Set<string>();
    if (createIds.length > 0 && guard !== 'check') {
      // Sorted input, so concurrent batches insert (and wait on each other's inserts) in one
      // order; a conflict leaves the existing row alone (no new row version). Existing rows
      // are not even tried: the uniqueness check of an insert waits for a transaction that
      // is updating the row it conflicts with, and 'lock' must not wait for member rows.
      // Nor for a new member that another 'lock' transaction is creating: each creation
      // takes a try-lock on the id first, and the events of an id it cannot take wait for a
      // later transaction. (LIMIT keeps the probe a lookup by key, whatever the statistics.)
      const created = await sql<{
        id: string;
      }>`INSERT INTO members (program_id, id, created_at, updated_at, tier_id, tier_since)
          SELECT ${programId}, id, ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz,
            ${lowest?.id ?? null}::text, ${lowest ? now.toISOString() : null}::timestamptz
          FROM unnest(${createIds}::text[]) WITH ORDINALITY AS t(id, n)
          WHERE NOT EXISTS (SELECT 1 FROM (SELECT 1 FROM members e
              WHERE e.program_id = ${programId} AND e.id = t.id LIMIT 1) AS found)
            ${guard === 'lock' ? sql`AND pg_try_advisory_xact_lock(hashtext(${`patron.member-creation:${programId}`}), hashtext(t.id))` : sql``}
          ORDER BY n
          ON CONFLICT (program_id, id) DO NOTHING RETURNING id`.execute(trx);
      for (const row of created.rows) inserted.add(row.id);
    }
    // Then every row is locked in sorted order (bytewise), so concurrent postings cannot
    // deadlock. Each row is found by its key (see rowsByKey).
    const lock = guard === 'check' ? false : guard === 'lock' ? 'skip' : 'wait';
    const wanted = new Set(memberIds);
    const rows = prefetched
      ? prefetched.filter((row) => wanted.has(row.id))
      : (await memberRead(programId, memberIds, lock, document, now).execute(trx)).rows;
    for (const row of rows) if (row.tier_value !== null) baseline.set(row.id, row.tier_value);
    if (lock === 'skip' && rows.length < memberIds.length) {
      // A row not returned is held by another transaction, or being created by one (its
      // events wait for a later transaction, so this one never waits for a member row), or
      // does not exist.
      const found = new Set(rows.map((r) => r.id));
      const creatable = new Set(createIds);
      const missing = memberIds.filter((id) => !found.has(id));
      for (const id of missing) if (creatable.has(id)) deferred.members.add(id);
      const unsure = missing.filter((id) => !creatable.has(id));
      if (unsure.length > 0) {
        const held = await sql<{ id: string }>`SELECT m.id
          FROM ${rowsByKey('members', 'm', programId, unsure)}`.execute(trx);
        for (const row of held.rows) deferred.members.add(row.id);
      }
      for (let i = accepted.length - 1; i >= 0; i -= 1) {
        const item = accepted[i] as (typeof accepted)[number];
        if (deferred.members.has(item.event.memberId)) {
          defer(item);
          accepted.splice(i, 1);
        }
      }
      if (deferred.start && deferred.indexes.length > 0) {
        deferred.started.push(...deferred.indexes);
        deferred.start(deferred.indexes);
        deferred.indexes = [];
      }
    }
    for (const row of rows) {
      members.set(row.id, {
        id: row.id,
        isNew: inserted.has(row.id),
        createdThisRound: inserted.has(row.id),
        insert: false,
        xmin: row.xmin,
        ctid: row.ctid,
        available: row.available,
        pending: row.pending,
        held: row.held,
        tierId: row.tier_id,
        tierSince: instantOf(row.tier_since),
        attributes: row.attributes ?? {},
        stats: statsOfRow({
          lifetime_spend: row.lifetime_spend,
          lifetime_points: row.lifetime_points,
          event_count: row.event_count,
          first_event_at: instantOf(row.first_event_at),
          last_event_at: instantOf(row.last_event_at),
          counters: row.counters,
        }),
        segments: row.segments ?? [],
        staticSegments: [],
        changed: false,
      });
    }
    // 'check' creates the members it did not find in its write, as the INSERT above would.
    for (const id of guard === 'check' ? createIds : []) {
      if (members.has(id)) continue;
      members.set(id, {
        id,
        isNew: true,
        createdThisRound: true,
        insert: true,
        xmin: null,
        ctid: null,
        available: 0n,
        pending: 0n,
        held: 0n,
        tierId: lowest?.id ?? null,
        tierSince: lowest ? now : null,
        attributes: {},
        stats: { ...EMPTY_STATS, counters: {} },
        segments: [],
        staticSegments: [],
        changed: false,
      });
    }
  }

  // Static segments the members were imported into (rule segments are on their rows).
  const staticIds = (document.segments ?? []).filter((g) => g.type === 'static').map((g) => g.id);
  if (staticIds.length > 0 && members.size > 0) {
    const rows = await sql<{ member_id: string; segments: string[] }>`
      SELECT member_id, array_agg(segment_id ORDER BY segment_id) AS segments FROM segment_members
      WHERE program_id = ${programId} AND member_id = ANY(${[...members.keys()]}::text[])
        AND segment_id = ANY(${staticIds}::text[])
      GROUP BY member_id`.execute(trx);
    for (const row of rows.rows) {
      const member = members.get(row.member_id);
      if (member) member.staticSegments = row.segments;
    }
  }

  const originals = new Map<string, Original>();
  if (refundIds.length > 0) {
    const rows = await sql<{
      id: string;
      member_id: string;
      type: string;
      amount_minor: bigint | null;
      currency: string | null;
      points: bigint;
      refund_of: string | null;
      occurred_at: Date;
      earn_entry_id: bigint | null;
      refunded_minor: bigint;
      reversed_points: bigint;
    }>`SELECT e.id, e.member_id, e.type, e.amount_minor, e.currency, e.points, e.refund_of, e.occurred_at,
          (SELECT j.id FROM journal_entries j WHERE j.program_id = e.program_id AND j.event_id = e.id AND j.kind = 'earn'
            ORDER BY j.id LIMIT 1) AS earn_entry_id,
          coalesce((SELECT sum(r.amount_minor) FROM events r WHERE r.program_id = e.program_id AND r.refund_of = e.id), 0)::bigint
            AS refunded_minor,
          coalesce((SELECT -sum(r.points) FROM events r WHERE r.program_id = e.program_id AND r.refund_of = e.id), 0)::bigint
            AS reversed_points
        FROM ${rowsByKey('events', 'e', programId, refundIds)}`.execute(trx);
    for (const r of rows.rows) {
      originals.set(r.id, {
        id: r.id,
        memberId: r.member_id,
        type: r.type,
        amountMinor: r.amount_minor,
        currency: r.currency,
        points: r.points,
        refundOf: r.refund_of,
        occurredAt: r.occurred_at,
        earnEntryId: r.earn_entry_id,
        refundedMinor: r.refunded_minor,
        reversedPoints: r.reversed_points,
      });
    }
  }
  const refundMembers = [
    ...new Set(accepted.filter((i) => i.event.refundOf).map((i) => i.event.memberId)),
  ].sort();
  const lotsByMember = await openLots(trx, programId, refundMembers);
  const pendingLots = await pendingLotsOf(
    trx,
    programId,
    [...originals.values()].flatMap((o) => (o.earnEntryId === null ? [] : [o.earnEntryId])),
  );
  const voidedFromLot = new Map<bigint, bigint>();

  // Per-member caps: what each rule already gave in the periods these events touch.
  const locals = new Map(
    accepted.map((i) => [i.index, localTime(i.event.occurredAt, document.timeZone)]),
  );
  const usage = new Map<string, bigint>();
  const usageKeys: { member: string; rule: string; period: string }[] = [];
  for (const item of accepted) {
    if (item.event.refundOf) continue;
    for (const key of program.capKeys(item.event.type, locals.get(item.index)!)) {
      const [rule, period] = key.split('|') as [string, string];
      usageKeys.push({ member: item.event.memberId, rule, period });
    }
  }
  if (usageKeys.length > 0) {
    // One probe of the primary key per counter (see rowsByKey for why not a join).
    const rows = await sql<{ member_id: string; rule_id: string; period: string; points: bigint }>`
      SELECT u.member_id, u.rule_id, u.period, u.points
      FROM unnest(${usageKeys.map((k) => k.member)}::text[], ${usageKeys.map((k) => k.rule)}::text[],
        ${usageKeys.map((k) => k.period)}::text[]) AS k(member_id, rule_id, period)
      CROSS JOIN LATERAL (SELECT u.member_id, u.rule_id, u.period, u.points FROM rule_usage u
        WHERE u.program_id = ${programId} AND u.member_id = k.member_id AND u.rule_id = k.rule_id
          AND u.period = k.period LIMIT 1) AS u`.execute(trx);
    for (const r of rows.rows) usage.set(`${r.member_id}|${r.rule_id}|${r.period}`, r.points);
  }

  // Campaigns' program-wide counters (budgets, perCampaign caps), read after the members:
  // 'lock' creates the rows it needs and locks them in sorted order, 'check' reads their row
  // versions and its write refuses to proceed if any changed meanwhile.
  const campaignKeySet = new Set<string>();
  for (const item of accepted) {
    if (item.event.refundOf) continue;
    for (const key of program.campaignKeys(item.event.type, locals.get(item.index)!))
      campaignKeySet.add(key);
  }
  const campaignKeys = [...campaignKeySet].sort();
  const campaignUsage = new Map<
    string,
    { points: bigint; xmin: string | null; ctid: string | null }
  >();
  if (campaignKeys.length > 0) {
    const ids = campaignKeys.map((k) => k.slice(0, k.indexOf('|')));
    const periods = campaignKeys.map((k) => k.slice(k.indexOf('|') + 1));
    if (guard !== 'check') {
      await sql`INSERT INTO campaign_usage (program_id, campaign_id, period, points)
        SELECT ${programId}, campaign_id, period, 0
        FROM unnest(${ids}::text[], ${periods}::text[]) WITH ORDINALITY AS k(campaign_id, period, n) ORDER BY n
        ON CONFLICT DO NOTHING`.execute(trx);
    }
    // One probe of the primary key per counter, in sorted order (the order rows are locked).
    const rows = await sql<{
      campaign_id: string;
      period: string;
      points: bigint;
      xmin: string;
      ctid: string;
    }>`SELECT u.campaign_id, u.period, u.points, u.xmin::text AS xmin, u.ctid::text AS ctid
      FROM (SELECT k.campaign_id, k.period FROM unnest(${ids}::text[], ${periods}::text[]) AS k(campaign_id, period)
        ORDER BY k.campaign_id COLLATE "C", k.period COLLATE "C") AS k
      CROSS JOIN LATERAL (SELECT u.campaign_id, u.period, u.points, u.xmin, u.ctid FROM campaign_usage u
        WHERE u.program_id = ${programId} AND u.campaign_id = k.campaign_id AND u.period = k.period
        LIMIT 1 ${guard !== 'check' ? sql`FOR UPDATE` : sql``}) AS u`.execute(trx);
    for (const r of rows.rows)
      campaignUsage.set(`${r.campaign_id}|${r.period}`, {
        points: r.points,
        xmin: r.xmin,
        ctid: r.ctid,
      });
  }
  const campaignDeltas = new Map<string, bigint>();

  const scale = tiers ? thresholdScale(tiers, baseCurrency) : 1n;

  const ledger = new LedgerBatch(programId);
  const metricDeltas: MetricDelta[] = [];
  const usageDeltas = new Map<string, bigint>();
  const tierChanges: TierChange[] = [];
  const stored: { item: ValidEvent; points: bigint; response: EventResponse; trace: unknown }[] =
    [];
  const allowDebt = settings.negativeBalance !== 'forbid';

  // The tier metric of each member as this round's events add to it (in the window only).
  const tierValues = new Map(baseline);
  const tierValue = (memberId: string): bigint => tierValues.get(memberId) ?? 0n;
  const levelName = (id: string | null) =>
    id === null ? null : (tiers?.levels.find((l) => l.id === id)?.name ?? id);
  // Only the metrics some tier rule can read are recorded: points always, plus the
  // metric of the version's tiers (spend, amounts or counts of given event types).
  const recorded = new Set(['points', ...tierMetrics]);
  const pushMetrics = (memberId: string, day: string, values: [string, bigint][]) => {
    for (const [metric, value] of values) {
      if (!recorded.has(metric) || value === 0n) continue;
      metricDeltas.push({ memberId, metric, day, value });
      if (tierMetrics.includes(metric) && dayInWindow(day, range)) {
        tierValues.set(memberId, tierValue(memberId) + value);
      }
    }
  };

  for (const member of members.values()) {
    if (member.createdThisRound && member.tierId !== null) {
      tierChanges.push({
        memberId: member.id,
        fromTier: null,
        toTier: member.tierId,
        reason: 'event',
        eventId: null,
        metricValue: 0n,
        programVersion: program.version,
        changedAt: now,
      });
    }
  }

  for (const { index, event } of accepted) {
    const member = members.get(event.memberId);
    if (!member) {
      reject(
        index,
        'member-unknown',
        `member ${event.memberId} does not exist and this program does not create members from events`,
        '/memberId',
      );
      continue;
    }
    const local = locals.get(index)!;
    const tierBefore = member.tierId;
    let points = 0n;
    let trace: Record<string, unknown>;
    // What the stored trace adds after the engine's (or the refund's) own facts, in order.
    const traceExtra: Record<string, unknown> = {};
    let tierReason: 'event' | 'refund' = 'event';
    let segmentTrace: SegmentTrace | null = null;

    if (event.refundOf !== undefined) {
      const original = originals.get(event.refundOf) as Original;
      const refundMinor = event.amountMinor as bigint;
      if (original.refundOf !== null) {
        reject(index, 'refund-not-allowed', `event ${original.id} is itself a refund`, '/refundOf');
        continue;
      }
      if (original.amountMinor === null || original.currency === null) {
        reject(
          index,
          'refund-not-allowed',
          `event ${original.id} has no amount to refund`,
          '/refundOf',
        );
        continue;
      }
      if (original.currency !== event.amount?.currency) {
        reject(
          index,
          'refund-not-allowed',
          `event ${original.id} was paid in ${original.currency}`,
          '/amount/currency',
        );
        continue;
      }
      const remainingMinor = original.amountMinor - original.refundedMinor;
      if (refundMinor > remainingMinor) {
        reject(
          index,
          'refund-exceeds-remaining',
          `only ${formatAmount(remainingMinor, original.currency)} ${original.currency} of event ${original.id} remains to be refunded`,
          '/amount/value',
        );
        continue;
      }
      // Proportional reversal of what was posted, rounded down on the cumulative refunded
      // amount, so partial refunds that add up to the whole reverse exactly every point.
      const cumulativeMinor = original.refundedMinor + refundMinor;
      const reversedTarget =
        original.amountMinor === 0n
          ? original.points
          : (original.points * cumulativeMinor) / original.amountMinor;
      const toReverse = reversedTarget - original.reversedPoints;
      // Points of the purchase still pending (its return window) are voided first: they
      // were never spendable, so the member's available points are touched only for the rest.
      const pendingLot =
        original.earnEntryId === null ? undefined : pendingLots.get(original.earnEntryId);
      const voided = pendingLot
        ? min(toReverse, pendingLot.remaining - (voidedFromLot.get(pendingLot.id) ?? 0n))
        : 0n;
      if (pendingLot && voided > 0n) {
        ledger.voidPending(
          {
            memberId: member.id,
            kind: 'refund',
            eventId: event.id,
            correctsEntryId: original.earnEntryId,
            programVersion: program.version,
            effectiveAt: event.occurredAt,
          },
          pendingLot,
          voided,
        );
        voidedFromLot.set(pendingLot.id, (voidedFromLot.get(pendingLot.id) ?? 0n) + voided);
        member.pending -= voided;
      }
      let debited = 0n;
      let fromLots: { lotId: bigint; amount: bigint }[] = [];
      if (toReverse - voided > 0n) {
        const lots = orderForRefund(lotsByMember.get(member.id) ?? [], original.earnEntryId);
        const result = ledger.debit(
          {
            memberId: member.id,
            kind: 'refund',
            eventId: event.id,
            correctsEntryId: original.earnEntryId,
            programVersion: program.version,
            effectiveAt: event.occurredAt,
          },
          toReverse - voided,
          lots,
          allowDebt,
        );
        debited = result.debited;
        fromLots = result.fromLots;
      }
      points = -(voided + debited);
      member.available -= debited;
      member.stats.points += points;
      if (
        document.eventTypes[original.type]?.kind === 'purchase' &&
        original.currency === baseCurrency
      )
        member.stats.spendMinor -= refundMinor;
      segmentTrace = enterSegments(
        member,
        program.segmentsFor({
          event: {
            id: event.id,
            type: event.type,
            memberId: event.memberId,
            occurredAt: event.occurredAt,
            attributes: event.attributes,
          },
          member: {
            id: member.id,
            tierId: member.tierId,
            isNew: false,
            attributes: member.attributes,
            metrics: metricsOf(member.stats, document, event.occurredAt, member.stats.lastEventAt),
          },
          local,
          capUsage: new Map(),
        }),
      );
      original.refundedMinor = cumulativeMinor;
      original.reversedPoints += voided + debited;
      const originalDay = localTime(original.occurredAt, document.timeZone).date;
      const metrics: [string, bigint][] = [['points', points]];
      const kind = document.eventTypes[original.type]?.kind;
      if (kind === 'purchase') metrics.push([`spend:${original.currency}`, -refundMinor]);
      metrics.push([`amount:${original.type}:${original.currency}`, -refundMinor]);
      pushMetrics(member.id, originalDay, metrics);
      tierReason = 'refund';
      trace = {
        programVersion: program.version,
        kind: 'refund',
        refundOf: original.id,
        originalAmount: {
          value: formatAmount(original.amountMinor, original.currency),
          currency: original.currency,
        },
        refundedBefore: formatAmount(cumulativeMinor - refundMinor, original.currency),
        refundedNow: formatAmount(refundMinor, original.currency),
        originalPoints: Number(original.points),
        reversedBefore: Number(original.reversedPoints + points),
        reversal: {
          rule: 'floor(originalPoints × refundedTotal ÷ originalAmount) − reversedBefore',
          computed: `floor(${original.points} × ${formatAmount(cumulativeMinor, original.currency)} ÷ ${formatAmount(original.amountMinor, original.currency)}) − ${original.reversedPoints + points} = ${toReverse}`,
          points: Number(toReverse),
        },
        ...(voided + debited !== toReverse
          ? {
              limitedBy: {
                policy: 'negativeBalance: forbid',
                requested: Number(toReverse),
                reversed: Number(voided + debited),
              },
            }
          : {}),
        ...(voided > 0n ? { fromPending: Number(voided) } : {}),
        fromLots: fromLots.map((l) => ({ lotId: String(l.lotId), points: Number(l.amount) })),
        points: Number(points),
      };
    } else {
      const capUsage = new Map<string, bigint>();
      for (const key of program.capKeys(event.type, local)) {
        const [rule, period] = key.split('|') as [string, string];
        const k = `${member.id}|${rule}|${period}`;
        capUsage.set(key, (usage.get(k) ?? 0n) + (usageDeltas.get(k) ?? 0n));
      }
      // Optional fields are set only when present (as the rules see them: `has(event.amount)`).
      const inputEvent: EvaluationInput['event'] = {
        id: event.id,
        type: event.type,
        memberId: event.memberId,
        occurredAt: event.occurredAt,
        attributes: event.attributes,
      };
      if (event.amount && event.amountMinor !== undefined) {
        inputEvent.amount = {
          minor: event.amountMinor,
          currency: event.amount.currency,
          value: event.amount.value,
        };
      }
      const partnerId = submissions[index]?.partnerId;
      if (partnerId) inputEvent.partnerId = partnerId;
      const input: EvaluationInput = {
        event: inputEvent,
        member: {
          id: member.id,
          tierId: member.tierId,
          isNew: member.isNew,
          attributes: member.attributes,
        },
        local,
        capUsage,
        campaignUsage: new Map(
          program
            .campaignKeys(event.type, local)
            .map((key) => [
              key,
              (campaignUsage.get(key)?.points ?? 0n) + (campaignDeltas.get(key) ?? 0n),
            ]),
        ),
      };
      // Metrics count this event in before anything reads them, so the event that qualifies
      // a member for a segment is already evaluated in it.
      const previousEventAt = member.stats.lastEventAt;
      countEvent(member.stats, event, baseCurrency, document, program.countersFor(input));
      input.member.metrics = metricsOf(member.stats, document, event.occurredAt, previousEventAt);
      segmentTrace = enterSegments(member, program.segmentsFor(input));
      input.member.segments = segmentTrace.in;
      const evaluation = program.evaluate(input);
      member.stats.points += evaluation.points;
      member.isNew = false;
      for (const u of evaluation.campaignUsage) {
        const key = `${u.campaignId}|${u.period}`;
        campaignDeltas.set(key, (campaignDeltas.get(key) ?? 0n) + u.points);
      }
      points = evaluation.points;
      for (const u of evaluation.usage) {
        const k = `${member.id}|${u.ruleId}|${u.period}`;
        usageDeltas.set(k, (usageDeltas.get(k) ?? 0n) + u.points);
      }
      const pendingUntil = pendingUntilFor(document, event.type, event.occurredAt);
      const earnMeta = {
        memberId: member.id,
        kind: 'earn' as const,
        eventId: event.id,
        correctsEntryId: null,
        programVersion: program.version,
        effectiveAt: event.occurredAt,
      };
      if (points > 0n && pendingUntil !== null && pendingUntil > now) {
        ledger.creditPending(
          earnMeta,
          points,
          lotExpiresAt(document, event.occurredAt),
          pendingUntil,
        );
        member.pending += points;
      } else if (points > 0n) {
        ledger.credit(earnMeta, points, member.available, lotExpiresAt(document, event.occurredAt));
        member.available += points;
      }
      const metrics: [string, bigint][] = [
        ['points', points],
        [`count:${event.type}`, 1n],
      ];
      if (event.amount && event.amountMinor !== undefined) {
        metrics.push([`amount:${event.type}:${event.amount.currency}`, event.amountMinor]);
        if (document.eventTypes[event.type]?.kind === 'purchase')
          metrics.push([`spend:${event.amount.currency}`, event.amountMinor]);
      }
      pushMetrics(member.id, local.date, metrics);
      trace = evaluation.trace as unknown as Record<string, unknown>;
      // The partner that sent the event: a simulation evaluates its rules again later.
      if (input.event.partnerId !== undefined) traceExtra.partnerId = input.event.partnerId;
      if (points > 0n && pendingUntil !== null && pendingUntil > now) {
        // Explain says why the points are not spendable yet, and until when.
        traceExtra.pending = {
          until: pendingUntil.toISOString(),
          days: document.settings?.pending?.days,
        };
      }
    }
    member.changed = true;

    // Tier: the event was evaluated at the tier the member had; a crossing applies from the
    // next event. Events only lift a member; a refund only lowers one (it only lowers the metric).
    let tierTrace: StoredTierTrace | null = null;
    if (tiers) {
      const value = tierValue(member.id);
      const target = levelFor(tiers, scale, value);
      const targetIndex = levelIndex(tiers, target.id);
      const currentIndex = levelIndex(tiers, member.tierId);
      const moves =
        tierReason === 'refund' ? targetIndex < currentIndex : targetIndex > currentIndex;
      if (moves) {
        tierChanges.push({
          memberId: member.id,
          fromTier: member.tierId,
          toTier: target.id,
          reason: tierReason,
          eventId: event.id,
          metricValue: value,
          programVersion: program.version,
          changedAt: now,
        });
        member.tierId = target.id;
        member.tierSince = now;
      }
      // Explain puts back the metric, the window, whether it changed and the sentence.
      tierTrace = { value: Number(value), before: tierBefore, after: member.tierId };
    }
    // Stored only when the event moved the member in or out of a segment, or it is in one.
    if (
      segmentTrace &&
      segmentTrace.in.length + segmentTrace.entered.length + segmentTrace.left.length > 0
    )
      traceExtra.segments = segmentTrace;
    traceExtra.tier = tierTrace;
    const response: EventResponse = {
      eventId: event.id,
      memberId: member.id,
      pointsEarned: Number(points),
      replayed: false,
      balance: {
        available: Number(member.available),
        pending: Number(member.pending),
        held: Number(member.held),
      },
      tier:
        member.tierId === null
          ? null
          : { id: member.tierId, name: levelName(member.tierId) as string },
      programVersion: program.version,
    };
    stored.push({
      item: event,
      points,
      response,
      trace: compactTrace(trace, traceExtra, document),
    });
    out.push([index, { status: 'created', body: response }]);
  }

  await writeRound(trx, {
    programId,
    origin,
    version: program.version,
    now,
    stored,
    ledger: ledger.rows(),
    members: [...members.values()].filter((m) => m.changed || m.createdThisRound),
    metrics: mergeMetricDeltas(metricDeltas),
    usage: usageDeltas,
    campaigns: [...campaignDeltas].map(([key, points]) => ({
      campaignId: key.slice(0, key.indexOf('|')),
      period: key.slice(key.indexOf('|') + 1),
      points,
      xmin: campaignUsage.get(key)?.xmin ?? null,
      ctid: campaignUsage.get(key)?.ctid ?? null,
    })),
    tierChanges,
  });
  return out;
}

/**
 * When the points an event of `type` earns become available, if the program makes them wait
 * (settings.pending): `days` after the event happened. Null: available at once.
 */
function pendingUntilFor(document: ProgramDocument, type: string, occurredAt: Date): Date | null {
  const pending = document.settings?.pending;
  if (!pending || !pending.eventTypes.includes(type)) return null;
  return new Date(occurredAt.getTime() + pending.days * 86_400_000);
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/** A refund takes back the points from the purchase's own lot first, then soonest-expiring. */
function orderForRefund(
  lots: (LotRow & { entryId: bigint })[],
  earnEntryId: bigint | null,
): LotRow[] {
  const own = lots.filter((l) => l.entryId === earnEntryId);
  const others = lots.filter((l) => l.entryId !== earnEntryId);
  return [...own, ...others];
}

/** The member's segments at an event, and the rule segments it entered or left with it. */
interface SegmentTrace {
  in: string[];
  entered: string[];
  left: string[];
}

function enterSegments(member: MemberState, ruleSegments: string[]): SegmentTrace {
  const before = new Set(member.segments);
  const after = new Set(ruleSegments);
  const trace: SegmentTrace = {
    in: [...new Set([...ruleSegments, ...member.staticSegments])].sort(),
    entered: ruleSegments.filter((id) => !before.has(id)),
    left: member.segments.filter((id) => !after.has(id)),
  };
  member.segments = [...ruleSegments].sort();
  return trace;
}

/** Counts an earning event into the member's lifetime metrics. */
function countEvent(
  stats: MemberStats,
  event: ValidEvent,
  baseCurrency: string,
  document: ProgramDocument,
  counters: string[],
): void {
  stats.events += 1n;
  if (
    event.amountMinor !== undefined &&
    event.amount?.currency === baseCurrency &&
    document.eventTypes[event.type]?.kind === 'purchase'
  ) {
    stats.spendMinor += event.amountMinor;
  }
  if (stats.firstEventAt === null || event.occurredAt < stats.firstEventAt)
    stats.firstEventAt = event.occurredAt;
  if (stats.lastEventAt === null || event.occurredAt > stats.lastEventAt)
    stats.lastEventAt = event.occurredAt;
  if (counters.length > 0) {
    stats.counters = { ...stats.counters };
    for (const id of counters) stats.counters[id] = (stats.counters[id] ?? 0n) + 1n;
  }
}
