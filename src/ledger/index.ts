// The ledger: append-only double-entry bookkeeping of points.
//
// A journal entry is a set of postings that sums to zero (checked by a statement trigger in
// the database and by assertions here). Member accounts are `available`, `pending` and
// `held`; program accounts are `issued`, `redeemed`, `expired` and `adjustments`, whose
// balances are the sums of their postings (negative: what the program has given out).
//
// Points live in lots. Every posting to a member account names the lot it changes, except
// a debt posting: where the program's negative-balance policy allows it, a debit larger than
// the member's lots leaves `available` below zero without a lot, and the next credit pays
// that debt first. So for every member: available = sum(lot.remaining) − debt, and
// lot.remaining = sum(postings naming the lot). Lots are consumed soonest-expiring first,
// oldest first among equal expiries.
//
// Nothing here is updated or deleted except `lots.remaining` and the member balance row,
// both derived state that `verifyLedger` re-checks against the postings.
//
// A LedgerBatch collects the entries of one database transaction in memory and writes them
// within one set-based statement (batch-first); callers lock the member rows first,
// in sorted order, so concurrent batches cannot deadlock.
import assert from 'node:assert/strict';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';

export type MemberAccount = 'available' | 'pending' | 'held';
export type ProgramAccount = 'issued' | 'redeemed' | 'expired' | 'adjustments';
export type EntryKind =
  'earn' | 'refund' | 'adjustment' | 'redemption' | 'expiry' | 'release' | 'void';

export interface LotRow {
  id: bigint;
  remaining: bigint;
  expiresAt: Date | null;
  earnedAt: Date;
}

export interface EntryMeta {
  memberId: string;
  kind: EntryKind;
  eventId: string | null;
  correctsEntryId: bigint | null;
  programVersion: number | null;
  effectiveAt: Date;
}

interface PendingEntry extends EntryMeta {
  index: number;
  postings: { memberId: string | null; account: string; amount: bigint; lot: LotRef | null }[];
}

/** A lot already in the database (`existing`) or created by this batch (`new`, by index). */
type LotRef = { existing: bigint } | { new: number };

interface PendingLot {
  entryIndex: number;
  memberId: string;
  account: 'available' | 'pending';
  earnedAt: Date;
  expiresAt: Date | null;
  amount: bigint;
}

/** What a member's `available` account did in one posting plan, for the caller's balance row. */
export interface CreditResult {
  entryIndex: number;
  debtRepaid: bigint;
  lotAmount: bigint;
}

export interface DebitResult {
  entryIndex: number;
  fromLots: { lotId: bigint; amount: bigint }[];
  debt: bigint;
}

export class LedgerBatch {
  private readonly entries: PendingEntry[] = [];
  private readonly lots: PendingLot[] = [];
  private readonly lotDebits = new Map<bigint, bigint>();

  constructor(private readonly programId: string) {}

  /**
   * Credits `points` to the member's available account from the program's `issued`
   * account. `availableBefore` is the member's balance before this entry: a negative
   * balance (debt) is repaid first, the rest becomes a new lot.
   */
  credit(
    meta: EntryMeta,
    points: bigint,
    availableBefore: bigint,
    expiresAt: Date | null,
  ): CreditResult {
    assert.ok(points > 0n, 'a credit posts a positive number of points');
    const entryIndex = this.entries.length;
    const debtRepaid = availableBefore < 0n ? min(points, -availableBefore) : 0n;
    const lotAmount = points - debtRepaid;
    const postings: PendingEntry['postings'] = [];
    if (debtRepaid > 0n)
      postings.push({
        memberId: meta.memberId,
        account: 'available',
        amount: debtRepaid,
        lot: null,
      });
    if (lotAmount > 0n) {
      this.lots.push({
        entryIndex,
        memberId: meta.memberId,
        account: 'available',
        earnedAt: meta.effectiveAt,
        expiresAt,
        amount: lotAmount,
      });
      postings.push({
        memberId: meta.memberId,
        account: 'available',
        amount: lotAmount,
        lot: { new: this.lots.length - 1 },
      });
    }
    postings.push({ memberId: null, account: 'issued', amount: -points, lot: null });
    this.entries.push({ ...meta, index: entryIndex, postings });
    return { entryIndex, debtRepaid, lotAmount };
  }

