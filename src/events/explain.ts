// Explain: why an event earned what it did, from what was stored when it was processed
// (never by re-running today's rules).
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { readProgramVersion } from '../programs/index.ts';
import { expandTrace, type ExplainedEvent } from './trace.ts';

export interface Explanation {
  eventId: string;
  type: string;
  memberId: string;
  occurredAt: string;
  receivedAt: string;
  programVersion: number;
  pointsEarned: number;
  refundOf: string | null;
  refunds: { eventId: string; points: number }[];
  postings: {
    entryId: string;
    kind: string;
    account: string;
    amount: number;
    lotId: string | null;
  }[];
  trace: unknown;
}

export async function explainEvent(
  db: Kysely<Database>,
  programId: string,
  eventId: string,
): Promise<Explanation | undefined> {
  const event = await db
    .selectFrom('events')
    .select([
      'id',
      'type',
      'member_id',
      'occurred_at',
      'received_at',
      'program_version',
      'points',
      'refund_of',
      'trace',
      sql<{ value: string; currency: string } | null>`body -> 'amount'`.as('amount'),
    ])
    .where('program_id', '=', programId)
    .where('id', '=', eventId)
    .executeTakeFirst();
  if (!event) return undefined;
  const refunds = await db
    .selectFrom('events')
    .select(['id', 'points'])
    .where('program_id', '=', programId)
    .where('refund_of', '=', eventId)
    .orderBy('received_at')
    .execute();
  const postings = await db
    .selectFrom('postings')
    .innerJoin('journal_entries', 'journal_entries.id', 'postings.entry_id')
    .select([
      'postings.entry_id',
      'journal_entries.kind',
      'postings.account',
      'postings.amount',
      'postings.lot_id',
    ])
    .where('journal_entries.program_id', '=', programId)
    .where('journal_entries.event_id', '=', eventId)
    .orderBy('postings.id')
    .execute();
  return {
    eventId: event.id,
    type: event.type,
    memberId: event.member_id,
    occurredAt: event.occurred_at.toISOString(),
    receivedAt: event.received_at.toISOString(),
    programVersion: event.program_version,
    pointsEarned: Number(event.points),
    refundOf: event.refund_of,
    refunds: refunds.map((r) => ({ eventId: r.id, points: Number(r.points) })),
    postings: postings.map((p) => ({
      entryId: String(p.entry_id),
      kind: p.kind,
      account: p.account,
      amount: Number(p.amount),
      lotId: p.lot_id === null ? null : String(p.lot_id),
    })),
    trace: await fullTrace(db, programId, event.trace, {
      type: event.type,
      programVersion: event.program_version,
      occurredAt: event.occurred_at,
      receivedAt: event.received_at,
      amount: event.amount,
    }),
  };
}

async function fullTrace(
  db: Kysely<Database>,
  programId: string,
  stored: unknown,
  event: ExplainedEvent,
): Promise<unknown> {
  const program = await readProgramVersion(db, programId, event.programVersion);
  if (!program || stored === null || typeof stored !== 'object') return stored;
  return expandTrace(stored as Record<string, unknown>, program.document, event);
}
