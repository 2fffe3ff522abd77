// Spending points as a two-phase payment: a hold, then a confirm or a cancel, on the real
// database. Balances, lots, stock and the outbox are read back after each step, and `verify`
// (run by t.close()) re-checks the whole ledger at the end.
// Real: database, HTTP stack, ledger. Faked: the clock only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgeIdempotencyKeys } from '../src/http/idempotency.ts';
import { pointValue, redeemVoucher, releaseExpiredHolds } from '../src/redemptions/index.ts';
import { ProgramCache } from '../src/programs/index.ts';
import { programTemplate, type ProgramDocument } from '../src/rules/index.ts';
import { purchase, startTestApp, type TestApp } from './support/app.ts';

/** Monday 15 June 2026, 12:00 in Prague; purchases an hour earlier earn 1 point per EUR. */
const NOW = '2026-06-15T10:00:00Z';
const AT = '2026-06-15T09:00:00Z';

interface RedemptionBody {
  id: string;
  memberId: string;
  rewardId: string | null;
  status: string;
  points: number;
  value: { value: string; currency: string } | null;
  expiresAt: string;
  voucher: { code: string; expiresAt: string; redeemedAt: string | null } | null;
}

let t: TestApp;
let token: string;
let keys = 0;

/** Retail, plus paying with points at 1,000 points = 10 EUR and holds of 10 minutes. */
function program(): ProgramDocument {
  const doc = programTemplate('retail');
  doc.settings = {
    ...doc.settings,
    redemption: {
      holdTtl: 'PT10M',
      pointValue: { points: 1000, value: { value: '10.00', currency: 'EUR' } },
    },
  };
  return doc;
}

beforeAll(async () => {
  t = await startTestApp({ now: NOW });
  token = await t.program('shop', program());
});
afterAll(() => t.close());

async function earn(memberId: string, euros: number, at = AT): Promise<void> {
  const res = await t.request('POST', '/v1/events', token, purchase(memberId, `${euros}.00`, at));
  expect(res.statusCode, res.body).toBe(201);
}

function hold(body: Record<string, unknown>, key = `key-${(keys += 1)}`) {
  return t.request('POST', '/v1/redemptions', token, body, { 'idempotency-key': key });
}

async function held(body: Record<string, unknown>): Promise<RedemptionBody> {
  const res = await hold(body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as RedemptionBody;
}

function step(id: string, action: 'confirm' | 'cancel') {
  return t.request('POST', `/v1/redemptions/${id}:${action}`, token);
}

async function balance(memberId: string) {
  const res = await t.request('GET', `/v1/members/${memberId}`, token);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { balance: { available: number; pending: number; held: number } }).balance;
}

async function outboxTypes(memberId: string): Promise<string[]> {
  const rows = await t.handle.db
    .selectFrom('outbox')
    .select('type')
    .where('program_id', '=', 'shop')
    .where('member_id', '=', memberId)
    .orderBy('id')
    .execute();
  return rows.map((r) => r.type);
}

async function addReward(
  id: string,
  fields: { cost: number; stock?: number | null; voucherDays?: number | null },
): Promise<void> {
  await t.handle.db
    .insertInto('rewards')
    .values({
      program_id: 'shop',
      id,
      name: id,
      cost: BigInt(fields.cost),
      stock: fields.stock === undefined || fields.stock === null ? null : BigInt(fields.stock),
      per_member_limit: null,
      tiers: null,
      valid_from: null,
      valid_until: null,
      voucher_validity_days: fields.voucherDays ?? null,
      archived_at: null,
      created_at: new Date(NOW),
      updated_at: new Date(NOW),
    })
    .execute();
}

