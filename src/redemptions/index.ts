// Spending points as a payment is made: a hold, then a confirm or a cancel (C6).
//
//   placeHold ──▶ held ──confirm──▶ confirmed (points to `redeemed`; a voucher if the reward issues one)
//                   │ ├──cancel───▶ cancelled (points back into their lots, the stock unit back)
//                   │ └──time to live over (releaseExpiredHolds, or a late confirm/cancel)──▶ expired
//
// Every step runs in the caller's transaction (which also records the Idempotency-Key answer)
// and locks the member's balance row first, then the reward's row where a unit of stock moves:
// one order everywhere, so concurrent steps queue instead of deadlocking, and a balance or a
// stock can never be spent twice. Each step writes its ledger entry, the balance row, the
// redemption's new status and its domain events (outbox) together.
import { sql, type Kysely, type Transaction } from 'kysely';
import { randomBytes } from 'node:crypto';
import { parseDurationSeconds } from '../config.ts';
import type { Database } from '../db/schema.ts';
import { base32, newId } from '../ids/index.ts';
import { LedgerBatch, ledgerWriteCtes, openLots, type EntryMeta } from '../ledger/index.ts';
import { formatAmount, parseAmount } from '../money/index.ts';
import {
  memberChangeCtes,
  wireBalance,
  type Balance,
  type OutboxMessage,
} from '../outbox/index.ts';
import type { ProgramCache } from '../programs/index.ts';
import { HOLD_TTL_DEFAULT, type ProgramDocument } from '../rules/index.ts';

/** How many expired holds one call of the release pass handles (one transaction each). */
export const HOLD_RELEASE_BATCH = 100;
const VOUCHER_CODE_BYTES = 10;

export type RedemptionStatus = 'held' | 'confirmed' | 'cancelled' | 'expired';

export interface RedemptionView {
  id: string;
  memberId: string;
  rewardId: string | null;
  status: RedemptionStatus;
  points: bigint;
  value: { value: string; currency: string } | null;
  createdAt: Date;
  expiresAt: Date;
  settledAt: Date | null;
  voucher: { code: string; expiresAt: Date; redeemedAt: Date | null } | null;
}

export type HoldRequest =
  { memberId: string; rewardId: string } | { memberId: string; points: bigint };

export type HoldOutcome =
  | { status: 'held'; redemption: RedemptionView }
  | { status: 'unknown_program' }
  | { status: 'unknown_member' }
  | { status: 'unknown_reward' }
  | { status: 'insufficient_points'; available: bigint; needed: bigint }
  | { status: 'reward_unavailable'; reason: string }
  | { status: 'out_of_stock' }
  | { status: 'limit_reached'; limit: number }
  | { status: 'no_point_value' };

export type SettleOutcome =
  /** `changed`: this call settled it (false: it was already in the state asked for). */
  | { status: 'settled'; redemption: RedemptionView; changed: boolean }
  | { status: 'not_found' }
  /** The redemption is not held (any more): confirm after cancel, cancel after confirm, expired. */
  | { status: 'not_held'; redemption: RedemptionView };

interface RedemptionRow {
  id: string;
  member_id: string;
  reward_id: string | null;
  points: bigint;
  value_minor: bigint | null;
  currency: string | null;
  status: RedemptionStatus;
  hold_entry_id: bigint;
  created_at: Date;
  expires_at: Date;
  settled_at: Date | null;
}

interface MemberBalance extends Balance {
  tier_id: string | null;
}

/** The hold's time to live, from the program's settings. */
export function holdTtlSeconds(document: ProgramDocument): number {
  const text = document.settings?.redemption?.holdTtl ?? HOLD_TTL_DEFAULT;
  return parseDurationSeconds(text) ?? (parseDurationSeconds(HOLD_TTL_DEFAULT) as number);
}

/**
 * What `points` are worth at the program's rate, rounded down to the currency's minor unit
 * (a member never gets more than the points buy); undefined when the program sets no rate.
 */
export function pointValue(
  document: ProgramDocument,
  points: bigint,
): { minor: bigint; currency: string } | undefined {
  const rate = document.settings?.redemption?.pointValue;
  if (!rate) return undefined;
  const parsed = parseAmount(rate.value.value, rate.value.currency);
  if (!parsed.ok) return undefined;
  return { minor: (points * parsed.minor) / BigInt(rate.points), currency: rate.value.currency };
}

