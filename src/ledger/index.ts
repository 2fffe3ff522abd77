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
// with a handful of set-based statements (batch-first); callers lock the member rows first,
// in sorted order, so concurrent batches cannot deadlock.
import assert from 'node:assert/strict';
import { sql, type Transaction } from 'kysely';
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

  get size(): number {
    return this.entries.length;
  }

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

  /** Points still left in lots of the given rows after the debits planned in this batch. */
  remainingOf(lot: LotRow): bigint {
    return lot.remaining - (this.lotDebits.get(lot.id) ?? 0n);
  }

  /**
   * Writes everything: allocates ids, inserts entries, lots and postings, and applies the
   * lot debits. Answers the database id of each entry, by entry index, and of each new lot.
   */
  async flush(trx: Transaction<Database>): Promise<{ entryIds: bigint[]; lotIds: bigint[] }> {
    if (this.entries.length === 0) return { entryIds: [], lotIds: [] };
    const entryIds = await allocate(trx, 'journal_entry_ids', this.entries.length);
    const lotIds = this.lots.length > 0 ? await allocate(trx, 'lot_ids', this.lots.length) : [];

    const e = this.entries;
    await sql`INSERT INTO journal_entries (id, program_id, member_id, kind, event_id, corrects_entry_id, program_version, effective_at)
      SELECT id, ${this.programId}, member_id, kind, event_id, corrects, version, effective_at FROM unnest(
        ${entryIds}::bigint[], ${e.map((x) => x.memberId)}::text[], ${e.map((x) => x.kind)}::text[],
        ${e.map((x) => x.eventId)}::text[], ${e.map((x) => x.correctsEntryId)}::bigint[],
        ${e.map((x) => x.programVersion)}::int[], ${e.map((x) => x.effectiveAt.toISOString())}::timestamptz[]
      ) AS t(id, member_id, kind, event_id, corrects, version, effective_at)`.execute(trx);

    if (this.lots.length > 0) {
      const l = this.lots;
      await sql`INSERT INTO lots (id, program_id, member_id, account, entry_id, earned_at, expires_at, amount, remaining)
        SELECT id, ${this.programId}, member_id, account, entry_id, earned_at, expires_at, amount, amount FROM unnest(
          ${lotIds}::bigint[], ${l.map((x) => x.memberId)}::text[], ${l.map((x) => x.account)}::text[],
          ${l.map((x) => entryIds[x.entryIndex] as bigint)}::bigint[], ${l.map((x) => x.earnedAt.toISOString())}::timestamptz[],
          ${l.map((x) => x.expiresAt?.toISOString() ?? null)}::timestamptz[], ${l.map((x) => x.amount)}::bigint[]
        ) AS t(id, member_id, account, entry_id, earned_at, expires_at, amount)`.execute(trx);
    }

    const rows = e.flatMap((entry) =>
      entry.postings.map((p) => ({
        entryId: entryIds[entry.index] as bigint,
        memberId: p.memberId,
        account: p.account,
        amount: p.amount,
        lotId:
          p.lot === null
            ? null
            : 'existing' in p.lot
              ? p.lot.existing
              : (lotIds[p.lot.new] as bigint),
      })),
    );
    for (const entry of e) {
      const sum = entry.postings.reduce((acc, p) => acc + p.amount, 0n);
      assert.equal(sum, 0n, `journal entry for ${entry.memberId} does not sum to zero`);
    }
    await sql`INSERT INTO postings (entry_id, program_id, member_id, account, amount, lot_id)
      SELECT entry_id, ${this.programId}, member_id, account, amount, lot_id FROM unnest(
        ${rows.map((r) => r.entryId)}::bigint[], ${rows.map((r) => r.memberId)}::text[],
        ${rows.map((r) => r.account)}::text[], ${rows.map((r) => r.amount)}::bigint[], ${rows.map((r) => r.lotId)}::bigint[]
      ) AS t(entry_id, member_id, account, amount, lot_id)`.execute(trx);

    if (this.lotDebits.size > 0) {
      const ids = [...this.lotDebits.keys()];
      const amounts = ids.map((id) => this.lotDebits.get(id) as bigint);
      await sql`UPDATE lots SET remaining = lots.remaining - d.amount
        FROM unnest(${ids}::bigint[], ${amounts}::bigint[]) AS d(id, amount) WHERE lots.id = d.id`.execute(
        trx,
      );
    }
    return { entryIds, lotIds };
  }
}

async function allocate(
  trx: Transaction<Database>,
  sequence: string,
  count: number,
): Promise<bigint[]> {
  const result = await sql<{
    id: bigint;
  }>`SELECT nextval(${sequence}::regclass) AS id FROM generate_series(1, ${count})`.execute(trx);
  return result.rows.map((r) => r.id);
}

/** The member's lots with points left, in consumption order. */
export async function openLots(
  trx: Transaction<Database>,
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
