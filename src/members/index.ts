// Members: profile attributes, the O(1) balance row, tier and progress, and the ledger view.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { nextExpiryOf, nextExpirySql } from '../expiry/index.ts';
import type { ProgramCache } from '../programs/index.ts';
import { INVALIDATION_CHANNEL, type MemberViewCache } from './cache.ts';
import { formatAmount } from '../money/index.ts';
import { localTime } from '../rules/index.ts';
import {
  metricNames,
  progressToward,
  tierMetricSql,
  windowDays,
  type TierProgress,
} from '../tiers/index.ts';

export const PAGE_SIZE_DEFAULT = 50;
export const PAGE_SIZE_MAX = 500;
export const MEMBER_ATTRIBUTES_MAX = 64;

export interface MemberView {
  id: string;
  createdAt: string;
  attributes: Record<string, unknown>;
  balance: { available: number; pending: number; held: number };
  tier: { id: string; name: string; since: string | null } | null;
  progress: TierProgress | null;
  /** The soonest instant some of the member's points expire, and how many expire then. */
  nextExpiry: { at: string; points: number } | null;
  segments: { id: string; name: string }[];
  metrics: {
    lifetimeSpend: { value: string; currency: string };
    points: number;
    events: number;
    firstEventAt: string | null;
    lastEventAt: string | null;
    counters: Record<string, number>;
  };
}

export async function getMember(
  db: Kysely<Database>,
  programs: ProgramCache,
  programId: string,
  memberId: string,
  now: Date,
  cache?: MemberViewCache,
): Promise<MemberView | undefined> {
  // From the hot cache when it holds this member for the version in force and today;
  // otherwise one round trip: the member, its tier metric over the window of the program
  // version this process last saw, and the version in force (a newer one means one more).
  let program = programs.lastSeen(programId) ?? (await programs.current(db, programId));
  if (!program) return undefined;
  const cached = cache?.get(
    programId,
    memberId,
    program.version,
    localTime(now, program.document.timeZone).date,
  );
  if (cached) return cached;
  for (;;) {
    // The local day in the zone of the version being read (a new version may move it).
    const day = localTime(now, program.document.timeZone).date;
    const token = cache?.generation(programId, memberId);
    const tiers = program.document.tiers;
    const base = program.document.currencies[0] as string;
    const metrics = tiers ? metricNames(tiers, base) : [];
    const range = tiers ? windowDays(tiers.window, day) : { from: null, to: null };
    const result = await sql<{
      id: string;
      created_at: Date;
      attributes: Record<string, unknown>;
      available: bigint;
      pending: bigint;
      held: bigint;
      tier_id: string | null;
      tier_since: Date | null;
      current_version: number;
      tier_value: bigint | null;
      next_lot_at: Date | null;
      next_lot_points: bigint | null;
      last_active_day: string | null;
      segments: string[];
      static_segments: string[];
      lifetime_spend: bigint;
      lifetime_points: bigint;
      event_count: bigint;
      first_event_at: Date | null;
      last_event_at: Date | null;
      counters: Record<string, number>;
    }>`SELECT m.id, m.created_at, m.attributes, m.available, m.pending, m.held, m.tier_id, m.tier_since,
        m.segments, m.lifetime_spend, m.lifetime_points, m.event_count, m.first_event_at, m.last_event_at,
        m.counters,
        (SELECT coalesce(array_agg(s.segment_id), '{}') FROM segment_members s
          WHERE s.program_id = m.program_id AND s.member_id = m.id) AS static_segments,
        p.current_version, ${tierMetricSql(metrics, range)} AS tier_value,
        ${nextExpirySql(program.document)}
      FROM members m JOIN programs p ON p.id = m.program_id
      WHERE m.program_id = ${programId} AND m.id = ${memberId}`.execute(db);
    const row = result.rows[0];
    if (!row) return undefined;
    if (row.current_version !== program.version) {
      program = await programs.get(db, programId, row.current_version);
      programs.remember(programId, program);
      continue;
    }
    const level = tiers?.levels.find((l) => l.id === row.tier_id);
    const nextExpiry = nextExpiryOf(program.document, row);
    const view: MemberView = {
      id: row.id,
      createdAt: row.created_at.toISOString(),
      attributes: row.attributes ?? {},
      balance: {
        available: Number(row.available),
        pending: Number(row.pending),
        held: Number(row.held),
      },
      tier:
        row.tier_id === null
          ? null
          : {
              id: row.tier_id,
              name: level?.name ?? row.tier_id,
              since: row.tier_since?.toISOString() ?? null,
            },
      progress: tiers ? progressToward(tiers, base, row.tier_id, row.tier_value ?? 0n) : null,
      nextExpiry: nextExpiry
        ? { at: nextExpiry.at.toISOString(), points: Number(nextExpiry.points) }
        : null,
      // Only segments of the version in force: one removed from the program is gone.
      segments: (program.document.segments ?? [])
        .filter((g) =>
          g.type === 'rule' ? row.segments.includes(g.id) : row.static_segments.includes(g.id),
        )
        .map((g) => ({ id: g.id, name: g.name })),
      metrics: {
        lifetimeSpend: {
          value: formatAmount(BigInt(row.lifetime_spend), base),
          currency: base,
        },
        points: Number(row.lifetime_points),
        events: Number(row.event_count),
        firstEventAt: row.first_event_at?.toISOString() ?? null,
        lastEventAt: row.last_event_at?.toISOString() ?? null,
        counters: row.counters ?? {},
      },
    };
    if (cache && token) cache.set(programId, memberId, token, program.version, day, view);
    return view;
  }
}