describe('a hold', () => {
  it('moves points from available to held and answers what they are worth, rounded down', async () => {
    await earn('hold-a', 1234);
    const r = await held({ memberId: 'hold-a', points: 1005 });
    expect(r).toMatchObject({
      memberId: 'hold-a',
      rewardId: null,
      status: 'held',
      points: 1005,
      value: { value: '10.05', currency: 'EUR' },
      expiresAt: '2026-06-15T10:10:00.000Z',
    });
    expect(r.id).toMatch(/^rdm_[0-9A-Z]{26}$/);
    expect(await balance('hold-a')).toEqual({ available: 229, pending: 0, held: 1005 });
    // A new member's first tier (Bronze) is a tier change too; then 1,234 points lift it to Silver.
    expect(await outboxTypes('hold-a')).toEqual([
      'points.earned',
      'tier.changed',
      'tier.changed',
      'redemption.held',
    ]);
  });

  it('rounds the value down to the cent', () => {
    const doc = program();
    (doc.settings as { redemption: unknown }).redemption = {
      pointValue: { points: 3, value: { value: '0.01', currency: 'EUR' } },
    };
    // 10 points at 3 points a cent are worth 3.33 cents: the member gets 3.
    expect(pointValue(doc, 10n)).toEqual({ minor: 3n, currency: 'EUR' });
    expect(pointValue(doc, 2n)).toEqual({ minor: 0n, currency: 'EUR' });
    expect(pointValue(programTemplate('retail'), 10n)).toBeUndefined();
  });

  it('refuses more points than are available with 422 and writes nothing', async () => {
    await earn('hold-poor', 40);
    const res = await hold({ memberId: 'hold-poor', points: 41 });
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json()).toMatchObject({
      type: '/problems/insufficient-points',
      detail: 'member hold-poor has 40 points available; 41 are needed',
    });
    expect(await balance('hold-poor')).toEqual({ available: 40, pending: 0, held: 0 });
    const rows = await t.handle.db
      .selectFrom('redemptions')
      .select('id')
      .where('member_id', '=', 'hold-poor')
      .execute();
    expect(rows).toEqual([]);
    expect(await outboxTypes('hold-poor')).toEqual(['points.earned', 'tier.changed']);
  });

  it('does not count held points as available', async () => {
    await earn('hold-twice', 100);
    await held({ memberId: 'hold-twice', points: 80 });
    const res = await hold({ memberId: 'hold-twice', points: 30 });
    expect(res.statusCode, res.body).toBe(422);
  });

  it('takes the oldest points first and a cancel puts them back into the same lots', async () => {
    await earn('hold-lots', 10, '2026-06-15T08:00:00Z');
    await earn('hold-lots', 20, '2026-06-15T09:00:00Z');
    const lots = async () =>
      (
        await t.handle.db
          .selectFrom('lots')
          .select(['amount', 'remaining'])
          .where('program_id', '=', 'shop')
          .where('member_id', '=', 'hold-lots')
          .orderBy('earned_at')
          .execute()
      ).map((l) => [Number(l.amount), Number(l.remaining)]);
    const r = await held({ memberId: 'hold-lots', points: 15 });
    expect(await lots()).toEqual([
      [10, 0],
      [20, 15],
    ]);
    expect((await step(r.id, 'cancel')).statusCode).toBe(200);
    expect(await lots()).toEqual([
      [10, 10],
      [20, 20],
    ]);
  });

  it('names the field when the request is not valid, and stores nothing', async () => {
    const bad = [
      { memberId: 'x', points: 0 },
      { memberId: 'x', points: 1.5 },
      { memberId: 'x' },
      { memberId: 'x', points: 5, rewardId: 'r' },
      { memberId: 'bad id', points: 5 },
    ];
    for (const body of bad) {
      const res = await hold(body);
      expect(res.statusCode, `${JSON.stringify(body)} → ${res.body}`).toBe(400);
      expect(res.json()).toMatchObject({ type: '/problems/validation-failed' });
    }
    const res = await t.request('POST', '/v1/redemptions', token, { memberId: 'x', points: 5 });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      errors: [{ pointer: '/headers/idempotency-key' }],
    });
  });

  it('answers 422 member-unknown for a member that does not exist', async () => {
    const res = await hold({ memberId: 'nobody-here', points: 5 });
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json()).toMatchObject({ type: '/problems/member-unknown' });
  });
});

describe('confirm and cancel', () => {
  it('confirm spends the held points; repeating it answers the same; cancelling it then is 409', async () => {
    await earn('settle-c', 500);
    const r = await held({ memberId: 'settle-c', points: 300 });
    const first = await step(r.id, 'confirm');
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ id: r.id, status: 'confirmed' });
    expect(await balance('settle-c')).toEqual({ available: 200, pending: 0, held: 0 });
    const again = await step(r.id, 'confirm');
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    const cancel = await step(r.id, 'cancel');
    expect(cancel.statusCode).toBe(409);
    expect(cancel.json()).toMatchObject({
      type: '/problems/redemption-not-held',
      detail: `redemption ${r.id} is confirmed`,
    });
    expect(await balance('settle-c')).toEqual({ available: 200, pending: 0, held: 0 });
    expect(await outboxTypes('settle-c')).toEqual([
      'points.earned',
      'tier.changed',
      'redemption.held',
      'redemption.confirmed',
      'points.redeemed',
    ]);
  });

  it('cancel releases the held points; repeating it answers the same; confirming it then is 409', async () => {
    await earn('settle-x', 500);
    const r = await held({ memberId: 'settle-x', points: 300 });
    const first = await step(r.id, 'cancel');
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ status: 'cancelled' });
    expect(await balance('settle-x')).toEqual({ available: 500, pending: 0, held: 0 });
    expect((await step(r.id, 'cancel')).json()).toEqual(first.json());
    const confirm = await step(r.id, 'confirm');
    expect(confirm.statusCode).toBe(409);
    expect(await balance('settle-x')).toEqual({ available: 500, pending: 0, held: 0 });
    expect(await outboxTypes('settle-x')).toEqual([
      'points.earned',
      'tier.changed',
      'redemption.held',
      'redemption.cancelled',
    ]);
  });

  it('a hold past its time to live is released: a late confirm is 409 and the points are back', async () => {
    await earn('settle-late', 100);
    const r = await held({ memberId: 'settle-late', points: 60 });
    t.clock.set('2026-06-15T10:10:00Z');
    try {
      const confirm = await step(r.id, 'confirm');
      expect(confirm.statusCode, confirm.body).toBe(409);
      expect(confirm.json()).toMatchObject({
        detail: `redemption ${r.id} expired at 2026-06-15T10:10:00.000Z`,
      });
      expect(await balance('settle-late')).toEqual({ available: 100, pending: 0, held: 0 });
      const read = await t.request('GET', `/v1/redemptions/${r.id}`, token);
      expect(read.json()).toMatchObject({ status: 'expired' });
    } finally {
      t.clock.set(NOW);
    }
  });

  it('answers 404 for a redemption of another program', async () => {
    await earn('settle-other', 50);
    const r = await held({ memberId: 'settle-other', points: 10 });
    const otherToken = await t.program('other-shop', program());
    const res = await t.request('POST', `/v1/redemptions/${r.id}:confirm`, otherToken);
    expect(res.statusCode, res.body).toBe(404);
    expect((await t.request('GET', `/v1/redemptions/${r.id}`, otherToken)).statusCode).toBe(404);
    await step(r.id, 'cancel');
  });
});