async function lockMember(
  trx: Transaction<Database>,
  programId: string,
  memberId: string,
): Promise<MemberBalance | undefined> {
  const rows = await sql<MemberBalance>`
    SELECT available, pending, held, tier_id FROM members WHERE program_id = ${programId} AND id = ${memberId}
    FOR UPDATE`.execute(trx);
  return rows.rows[0];
}

/** Places a hold: points move from available to held, soonest-expiring lots first. */
export async function placeHold(
  trx: Transaction<Database>,
  programs: ProgramCache,
  programId: string,
  request: HoldRequest,
  now: Date,
): Promise<HoldOutcome> {
  const program = await programs.current(trx, programId);
  if (!program) return { status: 'unknown_program' };
  const document = program.document;
  const member = await lockMember(trx, programId, request.memberId);
  if (!member) return { status: 'unknown_member' };

  let points: bigint;
  let rewardId: string | null = null;
  let takesStock = false;
  if ('rewardId' in request) {
    const reward = await trx
      .selectFrom('rewards')
      .selectAll()
      .where('program_id', '=', programId)
      .where('id', '=', request.rewardId)
      .executeTakeFirst();
    if (!reward) return { status: 'unknown_reward' };
    if (reward.archived_at !== null)
      return { status: 'reward_unavailable', reason: 'the reward is archived' };
    if (reward.valid_from !== null && now < reward.valid_from)
      return {
        status: 'reward_unavailable',
        reason: `the reward can be redeemed from ${reward.valid_from.toISOString()}`,
      };
    if (reward.valid_until !== null && now >= reward.valid_until)
      return {
        status: 'reward_unavailable',
        reason: `the reward could be redeemed until ${reward.valid_until.toISOString()}`,
      };
    if (reward.tiers !== null && !reward.tiers.includes(member.tier_id ?? '')) {
      return {
        status: 'reward_unavailable',
        reason: `the reward is for members of tier ${reward.tiers.join(', ')}`,
      };
    }
    if (reward.per_member_limit !== null) {
      const used = await trx
        .selectFrom('redemptions')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('program_id', '=', programId)
        .where('member_id', '=', request.memberId)
        .where('reward_id', '=', reward.id)
        .where('status', 'in', ['held', 'confirmed'])
        .executeTakeFirstOrThrow();
      // The member's row is locked, so no other hold of this member can slip in meanwhile.
      if (BigInt(used.n) >= BigInt(reward.per_member_limit))
        return { status: 'limit_reached', limit: reward.per_member_limit };
    }
    points = reward.cost;
    rewardId = reward.id;
    takesStock = reward.stock !== null;
  } else {
    points = request.points;
  }

  if (member.available < points) {
    return { status: 'insufficient_points', available: member.available, needed: points };
  }
  let value: { minor: bigint; currency: string } | undefined;
  if (!('rewardId' in request)) {
    value = pointValue(document, points);
    if (!value) return { status: 'no_point_value' };
  }
  if (takesStock) {
    // Taken last, after every other check: the row lock it takes is held to the commit,
    // so concurrent holds of one reward queue here and never oversell.
    const taken = await sql<{ stock: bigint }>`
      UPDATE rewards SET stock = stock - 1
      WHERE program_id = ${programId} AND id = ${rewardId} AND stock > 0 RETURNING stock`.execute(
      trx,
    );
    if (taken.rows.length === 0) return { status: 'out_of_stock' };
  }

  const lots = (await openLots(trx, programId, [request.memberId])).get(request.memberId) ?? [];
  const ledger = new LedgerBatch(programId);
  const id = newId('rdm', now);
  ledger.hold(entryMeta(request.memberId, 'hold', program.version, now), points, lots);
  const expiresAt = new Date(now.getTime() + holdTtlSeconds(document) * 1000);
  const balance = {
    available: member.available - points,
    pending: member.pending,
    held: member.held + points,
  };
  const redemption: RedemptionView = {
    id,
    memberId: request.memberId,
    rewardId,
    status: 'held',
    points,
    value: value
      ? { value: formatAmount(value.minor, value.currency), currency: value.currency }
      : null,
    createdAt: now,
    expiresAt,
    settledAt: null,
    voucher: null,
  };
  await sql`WITH ${ledgerWriteCtes(programId, ledger.rows())},
    written_redemption AS (
      INSERT INTO redemptions (program_id, id, member_id, reward_id, points, value_minor, currency, status,
        hold_entry_id, created_at, expires_at)
      SELECT ${programId}, ${id}, ${request.memberId}, ${rewardId}, ${String(points)}::bigint,
        ${value ? String(value.minor) : null}::bigint, ${value?.currency ?? null}, 'held', e.id,
        ${now.toISOString()}::timestamptz, ${expiresAt.toISOString()}::timestamptz
      FROM entry_ids e WHERE e.n = 0 RETURNING 1),
    ${memberChangeCtes(programId, request.memberId, balance, now, [
      { type: 'redemption.held', data: { ...wire(redemption), balance: wireBalance(balance) } },
    ])}
    SELECT (SELECT count(*) FROM notified) AS notified`.execute(trx);
  return { status: 'held', redemption };
}

