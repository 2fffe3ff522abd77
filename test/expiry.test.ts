// Expiry of points on the real database: each policy across its boundaries, partly spent and
// held points, two concurrent runners, warnings sent once, the member's next expiry and the
// list of members with points expiring. `verify` (run by t.close()) re-checks the ledger.
// Real: database, HTTP stack, ledger. Faked: the clock only (runExpiry takes its `now`).
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, createClient } from '../src/auth/index.ts';
import { lotExpiresAt, runExpiry, runExpiryWarnings } from '../src/expiry/index.ts';
import { ProgramCache } from '../src/programs/index.ts';
import { programTemplate, type ExpiryPolicy, type ProgramDocument } from '../src/rules/index.ts';
import { purchase, refund, startTestApp, type TestApp } from './support/app.ts';

let t: TestApp;
let events = 0;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

function withPolicy(
  template: 'retail' | 'casino',
  policy: ExpiryPolicy,
  extra: Partial<NonNullable<ProgramDocument['settings']>> = {},
  timeZone?: string,
): ProgramDocument {
  const doc = programTemplate(template);
  return {
    ...doc,
    ...(timeZone ? { timeZone } : {}),
    settings: { ...doc.settings, ...extra, expiry: { policy, warningDays: 30 } },
  };
}

/**
 * Creates a program; answers its id, which stands for a token: the tests travel years in
 * time, so every request gets a fresh token at the clock's time (tokens last 15 minutes).
 */
async function program(id: string, document: ProgramDocument): Promise<string> {
  await t.program(id, document);
  const created = await createClient(t.handle.db, {
    programId: id,
    clientId: `expiry-${id}`,
    secret: `secret-expiry-${id}-0123456789`,
    scopes: [...SCOPES],
  });
  expect(created.status).toBe('created');
  return id;
}

function tokenOf(programId: string): Promise<string> {
  return t.token(`expiry-${programId}`, `secret-expiry-${programId}-0123456789`);
}

async function call(programId: string, method: string, url: string, body?: unknown, key?: string) {
  return t.request(
    method,
    url,
    await tokenOf(programId),
    body,
    key ? { 'idempotency-key': key } : {},
  );
}

/** A purchase (retail) at `at`, with the clock a minute later; answers the event id. */
async function buy(
  programId: string,
  memberId: string,
  euros: number,
  at: string,
): Promise<string> {
  t.clock.set(new Date(Date.parse(at) + 60_000).toISOString());
  const token = await tokenOf(programId);
  const body = purchase(memberId, `${euros}.00`, at);
  const res = await t.request('POST', '/v1/events', token, body);
  expect(res.statusCode, res.body).toBe(201);
  return body['id'] as string;
}

/** The casino template with inactivity after 6 months (the template says 12), warning 14 days ahead. */
function casinoSixMonths(): ProgramDocument {
  const doc = programTemplate('casino');
  doc.settings = {
    ...doc.settings,
    expiry: { policy: { type: 'inactivity', months: 6 }, warningDays: 14 },
  };
  return doc;
}

/** A bet (casino: 1 point per EUR wagered) at `at`. */
async function bet(programId: string, memberId: string, euros: number, at: string): Promise<void> {
  t.clock.set(new Date(Date.parse(at) + 60_000).toISOString());
  const token = await tokenOf(programId);
  events += 1;
  const res = await t.request('POST', '/v1/events', token, {
    id: `bet-${events}`,
    type: 'BetPlaced',
    memberId,
    occurredAt: at,
    amount: { value: `${euros}.00`, currency: 'EUR' },
  });
  expect(res.statusCode, res.body).toBe(201);
}

/** Every lot of the program carries the expiry its policy gives, set by the event that earned it. */
async function expectExpiryStamped(programId: string, document: ProgramDocument): Promise<void> {
  const lots = await t.handle.db
    .selectFrom('lots')
    .select(['id', 'earned_at', 'expires_at'])
    .where('program_id', '=', programId)
    .execute();
  expect(lots.length).toBeGreaterThan(0);
  for (const lot of lots) expect(lot.expires_at).toEqual(lotExpiresAt(document, lot.earned_at));
}

function expire(programId: string, at: string, options = {}) {
  return runExpiry(t.handle.db, new ProgramCache(), programId, new Date(at), options);
}

