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
import { columns, type ColumnSpec } from '../db/columns.ts';
import type { Database } from '../db/schema.ts';

export type MemberAccount = 'available' | 'pending' | 'held';
export type ProgramAccount = 'issued' | 'redeemed' | 'expired' | 'adjustments';
export type EntryKind =
  | 'earn'
  | 'refund'
  | 'adjustment'
  | 'redemption'
  | 'expiry'
  | 'release'
  | 'void'
  | 'hold'
  | 'cancel';

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
  /** Pending lots only: when they become available. */
  pendingUntil?: Date;
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

  /** Field by field rather than a spread of `meta`: it runs once per event of a batch. */
  private pushEntry(meta: EntryMeta, index: number, postings: PendingEntry['postings']): void {
    this.entries.push({
      memberId: meta.memberId,
      kind: meta.kind,
      eventId: meta.eventId,
      correctsEntryId: meta.correctsEntryId,
      programVersion: meta.programVersion,
      effectiveAt: meta.effectiveAt,
      index,
      postings,
    });
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
    const { postings, debtRepaid, lotAmount } = this.intoAvailable(
      meta.memberId,
      entryIndex,
      points,
      availableBefore,
      { earnedAt: meta.effectiveAt, expiresAt },
    );
    postings.push({ memberId: null, account: 'issued', amount: -points, lot: null });
    this.pushEntry(meta, entryIndex, postings);
    return { entryIndex, debtRepaid, lotAmount };
  }

  /**
   * Credits `points` to the member's pending account (a return window, a review): a lot in
   * `pending` that `releasePending` later moves to available or `voidPending` takes back.
   */
  creditPending(
    meta: EntryMeta,
    points: bigint,
    expiresAt: Date | null,
    pendingUntil: Date,
  ): number {
    assert.ok(points > 0n, 'a credit posts a positive number of points');
    const entryIndex = this.entries.length;
    this.lots.push({
      entryIndex,
      memberId: meta.memberId,
      account: 'pending',
      earnedAt: meta.effectiveAt,
      expiresAt,
      amount: points,
      pendingUntil,
    });
    this.pushEntry(meta, entryIndex, [
      {
        memberId: meta.memberId,
        account: 'pending',
        amount: points,
        lot: { new: this.lots.length - 1 },
      },
      { memberId: null, account: 'issued', amount: -points, lot: null },
    ]);
    return entryIndex;
  }

  /**
   * Makes what is left of a pending lot available: it leaves the pending lot and becomes a
   * new available lot with the same earning and expiry dates, after repaying any debt first.
   */
  releasePending(meta: EntryMeta, lot: LotRow, availableBefore: bigint): CreditResult {
    const points = lot.remaining - (this.lotDebits.get(lot.id) ?? 0n);
    assert.ok(points > 0n, 'a release moves a positive number of points');
    const entryIndex = this.entries.length;
    this.lotDebits.set(lot.id, (this.lotDebits.get(lot.id) ?? 0n) + points);
    const { postings, debtRepaid, lotAmount } = this.intoAvailable(
      meta.memberId,
      entryIndex,
      points,
      availableBefore,
      lot,
    );
    postings.unshift({
      memberId: meta.memberId,
      account: 'pending',
      amount: -points,
      lot: { existing: lot.id },
    });
    this.pushEntry(meta, entryIndex, postings);
    return { entryIndex, debtRepaid, lotAmount };
  }

  /** Takes `points` of a pending lot back to `issued` (voided by a review, or refunded). */
  voidPending(meta: EntryMeta, lot: LotRow, points: bigint): number {
    const left = lot.remaining - (this.lotDebits.get(lot.id) ?? 0n);
    assert.ok(points > 0n && points <= left, `a void of ${points} exceeds pending lot ${lot.id}`);
    const entryIndex = this.entries.length;
    this.lotDebits.set(lot.id, (this.lotDebits.get(lot.id) ?? 0n) + points);
    this.pushEntry(meta, entryIndex, [
      { memberId: meta.memberId, account: 'pending', amount: -points, lot: { existing: lot.id } },
      { memberId: null, account: 'issued', amount: points, lot: null },
    ]);
    return entryIndex;
  }

  /**
   * Expires what is left of the given available lots: each posts its points to the
   * program's `expired` account. The caller passes each lot's remaining points as read
   * under the member's row lock (or checked by the write, as events do).
   */
  expire(meta: EntryMeta, lots: { lotId: bigint; amount: bigint }[]): number {
    const total = lots.reduce((sum, l) => sum + l.amount, 0n);
    assert.ok(total > 0n, 'an expiry posts a positive number of points');
    const entryIndex = this.entries.length;
    const postings: PendingEntry['postings'] = [];
    for (const l of lots) {
      assert.ok(l.amount > 0n, `lot ${l.lotId}: an expiry takes a positive number of points`);
      this.lotDebits.set(l.lotId, (this.lotDebits.get(l.lotId) ?? 0n) + l.amount);
      postings.push({
        memberId: meta.memberId,
        account: 'available',
        amount: -l.amount,
        lot: { existing: l.lotId },
      });
    }
    postings.push({ memberId: null, account: 'expired', amount: total, lot: null });
    this.pushEntry(meta, entryIndex, postings);
    return entryIndex;
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
    const { postings, fromLots, left } = this.takeFromLots(meta.memberId, points, lots);
    const debt = allowDebt ? left : 0n;
    if (debt > 0n)
      postings.push({ memberId: meta.memberId, account: 'available', amount: -debt, lot: null });
    const debited = points - left + debt;
    if (debited > 0n) {
      postings.push({ memberId: null, account: 'issued', amount: debited, lot: null });
      this.pushEntry(meta, entryIndex, postings);
    }
    return { entryIndex: debited > 0n ? entryIndex : -1, fromLots, debt, debited };
  }

  /**
   * Holds `points` for a redemption: moves them from the member's available account to
   * `held`, taken from `lots` in the order given (soonest-expiring first). The caller has
   * checked that the member has them; a hold never creates debt.
   */
  hold(meta: EntryMeta, points: bigint, lots: LotRow[]): DebitResult {
    assert.ok(points > 0n, 'a hold posts a positive number of points');
    const entryIndex = this.entries.length;
    const { postings, fromLots, left } = this.takeFromLots(meta.memberId, points, lots);
    assert.equal(left, 0n, `the lots of ${meta.memberId} do not cover a hold of ${points}`);
    postings.push({ memberId: meta.memberId, account: 'held', amount: points, lot: null });
    this.pushEntry(meta, entryIndex, postings);
    return { entryIndex, fromLots, debt: 0n };
  }

  /** Settles a hold: the held points go to the program's `redeemed` account. */
  redeem(meta: EntryMeta, points: bigint): number {
    assert.ok(points > 0n, 'a redemption posts a positive number of points');
    const entryIndex = this.entries.length;
    this.pushEntry(meta, entryIndex, [
      { memberId: meta.memberId, account: 'held', amount: -points, lot: null },
      { memberId: null, account: 'redeemed', amount: points, lot: null },
    ]);
    return entryIndex;
  }

  /**
   * Releases a hold (cancelled, or its time to live is over): the held points go back to
   * `available`, into the lots they were taken from (`fromLots`, in the hold's order), so
   * they keep their expiry dates. A debt the member ran up since (a refund reversed more
   * than was left) is repaid first, as any credit repays it; the lots then get back what
   * remains, the soonest-expiring first.
   */
  release(
    meta: EntryMeta,
    points: bigint,
    fromLots: { lotId: bigint; amount: bigint }[],
    availableBefore: bigint,
  ): CreditResult {
    assert.ok(points > 0n, 'a release posts a positive number of points');
    const entryIndex = this.entries.length;
    const debtRepaid = availableBefore < 0n ? min(points, -availableBefore) : 0n;
    const postings: PendingEntry['postings'] = [
      { memberId: meta.memberId, account: 'held', amount: -points, lot: null },
    ];
    if (debtRepaid > 0n)
      postings.push({
        memberId: meta.memberId,
        account: 'available',
        amount: debtRepaid,
        lot: null,
      });
    let left = points - debtRepaid;
    for (const from of fromLots) {
      if (left === 0n) break;
      const give = min(left, from.amount);
      this.lotDebits.set(from.lotId, (this.lotDebits.get(from.lotId) ?? 0n) - give);
      postings.push({
        memberId: meta.memberId,
        account: 'available',
        amount: give,
        lot: { existing: from.lotId },
      });
      left -= give;
    }
    assert.equal(left, 0n, `a release of ${points} exceeds what its hold took from lots`);
    this.pushEntry(meta, entryIndex, postings);
    return { entryIndex, debtRepaid, lotAmount: points - debtRepaid };
  }

  /**
   * Available-account postings that put `points` into the member's available account: a
   * debt (a negative balance) is repaid first, the rest becomes a new lot with the dates given.
   */
  private intoAvailable(
    memberId: string,
    entryIndex: number,
    points: bigint,
    availableBefore: bigint,
    dates: { earnedAt: Date; expiresAt: Date | null },
  ) {
    const debtRepaid = availableBefore < 0n ? min(points, -availableBefore) : 0n;
    const lotAmount = points - debtRepaid;
    const postings: PendingEntry['postings'] = [];
    if (debtRepaid > 0n)
      postings.push({ memberId, account: 'available', amount: debtRepaid, lot: null });
    if (lotAmount > 0n) {
      this.lots.push({
        entryIndex,
        memberId,
        account: 'available',
        earnedAt: dates.earnedAt,
        expiresAt: dates.expiresAt,
        amount: lotAmount,
      });
      postings.push({
        memberId,
        account: 'available',
        amount: lotAmount,
        lot: { new: this.lots.length - 1 },
      });
    }
    return { postings, debtRepaid, lotAmount };
  }

  /** Available-account postings that take up to `points` from `lots`, in the order given. */
  private takeFromLots(memberId: string, points: bigint, lots: LotRow[]) {
    const postings: PendingEntry['postings'] = [];
    const fromLots: { lotId: bigint; amount: bigint }[] = [];
    let left = points;
    for (const lot of lots) {
      if (left === 0n) break;
      const alreadyTaken = this.lotDebits.get(lot.id) ?? 0n;
      const take = min(left, lot.remaining - alreadyTaken);
      if (take <= 0n) continue;
      this.lotDebits.set(lot.id, alreadyTaken + take);
      postings.push({ memberId, account: 'available', amount: -take, lot: { existing: lot.id } });
      fromLots.push({ lotId: lot.id, amount: take });
      left -= take;
    }
    return { postings, fromLots, left };
  }

  /**
   * The batch as rows for one set-based write (see writeLedgerRows): entries and new lots
   * are numbered from 0 and refer to each other by those numbers, for the database to
   * replace with ids from its sequences in the same statement.
   */
  rows(): LedgerRows {
    const postings: { entry: number; posting: PendingPosting }[] = [];
    for (const entry of this.entries) {
      let sum = 0n;
      for (const p of entry.postings) {
        sum += p.amount;
        postings.push({ entry: entry.index, posting: p });
      }
      assert.equal(sum, 0n, `journal entry for ${entry.memberId} does not sum to zero`);
    }
    return { entries: this.entries, lots: this.lots, postings, lotDebits: [...this.lotDebits] };
  }
}