/** Confirms a held redemption: the points are spent, and a voucher issued if the reward has one. */
export function confirmRedemption(
  trx: Transaction<Database>,
  programs: ProgramCache,
  programId: string,
  id: string,
  now: Date,
): Promise<SettleOutcome> {
  return settle(trx, programs, programId, id, now, 'confirmed');
}

/** Cancels a held redemption: the points go back to their lots, the stock unit to the reward. */
export function cancelRedemption(
  trx: Transaction<Database>,
  programs: ProgramCache,
  programId: string,
  id: string,
  now: Date,
): Promise<SettleOutcome> {
  return settle(trx, programs, programId, id, now, 'cancelled');
}

async function settle(
  trx: Transaction<Database>,
  programs: ProgramCache,
  programId: string,
  id: string,
  now: Date,
  to: 'confirmed' | 'cancelled' | 'expired',
): Promise<SettleOutcome> {
  const found = await trx
    .selectFrom('redemptions')
    .select('member_id')
    .where('program_id', '=', programId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!found) return { status: 'not_found' };
  // The member first, then the redemption: the order every step takes.
  const member = (await lockMember(trx, programId, found.member_id)) as MemberBalance;
  const row = (
    await sql<RedemptionRow>`SELECT id, member_id, reward_id, points, value_minor, currency, status, hold_entry_id,
        created_at, expires_at, settled_at
      FROM redemptions WHERE program_id = ${programId} AND id = ${id} FOR UPDATE`.execute(trx)
  ).rows[0] as RedemptionRow;
  if (row.status !== 'held') {
    // The same step again is idempotent; the other step is refused.
    const view = await readRedemption(trx, programId, id);
    return row.status === to
      ? { status: 'settled', redemption: view as RedemptionView, changed: false }
      : { status: 'not_held', redemption: view as RedemptionView };
  }
  // A hold past its time to live is released as expired, whatever was asked.
  const outcome = now >= row.expires_at ? 'expired' : to;
  const view = await writeSettlement(trx, programs, programId, row, member, now, outcome);
  return outcome === to
    ? { status: 'settled', redemption: view, changed: true }
    : { status: 'not_held', redemption: view };
}