describe('the release of expired holds', () => {
  it('releases each expired hold once, also when two runs overlap, and leaves live holds alone', async () => {
    await earn('ttl-a', 100);
    await earn('ttl-b', 100);
    const early = await held({ memberId: 'ttl-a', points: 30 });
    const alsoEarly = await held({ memberId: 'ttl-b', points: 40 });
    t.clock.set('2026-06-15T10:05:00Z');
    const late = await held({ memberId: 'ttl-a', points: 20 });
    t.clock.set(NOW);
    const at = new Date('2026-06-15T10:11:00Z');
    // Holds of earlier tests expire too: count every hold due, not only these two.
    const due = await t.handle.db
      .selectFrom('redemptions')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('status', '=', 'held')
      .where('expires_at', '<=', at)
      .executeTakeFirstOrThrow();
    expect(Number(due.n)).toBeGreaterThanOrEqual(2);
    const [one, two] = await Promise.all([
      releaseExpiredHolds(t.handle.db, new ProgramCache(), at),
      releaseExpiredHolds(t.handle.db, new ProgramCache(), at),
    ]);
    expect(one.released + two.released).toBe(Number(due.n));
    const third = await releaseExpiredHolds(t.handle.db, new ProgramCache(), at);
    expect(third.released).toBe(0);
    expect(await balance('ttl-a')).toEqual({ available: 80, pending: 0, held: 20 });
    expect(await balance('ttl-b')).toEqual({ available: 100, pending: 0, held: 0 });
    for (const [id, status] of [
      [early.id, 'expired'],
      [alsoEarly.id, 'expired'],
      [late.id, 'held'],
    ]) {
      expect((await t.request('GET', `/v1/redemptions/${id}`, token)).json()).toMatchObject({
        status,
      });
    }
    expect((await outboxTypes('ttl-b')).filter((x) => x === 'redemption.expired')).toHaveLength(1);
    await step(late.id, 'cancel');
  });
});

describe('Idempotency-Key', () => {
  it('replays the stored answer for the same key and body, and refuses another body with 409', async () => {
    await earn('idem', 100);
    const first = await hold({ memberId: 'idem', points: 10 }, 'idem-key-1');
    expect(first.statusCode).toBe(201);
    const again = await hold({ memberId: 'idem', points: 10 }, 'idem-key-1');
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    const other = await hold({ memberId: 'idem', points: 11 }, 'idem-key-1');
    expect(other.statusCode).toBe(409);
    expect(other.json()).toMatchObject({ type: '/problems/idempotency-conflict' });
    expect(await balance('idem')).toEqual({ available: 90, pending: 0, held: 10 });
  });

  it('keeps stored answers for 48 hours, then the purge removes them', async () => {
    const stored = async (key: string) =>
      (
        await t.handle.db
          .selectFrom('idempotency_keys')
          .select('key')
          .where('key', '=', key)
          .execute()
      ).length;
    await earn('idem-old', 10);
    expect((await hold({ memberId: 'idem-old', points: 1 }, 'old-key')).statusCode).toBe(201);
    await t.handle.db
      .updateTable('idempotency_keys')
      .set({ created_at: new Date('2026-06-13T09:59:59Z') })
      .where('key', '=', 'old-key')
      .execute();
    expect((await hold({ memberId: 'idem-old', points: 1 }, 'new-key')).statusCode).toBe(201);
    const purged = await purgeIdempotencyKeys(t.handle.db, new Date(NOW));
    expect(purged).toBe(1);
    expect(await stored('old-key')).toBe(0);
    expect(await stored('new-key')).toBe(1);
  });

  it('holds once when the same key arrives many times at once', async () => {
    await earn('idem-race', 100);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => hold({ memberId: 'idem-race', points: 7 }, 'race-key')),
    );
    const ids = new Set(answers.map((a) => (a.json() as RedemptionBody).id));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(20).fill(201));
    expect(ids.size).toBe(1);
    expect(await balance('idem-race')).toEqual({ available: 93, pending: 0, held: 7 });
  });
});