type PendingPosting = PendingEntry['postings'][number];

/**
 * A LedgerBatch ready to write: its entries and new lots, numbered from 0 by their position
 * (entries also by `index`), the postings with the number of their entry, and the lot debits.
 */
export interface LedgerRows {
  entries: readonly PendingEntry[];
  lots: readonly PendingLot[];
  postings: readonly { entry: number; posting: PendingPosting }[];
  lotDebits: readonly (readonly [lotId: bigint, amount: bigint])[];
}

// The column lists are constants: db/columns.ts keeps each one's statement text by its object.
const ENTRY_COLUMNS: ColumnSpec<PendingEntry> = {
  i: ['int', (r) => r.index],
  member_id: ['text', (r) => r.memberId],
  kind: ['text', (r) => r.kind],
  event_id: ['text', (r) => r.eventId],
  corrects: ['bigint', (r) => r.correctsEntryId],
  version: ['int', (r) => r.programVersion],
  effective_at: ['timestamptz', (r) => r.effectiveAt],
};

const LOT_COLUMNS: ColumnSpec<PendingLot> = {
  i: ['int', (_, i) => i],
  entry: ['int', (r) => r.entryIndex],
  member_id: ['text', (r) => r.memberId],
  account: ['text', (r) => r.account],
  earned_at: ['timestamptz', (r) => r.earnedAt],
  expires_at: ['timestamptz', (r) => r.expiresAt],
  amount: ['bigint', (r) => r.amount],
  pending_until: ['timestamptz', (r) => r.pendingUntil],
};