async function writeSettlement(
  trx: Transaction<Database>,
  programs: ProgramCache,
  programId: string,
  row: RedemptionRow,
  member: MemberBalance,
  now: Date,
  to: 'confirmed' | 'cancelled' | 'expired',
): Promise<RedemptionView> {
  const program = await programs.current(trx, programId);
  const version = program?.version ?? null;
  const ledger = new LedgerBatch(programId);
  const balance = {
    available: member.available,
    pending: member.pending,
    held: member.held - row.points,
  };
  const events: OutboxMessage[] = [];
  let voucher: { code: string; expiresAt: Date } | null = null;
  let restockReward: string | null = null;
  if (to === 'confirmed') {
    ledger.redeem(entryMeta(row.member_id, 'redemption', version, now), row.points);
    if (row.reward_id !== null) {
      const reward = await trx
        .selectFrom('rewards')
        .select('voucher_validity_days')
        .where('program_id', '=', programId)
        .where('id', '=', row.reward_id)
        .executeTakeFirst();
      if (reward?.voucher_validity_days) {
        voucher = {
          code: voucherCode(),
          expiresAt: new Date(now.getTime() + reward.voucher_validity_days * 86_400_000),
        };
      }
    }
  } else {
    const taken = await sql<{ lot_id: bigint; amount: bigint }>`
      SELECT lot_id, -amount AS amount FROM postings
      WHERE entry_id = ${String(row.hold_entry_id)}::bigint AND account = 'available' AND lot_id IS NOT NULL
      ORDER BY id`.execute(trx);
    const released = ledger.release(
      entryMeta(row.member_id, 'cancel', version, now),
      row.points,
      taken.rows.map((r) => ({ lotId: r.lot_id, amount: r.amount })),
      member.available,
    );
    balance.available += released.debtRepaid + released.lotAmount;
    restockReward = row.reward_id;
  }
  const view: RedemptionView = {
    ...toView(row, null),
    status: to,
    settledAt: now,
    voucher: voucher ? { ...voucher, redeemedAt: null } : null,
  };
  events.push({
    type: `redemption.${to}`,
    data: { ...wire(view), balance: wireBalance(balance) },
  });
  if (to === 'confirmed') {
    events.push({
      type: 'points.redeemed',
      data: {
        memberId: row.member_id,
        redemptionId: row.id,
        points: Number(row.points),
        balance: wireBalance(balance),
      },
    });
  }
  await sql`WITH ${ledgerWriteCtes(programId, ledger.rows())},
    written_redemption AS (
      UPDATE redemptions SET status = ${to}, settle_entry_id = (SELECT id FROM entry_ids WHERE n = 0),
        settled_at = ${now.toISOString()}::timestamptz
      WHERE program_id = ${programId} AND id = ${row.id} RETURNING 1),
    restocked AS (
      UPDATE rewards SET stock = stock + 1
      WHERE program_id = ${programId} AND id = ${restockReward} AND stock IS NOT NULL RETURNING 1),
    written_voucher AS (
      INSERT INTO vouchers (program_id, code, redemption_id, member_id, reward_id, issued_at, expires_at)
      SELECT ${programId}, ${voucher?.code ?? null}, ${row.id}, ${row.member_id}, ${row.reward_id},
        ${now.toISOString()}::timestamptz, ${voucher?.expiresAt.toISOString() ?? null}::timestamptz
      WHERE ${voucher !== null} RETURNING 1),
    ${memberChangeCtes(programId, row.member_id, balance, now, events)}
    SELECT (SELECT count(*) FROM notified) AS notified`.execute(trx);
  return view;
}

/**
 * Releases holds whose time to live is over, at most `limit` per call (the job runner calls
 * it until it answers fewer). Each hold is released in its own transaction with the
 * member's row locked, and its status is read again under that lock: a hold that another
 * process released, confirmed or cancelled meanwhile is left as it is, so running this
 * twice or concurrently releases nothing twice.
 */
export async function releaseExpiredHolds(
  db: Kysely<Database>,
  programs: ProgramCache,
  now: Date,
  limit = HOLD_RELEASE_BATCH,
): Promise<{ released: number; memberIds: Map<string, string[]> }> {
  const due = await db
    .selectFrom('redemptions')
    .select(['program_id', 'id'])
    .where('status', '=', 'held')
    .where('expires_at', '<=', now)
    .orderBy('expires_at')
    .limit(Math.min(limit, HOLD_RELEASE_BATCH))
    .execute();
  let released = 0;
  const memberIds = new Map<string, string[]>();
  for (const hold of due) {
    const outcome = await db
      .transaction()
      .execute((trx) => settle(trx, programs, hold.program_id, hold.id, now, 'expired'));
    if (outcome.status === 'settled' && outcome.changed) {
      released += 1;
      memberIds.set(hold.program_id, [
        ...(memberIds.get(hold.program_id) ?? []),
        outcome.redemption.memberId,
      ]);
    }
  }
  return { released, memberIds };
}

export async function readRedemption(
  db: Kysely<Database>,
  programId: string,
  id: string,
): Promise<RedemptionView | undefined> {
  const row = await sql<
    RedemptionRow & {
      code: string | null;
      voucher_expires_at: Date | null;
      redeemed_at: Date | null;
    }
  >`SELECT r.id, r.member_id, r.reward_id, r.points, r.value_minor, r.currency, r.status, r.hold_entry_id,
      r.created_at, r.expires_at, r.settled_at, v.code, v.expires_at AS voucher_expires_at, v.redeemed_at
    FROM redemptions r
    LEFT JOIN vouchers v ON v.program_id = r.program_id AND v.redemption_id = r.id
    WHERE r.program_id = ${programId} AND r.id = ${id}`.execute(db);
  const r = row.rows[0];
  if (!r) return undefined;
  return toView(
    r,
    r.code === null
      ? null
      : { code: r.code, expiresAt: r.voucher_expires_at as Date, redeemedAt: r.redeemed_at },
  );
}