describe('under concurrency', () => {
  it('1,000 parallel holds of 1 point against 100 points: exactly 100 held, and all confirm to 0', async () => {
    await earn('race', 100);
    const answers = await Promise.all(
      Array.from({ length: 1000 }, () => hold({ memberId: 'race', points: 1 })),
    );
    const statuses = answers.map((a) => a.statusCode);
    expect(statuses.filter((s) => s === 201)).toHaveLength(100);
    expect(statuses.filter((s) => s === 422)).toHaveLength(900);
    expect(await balance('race')).toEqual({ available: 0, pending: 0, held: 100 });
    const confirms = await Promise.all(
      answers
        .filter((a) => a.statusCode === 201)
        .map((a) => step((a.json() as RedemptionBody).id, 'confirm')),
    );
    expect(confirms.every((c) => c.statusCode === 200)).toBe(true);
    expect(await balance('race')).toEqual({ available: 0, pending: 0, held: 0 });
  });

  it('never oversells a reward: 30 members race for 5 units, and a cancel gives one back', async () => {
    await addReward('mug', { cost: 10, stock: 5 });
    for (let i = 0; i < 30; i += 1) await earn(`mug-${i}`, 20);
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => hold({ memberId: `mug-${i}`, rewardId: 'mug' })),
    );
    const won = answers.filter((a) => a.statusCode === 201);
    expect(won).toHaveLength(5);
    expect(answers.filter((a) => a.statusCode === 422).map((a) => a.json().type)).toEqual(
      Array(25).fill('/problems/reward-out-of-stock'),
    );
    const stock = async () =>
      (
        await t.handle.db
          .selectFrom('rewards')
          .select('stock')
          .where('program_id', '=', 'shop')
          .where('id', '=', 'mug')
          .executeTakeFirstOrThrow()
      ).stock;
    expect(await stock()).toBe(0n);
    await step((won[0]?.json() as RedemptionBody).id, 'cancel');
    expect(await stock()).toBe(1n);
    const loser = answers.findIndex((a) => a.statusCode === 422);
    expect((await hold({ memberId: `mug-${loser}`, rewardId: 'mug' })).statusCode).toBe(201);
    expect(await stock()).toBe(0n);
  });
});

describe('vouchers', () => {
  it('a confirmed reward issues a single-use code that redeems once, case- and dash-insensitively', async () => {
    await addReward('cinema', { cost: 50, voucherDays: 30 });
    await earn('voucher', 60);
    const r = await held({ memberId: 'voucher', rewardId: 'cinema' });
    expect(r.voucher).toBeNull();
    const confirmed = (await step(r.id, 'confirm')).json() as RedemptionBody;
    const code = confirmed.voucher?.code as string;
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);
    expect(confirmed.voucher?.expiresAt).toBe('2026-07-15T10:00:00.000Z');
    const typed = code.replace(/-/g, '').toLowerCase();
    const first = await t.request('POST', `/v1/vouchers/${typed}:redeem`, token);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({
      code,
      redemptionId: r.id,
      redeemedAt: NOW.replace('Z', '.000Z'),
    });
    const second = await t.request('POST', `/v1/vouchers/${code}:redeem`, token);
    expect(second.statusCode).toBe(409);
    expect(second.json()).toMatchObject({ type: '/problems/voucher-not-redeemable' });
    expect(
      (await t.request('POST', '/v1/vouchers/AAAA-BBBB-CCCC-DDDD:redeem', token)).statusCode,
    ).toBe(404);
  });

  it('refuses an expired voucher', async () => {
    await earn('voucher-old', 60);
    const r = await held({ memberId: 'voucher-old', rewardId: 'cinema' });
    const code = ((await step(r.id, 'confirm')).json() as RedemptionBody).voucher?.code as string;
    // Thirty days on (the domain directly: the test's token would have expired by then).
    const outcome = await t.handle.db
      .transaction()
      .execute((trx) => redeemVoucher(trx, 'shop', code, new Date('2026-07-15T10:00:00Z')));
    expect(outcome).toMatchObject({ status: 'not_redeemable', reason: 'expired' });
  });
});