  /**
   * Debits `points` from the member's available account back to `issued` (a reversal).
   * `lots` are the member's lots with points left, in the order to consume them; lots
   * created earlier in this batch can be consumed through `newLotsOf`. What the lots cannot
   * cover becomes debt when `allowDebt`, else is not debited (the caller learns how much).
   */
  debit(
    meta: EntryMeta,
    points: bigint,
    lots: LotRow[],
    allowDebt: boolean,
  ): DebitResult & { debited: bigint } {
    assert.ok(points > 0n, 'a debit posts a positive number of points');
    const entryIndex = this.entries.length;
    const postings: PendingEntry['postings'] = [];
    const fromLots: { lotId: bigint; amount: bigint }[] = [];
    let left = points;
    for (const lot of lots) {
      if (left === 0n) break;
      const alreadyTaken = this.lotDebits.get(lot.id) ?? 0n;
      const take = min(left, lot.remaining - alreadyTaken);
      if (take <= 0n) continue;
      this.lotDebits.set(lot.id, alreadyTaken + take);
      postings.push({
        memberId: meta.memberId,
        account: 'available',
        amount: -take,
        lot: { existing: lot.id },
      });
      fromLots.push({ lotId: lot.id, amount: take });
      left -= take;
    }
    const debt = allowDebt ? left : 0n;
    if (debt > 0n)
      postings.push({ memberId: meta.memberId, account: 'available', amount: -debt, lot: null });
    const debited = points - left + debt;
    if (debited > 0n) {
      postings.push({ memberId: null, account: 'issued', amount: debited, lot: null });
      this.entries.push({ ...meta, index: entryIndex, postings });
    }
    return { entryIndex: debited > 0n ? entryIndex : -1, fromLots, debt, debited };
  }

  /**
   * The batch as rows for one set-based write (see writeLedgerRows): entries and new lots
   * are numbered from 0 and refer to each other by those numbers, for the database to
   * replace with ids from its sequences in the same statement.
   */
  rows(): LedgerRows {
    for (const entry of this.entries) {
      const sum = entry.postings.reduce((acc, p) => acc + p.amount, 0n);
      assert.equal(sum, 0n, `journal entry for ${entry.memberId} does not sum to zero`);
    }
    return {
      entries: this.entries.map((e) => ({
        i: e.index,
        member_id: e.memberId,
        kind: e.kind,
        event_id: e.eventId,
        corrects: e.correctsEntryId === null ? null : String(e.correctsEntryId),
        version: e.programVersion,
        effective_at: e.effectiveAt.toISOString(),
      })),
      lots: this.lots.map((l, i) => ({
        i,
        entry: l.entryIndex,
        member_id: l.memberId,
        account: l.account,
        earned_at: l.earnedAt.toISOString(),
        expires_at: l.expiresAt?.toISOString() ?? null,
        amount: String(l.amount),
      })),
      postings: this.entries.flatMap((e) =>
        e.postings.map((p) => ({
          entry: e.index,
          member_id: p.memberId,
          account: p.account,
          amount: String(p.amount),
          lot_id: p.lot !== null && 'existing' in p.lot ? String(p.lot.existing) : null,
          new_lot: p.lot !== null && 'new' in p.lot ? p.lot.new : null,
        })),
      ),
      lotDebits: [...this.lotDebits].map(([id, amount]) => ({
        id: String(id),
        amount: String(amount),
      })),
    };
  }
}

/** A LedgerBatch as JSON-ready rows (bigints as strings). */
export interface LedgerRows {
  entries: {
    i: number;
    member_id: string;
    kind: string;
    event_id: string | null;
    corrects: string | null;
    version: number | null;
    effective_at: string;
  }[];
  lots: {
    i: number;
    entry: number;
    member_id: string;
    account: string;
    earned_at: string;
    expires_at: string | null;
    amount: string;
  }[];
  postings: {
    entry: number;
    member_id: string | null;
    account: string;
    amount: string;
    lot_id: string | null;
    new_lot: number | null;
  }[];
  lotDebits: { id: string; amount: string }[];
}