async function member(programId: string, memberId: string) {
  const row = await t.handle.db
    .selectFrom('members')
    .select(['available', 'held'])
    .where('program_id', '=', programId)
    .where('id', '=', memberId)
    .executeTakeFirstOrThrow();
  return { available: Number(row.available), held: Number(row.held) };
}

async function expiredPoints(programId: string): Promise<number> {
  const row = await sql<{ total: string | null }>`SELECT sum(amount)::text AS total FROM postings
    WHERE program_id = ${programId} AND account = 'expired'`.execute(t.handle.db);
  return Number(row.rows[0]?.total ?? 0);
}

async function outbox(programId: string, type: string) {
  const rows = await t.handle.db
    .selectFrom('outbox')
    .select(['member_id', 'data'])
    .where('program_id', '=', programId)
    .where('type', '=', type)
    .orderBy('id')
    .execute();
  return rows.map((r) => r.data as Record<string, unknown>);
}

describe('end of period (retail: a year of points expires at the end of the next, Prague time)', () => {
  const doc = withPolicy('retail', { type: 'endOfPeriod', month: 12, day: 31, afterYears: 1 });
  let shop: string;
  beforeAll(async () => {
    shop = await program('eop', doc);
    // 23:30 on 31 December in Prague is still 2026; 00:30 on 1 January is 2027.
    await buy(shop, 'nye', 10, '2026-12-31T22:30:00Z');
    await buy(shop, 'nye', 20, '2026-12-31T23:30:00Z');
    await expectExpiryStamped('eop', doc);
  });

  it('nothing expires a millisecond before the end of 31 December 2027 local', async () => {
    const result = await expire('eop', '2027-12-31T22:59:59.999Z');
    expect(result).toMatchObject({ members: 0, lots: 0, points: 0n, done: true });
    expect(await member('eop', 'nye')).toEqual({ available: 30, held: 0 });
  });

  it('at midnight in Prague the 2026 lot expires, posted to the expired account', async () => {
    const result = await expire('eop', '2027-12-31T23:00:00Z');
    expect(result).toMatchObject({ members: 1, lots: 1, points: 10n, done: true });
    expect(await member('eop', 'nye')).toEqual({ available: 20, held: 0 });
    expect(await expiredPoints('eop')).toBe(10);
    const entries = await t.handle.db
      .selectFrom('journal_entries')
      .select(['kind', 'effective_at'])
      .where('program_id', '=', 'eop')
      .where('kind', '=', 'expiry')
      .execute();
    expect(entries).toEqual([{ kind: 'expiry', effective_at: new Date('2027-12-31T23:00:00Z') }]);
    const [message] = await outbox('eop', 'points.expired');
    expect(message).toMatchObject({
      memberId: 'nye',
      points: 10,
      lots: [{ points: 10, expiresAt: '2027-12-31T23:00:00.000Z' }],
      balance: { available: 20, held: 0 },
    });
  });

  it('running again expires nothing twice; the 2027 lot goes at the end of 2028', async () => {
    expect(await expire('eop', '2028-06-01T00:00:00Z')).toMatchObject({ members: 0, points: 0n });
    expect(await expire('eop', '2028-12-31T23:00:00Z')).toMatchObject({ members: 1, points: 20n });
    expect(await member('eop', 'nye')).toEqual({ available: 0, held: 0 });
    expect(await expiredPoints('eop')).toBe(30);
  });
});

describe('per-lot term across the leap day and in a zone far from UTC', () => {
  it('a lot earned on 29 February 2028 expires at the same time on 28 February 2029', async () => {
    const doc = withPolicy('retail', { type: 'lot', months: 12 });
    const shop = await program('leap', doc);
    // 10:00 in Prague on Tuesday 29 February 2028 (a weekday: 1 point per EUR).
    await buy(shop, 'leap', 15, '2028-02-29T09:00:00Z');
    await expectExpiryStamped('leap', doc);
    expect(await expire('leap', '2029-02-28T08:59:59.999Z')).toMatchObject({ points: 0n });
    expect(await expire('leap', '2029-02-28T09:00:00Z')).toMatchObject({ lots: 1, points: 15n });
    expect(await member('leap', 'leap')).toEqual({ available: 0, held: 0 });
  });

  it('in Pacific/Auckland a year ends 13 hours before it does in UTC', async () => {
    const doc = withPolicy(
      'retail',
      { type: 'endOfPeriod', month: 12, day: 31, afterYears: 0 },
      {},
      'Pacific/Auckland',
    );
    const shop = await program('kiwi', doc);
    // Thursday 31 December 2026, 23:00 in Auckland (10:00 UTC): expires at the end of that day.
    await buy(shop, 'kiwi', 7, '2026-12-31T10:00:00Z');
    await expectExpiryStamped('kiwi', doc);
    expect(await expire('kiwi', '2026-12-31T10:59:59.999Z')).toMatchObject({ points: 0n });
    expect(await expire('kiwi', '2026-12-31T11:00:00Z')).toMatchObject({ points: 7n });
  });
});