export type VoucherView = {
  code: string;
  redemptionId: string;
  memberId: string;
  rewardId: string;
  issuedAt: Date;
  expiresAt: Date;
  redeemedAt: Date | null;
};

export type VoucherOutcome =
  | { status: 'redeemed'; voucher: VoucherView }
  | { status: 'not_found' }
  | { status: 'not_redeemable'; reason: 'redeemed' | 'expired'; voucher: VoucherView };

/** Redeems a single-use voucher: once, before it expires. */
export async function redeemVoucher(
  trx: Transaction<Database>,
  programId: string,
  code: string,
  now: Date,
): Promise<VoucherOutcome> {
  const rows = await sql<{
    code: string;
    redemption_id: string;
    member_id: string;
    reward_id: string;
    issued_at: Date;
    expires_at: Date;
    redeemed_at: Date | null;
  }>`SELECT code, redemption_id, member_id, reward_id, issued_at, expires_at, redeemed_at FROM vouchers
    WHERE program_id = ${programId} AND code = ${normaliseVoucherCode(code)} FOR UPDATE`.execute(
    trx,
  );
  const v = rows.rows[0];
  if (!v) return { status: 'not_found' };
  const voucher: VoucherView = {
    code: v.code,
    redemptionId: v.redemption_id,
    memberId: v.member_id,
    rewardId: v.reward_id,
    issuedAt: v.issued_at,
    expiresAt: v.expires_at,
    redeemedAt: v.redeemed_at,
  };
  if (v.redeemed_at !== null) return { status: 'not_redeemable', reason: 'redeemed', voucher };
  if (now >= v.expires_at) return { status: 'not_redeemable', reason: 'expired', voucher };
  await sql`UPDATE vouchers SET redeemed_at = ${now.toISOString()}::timestamptz
    WHERE program_id = ${programId} AND code = ${v.code}`.execute(trx);
  return { status: 'redeemed', voucher: { ...voucher, redeemedAt: now } };
}

/**
 * An unguessable code (80 random bits) a person can read out and type: Crockford base32 in
 * groups of four, `7KQ2-MX9D-…`; lower case and the letters I, L, O are read as 1, 1, 0.
 */
function voucherCode(): string {
  return (base32(randomBytes(VOUCHER_CODE_BYTES)).match(/.{4}/g) as string[]).join('-');
}

export function normaliseVoucherCode(code: string): string {
  const plain = code.toUpperCase().replace(/[-\s]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
  return (plain.match(/.{1,4}/g) ?? []).join('-');
}

function entryMeta(
  memberId: string,
  kind: EntryMeta['kind'],
  version: number | null,
  now: Date,
): EntryMeta {
  return {
    memberId,
    kind,
    eventId: null,
    correctsEntryId: null,
    programVersion: version,
    effectiveAt: now,
  };
}

function toView(row: RedemptionRow, voucher: RedemptionView['voucher']): RedemptionView {
  return {
    id: row.id,
    memberId: row.member_id,
    rewardId: row.reward_id,
    status: row.status,
    points: row.points,
    value:
      row.value_minor === null || row.currency === null
        ? null
        : { value: formatAmount(row.value_minor, row.currency), currency: row.currency },
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    settledAt: row.settled_at,
    voucher,
  };
}

/** A redemption as JSON (the HTTP answer and the outbox payload share it). */
export function wire(r: RedemptionView) {
  return {
    id: r.id,
    memberId: r.memberId,
    rewardId: r.rewardId,
    status: r.status,
    points: Number(r.points),
    value: r.value,
    createdAt: r.createdAt.toISOString(),
    expiresAt: r.expiresAt.toISOString(),
    settledAt: r.settledAt?.toISOString() ?? null,
    voucher: r.voucher
      ? {
          code: r.voucher.code,
          expiresAt: r.voucher.expiresAt.toISOString(),
          redeemedAt: r.voucher.redeemedAt?.toISOString() ?? null,
        }
      : null,
  };
}
