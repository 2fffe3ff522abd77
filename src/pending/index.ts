// Pending points (part of C13): points an event earned that wait in the member's `pending`
// account — a return window, or a review — before anyone can spend them.
//
//   event (settings.pending) ──▶ pending lot ──window over (releaseDuePending)──▶ available lot
//                                     │     └──review: release (releaseEventPending)──▶ available lot
//                                     ├──review: void (voidEventPending)──▶ back to `issued`
//                                     └──refund within the window (the event path)──▶ voided first
//
// Each step locks the member's row, reads the pending lot again under that lock, and writes
// its ledger entry, the balance row and its domain event (outbox) in one statement, so a
// release racing a refund or a second release moves every point once.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { LedgerBatch, ledgerWriteCtes, type EntryMeta, type LotRow } from '../ledger/index.ts';
import { memberChangeCtes, wireBalance, type Balance } from '../outbox/index.ts';
import type { ProgramCache } from '../programs/index.ts';

/** How many members one call of the release pass handles (one transaction each). */
export const PENDING_RELEASE_BATCH = 100;

export interface PendingDecision {
  eventId: string;
  memberId: string;
  points: bigint;
  balance: { available: bigint; pending: bigint; held: bigint };
}

export type PendingOutcome =
  | { status: 'done'; decision: PendingDecision }
  | { status: 'unknown_event' }
  /** Nothing of the event is pending (never was, or released, voided or refunded already). */
  | { status: 'nothing_pending'; earned: bigint };

interface PendingLot extends LotRow {
  entryId: bigint;
  eventId: string | null;
}

/** Releases the pending points of one event now (a review decided they are good). */
export function releaseEventPending(
  trx: Transaction<Database>,
  programs: ProgramCache,
  programId: string,
  eventId: string,
  now: Date,
): Promise<PendingOutcome> {
  return decide(trx, programs, programId, eventId, now, 'release');
}

/** Voids the pending points of one event (a review decided against them). */
export function voidEventPending(
  trx: Transaction<Database>,
  programs: ProgramCache,
  programId: string,
  eventId: string,
  now: Date,
): Promise<PendingOutcome> {
  return decide(trx, programs, programId, eventId, now, 'void');
}

async function decide(
  trx: Transaction<Database>,
  programs: ProgramCache,
  programId: string,
  eventId: string,
  now: Date,
  decision: 'release' | 'void',
): Promise<PendingOutcome> {
  const event = await trx
    .selectFrom('events')
    .select(['member_id', 'points'])
    .where('program_id', '=', programId)
    .where('id', '=', eventId)
    .executeTakeFirst();
  if (!event) return { status: 'unknown_event' };
  const balance = await lockMember(trx, programId, event.member_id);
  const lots = await pendingLots(trx, programId, event.member_id, { eventId });
  const lot = lots[0];
  if (!lot) return { status: 'nothing_pending', earned: event.points };
  const program = await programs.current(trx, programId);
  const ledger = new LedgerBatch(programId);
  const points = lot.remaining;
  if (decision === 'release') {
    const released = ledger.releasePending(
      meta(lot, event.member_id, 'release', program?.version ?? null, now),
      lot,
      balance.available,
    );
    balance.available += released.debtRepaid + released.lotAmount;
  } else {
    ledger.voidPending(
      meta(lot, event.member_id, 'void', program?.version ?? null, now),
      lot,
      points,
    );
  }
  balance.pending -= points;
  const result = { eventId, memberId: event.member_id, points, balance };
  await write(trx, programId, event.member_id, ledger, balance, now, [
    { type: decision === 'release' ? 'points.released' : 'points.voided', decision: result },
  ]);
  return { status: 'done', decision: result };
}

/**
 * Releases pending points whose window is over, for at most `limit` members per call (the
 * job runner calls it until it answers fewer). Each member in a transaction of its own, with
 * its row locked and its due lots read again under the lock: running this twice or
 * concurrently releases nothing twice.
 */