describe('partly spent lots: only what is left expires, held points never', () => {
  it('a lot partly refunded expires only its remaining points', async () => {
    const doc = withPolicy('retail', { type: 'lot', months: 1 });
    const shop = await program('refunds', doc);
    const earned = await buy(shop, 'r', 100, '2026-06-15T09:00:00Z');
    t.clock.set('2026-06-16T10:00:00Z');
    const res = await call(
      'refunds',
      'POST',
      '/v1/events',
      refund('r', earned, '40.00', '2026-06-16T09:00:00Z'),
    );
    expect(res.statusCode, res.body).toBe(201);
    await expectExpiryStamped('refunds', doc);
    expect(await expire('refunds', '2026-07-15T09:00:00Z')).toMatchObject({ lots: 1, points: 60n });
    expect(await member('refunds', 'r')).toEqual({ available: 0, held: 0 });
  });

  it('held points do not expire; cancelled after the expiry, the next run expires them', async () => {
    const doc = casinoSixMonths(); // inactivity, 6 months, Europe/Malta
    const shop = await program('held', doc);
    await bet(shop, 'h', 100, '2026-01-15T10:00:00Z');
    t.clock.set('2026-02-01T10:00:00Z');
    const hold = await call(
      'held',
      'POST',
      '/v1/redemptions',
      { memberId: 'h', points: 30 },
      'held-1',
    );
    expect(hold.statusCode, hold.body).toBe(201);
    // Last active 15 January: the points expire at the end of 15 July, Malta time.
    expect(await expire('held', '2026-07-15T21:59:59.999Z')).toMatchObject({ points: 0n });
    expect(await expire('held', '2026-07-15T22:00:00Z')).toMatchObject({ members: 1, points: 70n });
    expect(await member('held', 'h')).toEqual({ available: 0, held: 30 });
    // The hold outlived its time to live long ago: settling it releases it back to its lot.
    t.clock.set('2026-07-16T10:00:00Z');
    const id = (hold.json() as { id: string }).id;
    const cancel = await call('held', 'POST', `/v1/redemptions/${id}:cancel`, undefined, 'held-2');
    expect(cancel.statusCode, cancel.body).toBe(409); // not held any more: it expired
    expect(await member('held', 'h')).toEqual({ available: 30, held: 0 });
    expect(await expire('held', '2026-07-16T10:00:00Z')).toMatchObject({ points: 30n });
    expect(await member('held', 'h')).toEqual({ available: 0, held: 0 });
  });
});

describe('inactivity (casino: 6 months without a bet that earns points)', () => {
  it('expires all points of the inactive only; a later bet moves the deadline', async () => {
    const doc = casinoSixMonths();
    const shop = await program('casino', doc);
    await bet(shop, 'idle', 50, '2026-01-15T10:00:00Z');
    await bet(shop, 'idle', 25, '2026-01-15T11:00:00Z');
    await bet(shop, 'busy', 40, '2026-01-15T10:00:00Z');
    await bet(shop, 'busy', 10, '2026-03-01T10:00:00Z');
    expect(await expire('casino', '2026-07-15T21:59:59Z')).toMatchObject({ points: 0n });
    expect(await expire('casino', '2026-07-15T22:00:00Z')).toMatchObject({
      members: 1,
      lots: 2,
      points: 75n,
    });
    expect(await member('casino', 'idle')).toEqual({ available: 0, held: 0 });
    expect(await member('casino', 'busy')).toEqual({ available: 50, held: 0 });
    const [message] = await outbox('casino', 'points.expired');
    expect(message).toMatchObject({ memberId: 'idle', points: 75, reason: 'inactivity' });
    // Active on 1 March: the end of 1 September (CEST) is the deadline.
    expect(await expire('casino', '2026-09-01T21:59:59Z')).toMatchObject({ points: 0n });
    expect(await expire('casino', '2026-09-01T22:00:00Z')).toMatchObject({ points: 50n });
  });
});