const POSTING_COLUMNS: ColumnSpec<LedgerRows['postings'][number]> = {
  entry: ['int', (r) => r.entry],
  member_id: ['text', (r) => r.posting.memberId],
  account: ['text', (r) => r.posting.account],
  amount: ['bigint', (r) => r.posting.amount],
  lot_id: [
    'bigint',
    ({ posting: { lot } }) => (lot !== null && 'existing' in lot ? lot.existing : null),
  ],
  new_lot: ['int', ({ posting: { lot } }) => (lot !== null && 'new' in lot ? lot.new : null)],
};

const LOT_DEBIT_COLUMNS: ColumnSpec<LedgerRows['lotDebits'][number]> = {
  id: ['bigint', (r) => r[0]],
  amount: ['bigint', (r) => r[1]],
};

/**
 * The ledger part of a write statement, as common table expressions to splice into one
 * statement with the caller's other writes: ids are drawn from the sequences and joined in,
 * entries, lots and postings inserted, and lot debits applied. The postings' statement
 * trigger checks that every entry sums to zero when the statement ends. A write of no new
 * lots or no debits leaves that part out: each table a statement writes is set up on every
 * execution (its indexes opened, its checks prepared), whether rows come or not.
 */
export function ledgerWriteCtes(programId: string, rows: LedgerRows) {
  const newLots =
    rows.lots.length > 0
      ? sql`,
    written_lots AS (
      INSERT INTO lots (id, program_id, member_id, account, entry_id, earned_at, expires_at, amount, remaining,
        pending_until)
      SELECT l.id, ${programId}, t.member_id, t.account, e.id, t.earned_at, t.expires_at, t.amount, t.amount,
        t.pending_until
      FROM ${columns('t', rows.lots, LOT_COLUMNS)}
      JOIN lot_ids l ON l.n = t.i JOIN entry_ids e ON e.n = t.entry
      RETURNING 1)`
      : sql``;
  const debits =
    rows.lotDebits.length > 0
      ? sql`,
    debited_lots AS (
      UPDATE lots SET remaining = lots.remaining - d.amount
      FROM ${columns('d', rows.lotDebits, LOT_DEBIT_COLUMNS)}
      -- The id list lets the plan find the lots by key: joined to the JSON alone (which the
      -- planner takes for 100 rows), the lots table was read whole.
      WHERE lots.id = ANY(${rows.lotDebits.map(([id]) => String(id))}::bigint[]) AND lots.id = d.id
      RETURNING 1)`
      : sql``;
  return sql`
    entry_ids AS MATERIALIZED (
      SELECT n, nextval('journal_entry_ids') AS id FROM generate_series(0, ${rows.entries.length - 1}) AS n),
    lot_ids AS MATERIALIZED (
      SELECT n, nextval('lot_ids') AS id FROM generate_series(0, ${rows.lots.length - 1}) AS n),
    written_entries AS (
      INSERT INTO journal_entries (id, program_id, member_id, kind, event_id, corrects_entry_id, program_version, effective_at)
      SELECT e.id, ${programId}, t.member_id, t.kind, t.event_id, t.corrects, t.version, t.effective_at
      FROM ${columns('t', rows.entries, ENTRY_COLUMNS)}
      JOIN entry_ids e ON e.n = t.i
      RETURNING 1)${newLots},
    written_postings AS (
      INSERT INTO postings (entry_id, program_id, member_id, account, amount, lot_id)
      SELECT e.id, ${programId}, t.member_id, t.account, t.amount, coalesce(t.lot_id, l.id)
      FROM ${columns('t', rows.postings, POSTING_COLUMNS)}
      JOIN entry_ids e ON e.n = t.entry LEFT JOIN lot_ids l ON l.n = t.new_lot
      RETURNING 1)${debits}`;
}

/** The pending lots with points left that the given journal entries created, by entry. */
export async function pendingLotsOf(
  trx: Kysely<Database>,
  programId: string,
  entryIds: bigint[],
): Promise<Map<bigint, LotRow>> {
  const byEntry = new Map<bigint, LotRow>();
  if (entryIds.length === 0) return byEntry;
  const rows = await sql<{
    id: bigint;
    entry_id: bigint;
    remaining: bigint;
    expires_at: Date | null;
    earned_at: Date;
  }>`SELECT id, entry_id, remaining, expires_at, earned_at FROM lots
    WHERE program_id = ${programId} AND entry_id = ANY(${entryIds.map(String)}::bigint[])
      AND account = 'pending' AND remaining > 0`.execute(trx);
  for (const r of rows.rows) {
    byEntry.set(r.entry_id, {
      id: r.id,
      remaining: r.remaining,
      expiresAt: r.expires_at,
      earnedAt: r.earned_at,
    });
  }
  return byEntry;
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