/**
 * The ledger part of a write statement, as common table expressions to splice into one
 * statement with the caller's other writes: ids are drawn from the sequences and joined in,
 * entries, lots and postings inserted, and lot debits applied. The postings' statement
 * trigger checks that every entry sums to zero when the statement ends.
 */
export function ledgerWriteCtes(programId: string, rows: LedgerRows) {
  return sql`
    entry_ids AS MATERIALIZED (
      SELECT n, nextval('journal_entry_ids') AS id FROM generate_series(0, ${rows.entries.length - 1}) AS n),
    lot_ids AS MATERIALIZED (
      SELECT n, nextval('lot_ids') AS id FROM generate_series(0, ${rows.lots.length - 1}) AS n),
    written_entries AS (
      INSERT INTO journal_entries (id, program_id, member_id, kind, event_id, corrects_entry_id, program_version, effective_at)
      SELECT e.id, ${programId}, t.member_id, t.kind, t.event_id, t.corrects, t.version, t.effective_at
      FROM json_to_recordset(${JSON.stringify(rows.entries)}::json) AS t(i int, member_id text, kind text, event_id text,
        corrects bigint, version int, effective_at timestamptz)
      JOIN entry_ids e ON e.n = t.i
      RETURNING 1),
    written_lots AS (
      INSERT INTO lots (id, program_id, member_id, account, entry_id, earned_at, expires_at, amount, remaining)
      SELECT l.id, ${programId}, t.member_id, t.account, e.id, t.earned_at, t.expires_at, t.amount, t.amount
      FROM json_to_recordset(${JSON.stringify(rows.lots)}::json) AS t(i int, entry int, member_id text, account text,
        earned_at timestamptz, expires_at timestamptz, amount bigint)
      JOIN lot_ids l ON l.n = t.i JOIN entry_ids e ON e.n = t.entry
      RETURNING 1),
    written_postings AS (
      INSERT INTO postings (entry_id, program_id, member_id, account, amount, lot_id)
      SELECT e.id, ${programId}, t.member_id, t.account, t.amount, coalesce(t.lot_id, l.id)
      FROM json_to_recordset(${JSON.stringify(rows.postings)}::json) AS t(entry int, member_id text, account text,
        amount bigint, lot_id bigint, new_lot int)
      JOIN entry_ids e ON e.n = t.entry LEFT JOIN lot_ids l ON l.n = t.new_lot
      RETURNING 1),
    debited_lots AS (
      UPDATE lots SET remaining = lots.remaining - d.amount
      FROM json_to_recordset(${JSON.stringify(rows.lotDebits)}::json) AS d(id bigint, amount bigint)
      WHERE lots.id = d.id
      RETURNING 1)`;
}

/**
 * The member's lots with points left, in consumption order. Read after the member rows are
 * locked, or checked (their version) by the write that spends them.
 */
export async function openLots(
  trx: Kysely<Database>,
  programId: string,
  memberIds: string[],
): Promise<Map<string, (LotRow & { entryId: bigint })[]>> {
  const byMember = new Map<string, (LotRow & { entryId: bigint })[]>();
  if (memberIds.length === 0) return byMember;
  const rows = await sql<{
    id: bigint;
    member_id: string;
    remaining: bigint;
    expires_at: Date | null;
    earned_at: Date;
    entry_id: bigint;
  }>`SELECT id, member_id, remaining, expires_at, earned_at, entry_id FROM lots
      WHERE program_id = ${programId} AND member_id = ANY(${memberIds}::text[]) AND account = 'available' AND remaining > 0
      ORDER BY member_id, expires_at ASC NULLS LAST, earned_at, id`.execute(trx);
  for (const row of rows.rows) {
    const list = byMember.get(row.member_id) ?? [];
    list.push({
      id: row.id,
      remaining: row.remaining,
      expiresAt: row.expires_at,
      earnedAt: row.earned_at,
      entryId: row.entry_id,
    });
    byMember.set(row.member_id, list);
  }
  return byMember;
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

export { verifyLedger, type Violation } from './verify.ts';