describe('two runners at once', () => {
  it('expire every due lot exactly once', async () => {
    const doc = withPolicy('retail', { type: 'lot', months: 1 });
    const shop = await program('race', doc);
    let total = 0;
    for (let i = 0; i < 24; i++) {
      await buy(shop, `m${String(i).padStart(2, '0')}`, 10 + i, '2026-06-15T09:00:00Z');
      await buy(shop, `m${String(i).padStart(2, '0')}`, 5, '2026-06-15T09:30:00Z');
      total += 15 + i;
    }
    await expectExpiryStamped('race', doc);
    const [a, b] = await Promise.all([
      expire('race', '2026-08-01T00:00:00Z', { membersPerTransaction: 3 }),
      expire('race', '2026-08-01T00:00:00Z', { membersPerTransaction: 5 }),
    ]);
    expect(a.points + b.points).toBe(BigInt(total));
    expect(a.lots + b.lots).toBe(48);
    expect(await expiredPoints('race')).toBe(total);
    const perLot = await sql<{ n: string }>`SELECT count(*)::text AS n FROM postings x
      JOIN journal_entries e ON e.id = x.entry_id
      WHERE e.program_id = 'race' AND e.kind = 'expiry' AND x.lot_id IS NOT NULL
      GROUP BY x.lot_id HAVING count(*) > 1`.execute(t.handle.db);
    expect(perLot.rows).toEqual([]);
    const messages = await outbox('race', 'points.expired');
    expect(messages.reduce((sum, m) => sum + (m['points'] as number), 0)).toBe(total);
  });
});

describe('warnings', () => {
  const doc = withPolicy('retail', { type: 'endOfPeriod', month: 12, day: 31, afterYears: 1 });
  const warn = (programId: string, at: string) =>
    runExpiryWarnings(t.handle.db, new ProgramCache(), programId, new Date(at));

  it('each lot is warned about once, 30 days ahead, in one message per member and instant', async () => {
    const shop = await program('warn', doc);
    await buy(shop, 'w1', 10, '2026-06-15T09:00:00Z');
    await buy(shop, 'w1', 20, '2026-06-16T09:00:00Z');
    await buy(shop, 'w2', 30, '2026-06-16T09:00:00Z');
    await expectExpiryStamped('warn', doc);
    // Expiry at 2027-12-31T23:00Z; warned from 30 days before.
    expect(await warn('warn', '2027-12-01T22:59:59Z')).toMatchObject({ messages: 0, lots: 0 });
    expect(await warn('warn', '2027-12-01T23:00:00Z')).toMatchObject({ messages: 2, lots: 3 });
    expect(await warn('warn', '2027-12-02T00:00:00Z')).toMatchObject({ messages: 0, lots: 0 });
    const messages = await outbox('warn', 'points.expiring');
    expect(messages).toEqual([
      expect.objectContaining({
        memberId: 'w1',
        points: 30,
        expiresAt: '2027-12-31T23:00:00.000Z',
      }),
      expect.objectContaining({ memberId: 'w2', points: 30 }),
    ]);
    expect((messages[0]?.['lots'] as unknown[]).length).toBe(2);
  });

  it('two warning runners at once send each warning once', async () => {
    const shop = await program('warn2', doc);
    for (let i = 0; i < 12; i++) await buy(shop, `v${i}`, 10, '2026-06-15T09:00:00Z');
    await expectExpiryStamped('warn2', doc);
    const [a, b] = await Promise.all([
      warn('warn2', '2027-12-15T00:00:00Z'),
      warn('warn2', '2027-12-15T00:00:00Z'),
    ]);
    expect(a.lots + b.lots).toBe(12);
    expect(await outbox('warn2', 'points.expiring')).toHaveLength(12);
  });

  it('inactivity warns of the deadline 14 days ahead, once', async () => {
    const shop = await program('warn3', casinoSixMonths());
    await bet(shop, 'c', 100, '2026-01-15T10:00:00Z');
    // Deadline 2026-07-15T22:00Z; warningDays 14.
    expect(await warn('warn3', '2026-07-01T21:59:59Z')).toMatchObject({ lots: 0 });
    expect(await warn('warn3', '2026-07-01T22:00:00Z')).toMatchObject({ messages: 1, lots: 1 });
    expect(await warn('warn3', '2026-07-10T00:00:00Z')).toMatchObject({ messages: 0 });
    expect(await outbox('warn3', 'points.expiring')).toEqual([
      expect.objectContaining({
        memberId: 'c',
        points: 100,
        expiresAt: '2026-07-15T22:00:00.000Z',
      }),
    ]);
  });
});