export async function releaseDuePending(
  db: Kysely<Database>,
  programs: ProgramCache,
  now: Date,
  limit = PENDING_RELEASE_BATCH,
): Promise<{ members: number; points: bigint; memberIds: Map<string, string[]> }> {
  const due = await sql<{ program_id: string; member_id: string }>`
    SELECT DISTINCT program_id, member_id FROM (
      SELECT program_id, member_id FROM lots
      WHERE account = 'pending' AND remaining > 0 AND pending_until <= ${now.toISOString()}::timestamptz
      ORDER BY pending_until LIMIT ${Math.min(limit, PENDING_RELEASE_BATCH) * 10}) AS d
    LIMIT ${Math.min(limit, PENDING_RELEASE_BATCH)}`.execute(db);
  let members = 0;
  let points = 0n;
  const memberIds = new Map<string, string[]>();
  for (const { program_id: programId, member_id: memberId } of due.rows) {
    const released = await db.transaction().execute(async (trx) => {
      const balance = await lockMember(trx, programId, memberId);
      const lots = await pendingLots(trx, programId, memberId, { dueBy: now });
      if (lots.length === 0) return 0n;
      const program = await programs.current(trx, programId);
      const ledger = new LedgerBatch(programId);
      const messages: Message[] = [];
      let total = 0n;
      for (const lot of lots) {
        const r = ledger.releasePending(
          meta(lot, memberId, 'release', program?.version ?? null, now),
          lot,
          balance.available,
        );
        balance.available += r.debtRepaid + r.lotAmount;
        balance.pending -= lot.remaining;
        total += lot.remaining;
        messages.push({
          type: 'points.released',
          decision: {
            eventId: lot.eventId ?? '',
            memberId,
            points: lot.remaining,
            balance: { ...balance },
          },
        });
      }
      await write(trx, programId, memberId, ledger, balance, now, messages);
      return total;
    });
    if (released > 0n) {
      members += 1;
      points += released;
      memberIds.set(programId, [...(memberIds.get(programId) ?? []), memberId]);
    }
  }
  return { members, points, memberIds };
}

async function lockMember(
  trx: Transaction<Database>,
  programId: string,
  memberId: string,
): Promise<Balance> {
  const rows = await sql<Balance>`SELECT available, pending, held FROM members
    WHERE program_id = ${programId} AND id = ${memberId} FOR UPDATE`.execute(trx);
  const row = rows.rows[0];
  if (!row) throw new Error(`member ${programId}/${memberId} of a pending lot does not exist`);
  return row;
}

/** The member's pending lots with points left: of one event, or due by an instant. */
async function pendingLots(
  trx: Transaction<Database>,
  programId: string,
  memberId: string,
  which: { eventId: string } | { dueBy: Date },
): Promise<PendingLot[]> {
  const rows = await sql<{
    id: bigint;
    entry_id: bigint;
    event_id: string | null;
    remaining: bigint;
    expires_at: Date | null;
    earned_at: Date;
  }>`SELECT l.id, l.entry_id, j.event_id, l.remaining, l.expires_at, l.earned_at
    FROM lots l JOIN journal_entries j ON j.id = l.entry_id
    WHERE l.program_id = ${programId} AND l.member_id = ${memberId} AND l.account = 'pending' AND l.remaining > 0
      AND ${'eventId' in which ? sql`j.event_id = ${which.eventId} AND j.kind = 'earn'` : sql`l.pending_until <= ${which.dueBy.toISOString()}::timestamptz`}
    ORDER BY l.pending_until, l.id`.execute(trx);
  return rows.rows.map((r) => ({
    id: r.id,
    entryId: r.entry_id,
    eventId: r.event_id,
    remaining: r.remaining,
    expiresAt: r.expires_at,
    earnedAt: r.earned_at,
  }));
}

function meta(
  lot: PendingLot,
  memberId: string,
  kind: 'release' | 'void',
  version: number | null,
  now: Date,
): EntryMeta {
  // No event id: the event's own points stay what it earned; the entry names the earn
  // entry it settles instead.
  return {
    memberId,
    kind,
    eventId: null,
    correctsEntryId: lot.entryId,
    programVersion: version,
    effectiveAt: now,
  };
}

interface Message {
  type: 'points.released' | 'points.voided';
  decision: PendingDecision;
}

async function write(
  trx: Transaction<Database>,
  programId: string,
  memberId: string,
  ledger: LedgerBatch,
  balance: Balance,
  now: Date,
  messages: Message[],
): Promise<void> {
  const outbox = messages.map((m) => ({
    type: m.type,
    data: {
      eventId: m.decision.eventId,
      memberId: m.decision.memberId,
      points: Number(m.decision.points),
      balance: wireBalance(m.decision.balance),
    },
  }));
  await sql`WITH ${ledgerWriteCtes(programId, ledger.rows())},
    ${memberChangeCtes(programId, memberId, balance, now, outbox)}
    SELECT (SELECT count(*) FROM notified) AS notified`.execute(trx);
}