export type UpsertOutcome = { status: 'created' | 'updated' } | { status: 'unknown_program' };

/** PUT semantics: creates the member or replaces its attributes. */
export async function upsertMember(
  db: Kysely<Database>,
  programs: ProgramCache,
  programId: string,
  memberId: string,
  attributes: Record<string, unknown>,
  now: Date,
  cache?: MemberViewCache,
): Promise<UpsertOutcome> {
  const outcome = await db.transaction().execute(async (trx) => {
    const program = await programs.current(trx, programId);
    if (!program) return { status: 'unknown_program' as const };
    const lowest = program.document.tiers?.levels[0];
    const result = await sql<{ inserted: boolean }>`
      INSERT INTO members (program_id, id, created_at, updated_at, attributes, tier_id, tier_since)
      VALUES (${programId}, ${memberId}, ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz,
        ${JSON.stringify(attributes)}::jsonb, ${lowest?.id ?? null}::text, ${lowest ? now.toISOString() : null}::timestamptz)
      ON CONFLICT (program_id, id) DO UPDATE SET attributes = excluded.attributes, updated_at = excluded.updated_at
      RETURNING (xmax = 0) AS inserted`.execute(trx);
    const inserted = result.rows[0]?.inserted === true;
    await sql`SELECT pg_notify(${INVALIDATION_CHANNEL}, ${JSON.stringify({ p: programId, m: [memberId] })})`.execute(
      trx,
    );
    if (inserted && lowest) {
      await trx
        .insertInto('tier_changes')
        .values({
          program_id: programId,
          member_id: memberId,
          from_tier: null,
          to_tier: lowest.id,
          reason: 'event',
          event_id: null,
          metric_value: 0n,
          program_version: program.version,
          changed_at: now,
        })
        .execute();
    }
    return { status: inserted ? ('created' as const) : ('updated' as const) };
  });
  // Evicted after the commit, so no read can cache what this write replaced.
  cache?.invalidate(programId, [memberId]);
  return outcome;
}

export interface LedgerItem {
  id: string;
  entryId: string;
  kind: string;
  account: string;
  amount: number;
  eventId: string | null;
  correctsEntryId: string | null;
  lotId: string | null;
  programVersion: number | null;
  effectiveAt: string;
  createdAt: string;
}

export function encodeCursor(id: bigint): string {
  return Buffer.from(`p:${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): bigint | undefined {
  const text = Buffer.from(cursor, 'base64url').toString();
  return /^p:\d{1,19}$/.test(text) ? BigInt(text.slice(2)) : undefined;
}

/** The member's postings, newest first, paged by an opaque cursor. */
export async function listMemberLedger(
  db: Kysely<Database>,
  programId: string,
  memberId: string,
  before: bigint | undefined,
  limit: number,
): Promise<{ items: LedgerItem[]; nextCursor: string | null } | undefined> {
  const member = await db
    .selectFrom('members')
    .select('id')
    .where('program_id', '=', programId)
    .where('id', '=', memberId)
    .executeTakeFirst();
  if (!member) return undefined;
  let query = db
    .selectFrom('postings')
    .innerJoin('journal_entries', 'journal_entries.id', 'postings.entry_id')
    .select([
      'postings.id',
      'postings.entry_id',
      'journal_entries.kind',
      'postings.account',
      'postings.amount',
      'journal_entries.event_id',
      'journal_entries.corrects_entry_id',
      'postings.lot_id',
      'journal_entries.program_version',
      'journal_entries.effective_at',
      'journal_entries.created_at',
    ])
    .where('postings.program_id', '=', programId)
    .where('postings.member_id', '=', memberId)
    .orderBy('postings.id', 'desc')
    .limit(limit + 1);
  if (before !== undefined) query = query.where('postings.id', '<', before);
  const rows = await query.execute();
  const page = rows.slice(0, limit);
  return {
    items: page.map((r) => ({
      id: String(r.id),
      entryId: String(r.entry_id),
      kind: r.kind,
      account: r.account,
      amount: Number(r.amount),
      eventId: r.event_id,
      correctsEntryId: r.corrects_entry_id === null ? null : String(r.corrects_entry_id),
      lotId: r.lot_id === null ? null : String(r.lot_id),
      programVersion: r.program_version,
      effectiveAt: r.effective_at.toISOString(),
      createdAt: r.created_at.toISOString(),
    })),
    nextCursor: rows.length > limit ? encodeCursor((page.at(-1) as { id: bigint }).id) : null,
  };
}