describe('what a member has expiring', () => {
  const doc = withPolicy('retail', { type: 'endOfPeriod', month: 12, day: 31, afterYears: 1 });
  let shop: string;
  beforeAll(async () => {
    shop = await program('view', doc);
    await buy(shop, 'soon', 10, '2026-06-15T09:00:00Z');
    await buy(shop, 'soon', 5, '2026-12-01T09:00:00Z');
    for (const id of ['a1', 'a2', 'a3', 'a4', 'a5']) await buy(shop, id, 3, '2026-12-02T09:00:00Z');
    await buy(shop, 'later', 8, '2027-03-01T09:00:00Z');
    await expectExpiryStamped('view', doc);
    t.clock.set('2027-12-10T00:00:00Z');
  });

  it('GET /v1/members/{id} answers the soonest expiry and the points expiring then', async () => {
    const res = await call('view', 'GET', '/v1/members/soon');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      balance: { available: 15 },
      nextExpiry: { at: '2027-12-31T23:00:00.000Z', points: 15 },
    });
    const later = await call('view', 'GET', '/v1/members/later');
    expect(later.json()).toMatchObject({
      nextExpiry: { at: '2028-12-31T23:00:00.000Z', points: 8 },
    });
  });

  it('under inactivity the deadline and all available points', async () => {
    const casino = await program('view2', casinoSixMonths());
    await bet(casino, 'p', 60, '2026-01-15T10:00:00Z');
    const res = await call(casino, 'GET', '/v1/members/p');
    expect(res.json()).toMatchObject({
      nextExpiry: { at: '2026-07-15T22:00:00.000Z', points: 60 },
    });
  });

  it('a member with nothing expiring has nextExpiry null', async () => {
    const none = await program('view3', withPolicy('retail', { type: 'none' }));
    await buy(none, 'n', 10, '2026-06-15T09:00:00Z');
    const res = await call(none, 'GET', '/v1/members/n');
    expect(res.json()).toMatchObject({ nextExpiry: null });
  });

  it('GET /v1/members:expiring pages the members expiring within the days asked', async () => {
    t.clock.set('2027-12-10T00:00:00Z');
    const seen: { memberId: string; points: number; at: string }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `&cursor=${cursor}` : '';
      const res = await call('view', 'GET', `/v1/members:expiring?limit=2${query}`);
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json() as { items: typeof seen; nextCursor: string | null };
      seen.push(...page.items);
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(seen.map((i) => i.memberId)).toEqual(['a1', 'a2', 'a3', 'a4', 'a5', 'soon']);
    expect(seen.at(-1)).toEqual({ memberId: 'soon', points: 15, at: '2027-12-31T23:00:00.000Z' });
    const narrow = await call('view', 'GET', '/v1/members:expiring?withinDays=7');
    expect(narrow.json()).toEqual({ items: [], nextCursor: null });
    // Due but not yet expired (the job has not run) still counts, beside what is a year away.
    t.clock.set('2028-01-15T00:00:00Z');
    const wide = await call('view', 'GET', '/v1/members:expiring?withinDays=365&limit=500');
    expect((wide.json() as { items: { memberId: string }[] }).items.map((i) => i.memberId)).toEqual(
      ['a1', 'a2', 'a3', 'a4', 'a5', 'later', 'soon'],
    );
  });

  it('refuses a cursor Patron did not issue and days beyond 365', async () => {
    const bad = await call('view', 'GET', '/v1/members:expiring?cursor=nope');
    expect(bad.statusCode).toBe(400);
    const far = await call('view', 'GET', '/v1/members:expiring?withinDays=366');
    expect(far.statusCode).toBe(400);
    expect((far.json() as { errors: { pointer: string }[] }).errors[0]?.pointer).toBe(
      '/querystring/withinDays',
    );
  });
});
