// Refunds on the retail reference program (and variants of it), driven over HTTP against a
// real database. Real: the HTTP app, the event pipeline, the ledger, the database. Faked: the
// clock (fixed at Monday 2026-06-15 12:00 in Prague unless a test says otherwise).
//
// Rule under test (issue 3): a refund is `type: "refund"` with `refundOf` and an amount; it
// reverses the original's points in proportion to the refunded amount, rounded down on the
// cumulative refunded amount, from the entries originally posted — never by re-running
// today's rules — and recomputes the tier metric. `t.close()` re-verifies the whole ledger.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLedger } from '../src/ledger/index.ts';
import { programTemplate, type ProgramDocument } from '../src/rules/index.ts';
import { DEFAULT_NOW, purchase, refund, startTestApp, type TestApp } from './support/app.ts';
import type { EventAnswer, Problem, LedgerItem, MemberView } from './support/types.ts';

interface Explanation {
  eventId: string;
  type: string;
  memberId: string;
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
  trace: Record<string, unknown>;
}

interface BatchAnswer {
  results: ({ status: number; body: EventAnswer } | { status: number; problem: Problem })[];
}

/** Saturday 2026-06-13 12:00 in Prague: weekend, so electronics earn 6×. */
const SATURDAY = '2026-06-13T10:00:00Z';
/** Monday 2026-06-15 10:00 in Prague: a plain weekday (1×). */
const WEEKDAY = '2026-06-15T08:00:00Z';
const ELECTRONICS = { attributes: { category: 'electronics' } };

let t: TestApp;
let token: string;

beforeAll(async () => {
  t = await startTestApp();
  token = await t.program('retail', 'retail');
});
afterAll(() => t.close());

async function send(tok: string, body: Record<string, unknown>) {
  return t.request('POST', '/v1/events', tok, body);
}

/** Sends an event that must be accepted (201) and answers its body. */
async function accepted(tok: string, body: Record<string, unknown>): Promise<EventAnswer> {
  const res = await send(tok, body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as EventAnswer;
}

async function getMember(tok: string, id: string): Promise<MemberView> {
  const res = await t.request('GET', `/v1/members/${id}`, tok);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as MemberView;
}

async function getLedger(tok: string, id: string): Promise<LedgerItem[]> {
  const res = await t.request('GET', `/v1/members/${id}/ledger`, tok);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { items: LedgerItem[] }).items;
}

async function explain(tok: string, id: string): Promise<Explanation> {
  const res = await t.request('GET', `/v1/events/${id}/explain`, tok);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as Explanation;
}

/** Rows the event pipeline writes, for proving that a refused request wrote nothing. */
async function footprint(programId: string) {
  const count = async (
    table: 'events' | 'journal_entries' | 'postings' | 'tier_changes' | 'member_metric_days',
  ) => {
    const row = await t.handle.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<bigint>().as('n'))
      .where('program_id', '=', programId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  };
  const members = await t.handle.db
    .selectFrom('members')
    .select(['id', 'available', 'tier_id', 'tier_since', 'updated_at'])
    .where('program_id', '=', programId)
    .orderBy('id')
    .execute();
  const metrics = await t.handle.db
    .selectFrom('member_metric_days')
    .select(['member_id', 'metric', 'day', 'value'])
    .where('program_id', '=', programId)
    .orderBy('member_id')
    .orderBy('metric')
    .orderBy('day')
    .execute();
  return {
    events: await count('events'),
    entries: await count('journal_entries'),
    postings: await count('postings'),
    tierChanges: await count('tier_changes'),
    members,
    metrics,
  };
}

function withSettings(settings: NonNullable<ProgramDocument['settings']>): ProgramDocument {
  const document = programTemplate('retail');
  document.settings = { ...document.settings, ...settings };
  return document;
}

describe('proportional reversal', () => {
  it('reverses points in proportion to the refunded amount, rounded down, with a negative pointsEarned', async () => {
    t.clock.set(DEFAULT_NOW);
    const original = purchase('prop-1', '100.00', SATURDAY, ELECTRONICS);
    expect((await accepted(token, original)).pointsEarned).toBe(600);

    // 600 × 12.34 / 100.00 = 74.04 → 74
    const body = refund('prop-1', original.id as string, '12.34', WEEKDAY);
    const res = await send(token, body);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toEqual({
      eventId: body.id,
      memberId: 'prop-1',
      pointsEarned: -74,
      replayed: false,
      balance: { available: 526, pending: 0, held: 0 },
      tier: { id: 'bronze', name: 'Bronze' },
      programVersion: 1,
    });
    expect((await getMember(token, 'prop-1')).balance).toEqual({
      available: 526,
      pending: 0,
      held: 0,
    });
  });

  it('three partial refunds that add up to a 100.00 EUR 6× purchase reverse exactly its 600 points', async () => {
    t.clock.set(DEFAULT_NOW);
    const original = purchase('thirds', '100.00', SATURDAY, ELECTRONICS);
    expect((await accepted(token, original)).pointsEarned).toBe(600);
    const of = original.id as string;

    // Rounded down on the cumulative amount: floor(600 × 33.33%) = 199, floor(600 × 66.66%) = 399, 600.
    const first = await accepted(token, refund('thirds', of, '33.33', WEEKDAY));
    const second = await accepted(token, refund('thirds', of, '33.33', WEEKDAY));
    const third = await accepted(token, refund('thirds', of, '33.34', WEEKDAY));
    expect([first.pointsEarned, second.pointsEarned, third.pointsEarned]).toEqual([
      -199, -200, -201,
    ]);
    expect([first.balance.available, second.balance.available, third.balance.available]).toEqual([
      401, 201, 0,
    ]);
    expect(first.pointsEarned + second.pointsEarned + third.pointsEarned).toBe(-600);
    expect((await getMember(token, 'thirds')).balance).toEqual({
      available: 0,
      pending: 0,
      held: 0,
    });

    // Nothing remains to refund: even a cent is refused.
    const extra = await send(token, refund('thirds', of, '0.01', WEEKDAY));
    expect(extra.statusCode, extra.body).toBe(422);
    expect((extra.json() as Problem).type).toBe('/problems/refund-exceeds-remaining');
  });

  it('many small refunds never reverse more than the purchase earned, and the last one reverses the rest', async () => {
    t.clock.set(DEFAULT_NOW);
    const original = purchase('cents', '1.00', SATURDAY, ELECTRONICS); // 6 points
    expect((await accepted(token, original)).pointsEarned).toBe(6);
    const reversed: number[] = [];
    for (let i = 0; i < 10; i += 1) {
      reversed.push(
        (await accepted(token, refund('cents', original.id as string, '0.10', WEEKDAY)))
          .pointsEarned,
      );
    }
    // floor(6 × k / 10) for k = 1..10, differenced.
    expect(reversed).toEqual([0, -1, 0, -1, -1, 0, -1, 0, -1, -1]);
    expect(reversed.reduce((a, b) => a + b, 0)).toBe(-6);
    expect((await getMember(token, 'cents')).balance.available).toBe(0);
  });

  it('a full refund takes back all of that purchase and only that purchase', async () => {
    t.clock.set(DEFAULT_NOW);
    const first = purchase('full', '45.99', WEEKDAY);
    const second = purchase('full', '20.00', WEEKDAY);
    expect((await accepted(token, first)).pointsEarned).toBe(45);
    expect((await accepted(token, second)).pointsEarned).toBe(20);

    const back = await accepted(token, refund('full', first.id as string, '45.99', WEEKDAY));
    expect(back.pointsEarned).toBe(-45);
    expect(back.balance).toEqual({ available: 20, pending: 0, held: 0 });

    const back2 = await accepted(token, refund('full', second.id as string, '20.00', WEEKDAY));
    expect(back2.pointsEarned).toBe(-20);
    expect(back2.balance).toEqual({ available: 0, pending: 0, held: 0 });
    expect((await getMember(token, 'full')).balance).toEqual({ available: 0, pending: 0, held: 0 });
  });

  it('a refund of a purchase that earned nothing reverses nothing and posts no entry', async () => {
    t.clock.set(DEFAULT_NOW);
    await accepted(token, purchase('tiny', '10.00', WEEKDAY));
    const original = purchase('tiny', '0.50', WEEKDAY);
    expect((await accepted(token, original)).pointsEarned).toBe(0);
    const body = refund('tiny', original.id as string, '0.50', WEEKDAY);
    const back = await accepted(token, body);
    expect(back.pointsEarned).toBe(0);
    expect(back.balance.available).toBe(10);
    expect((await explain(token, body.id as string)).postings).toEqual([]);
  });

  it('reverses what the purchase originally posted, not what the rules in force today would give', async () => {
    t.clock.set(DEFAULT_NOW);
    const tok = await t.program('retail-changing', 'retail');
    const original = purchase('changing', '100.00', SATURDAY, ELECTRONICS);
    const earned = await accepted(tok, original);
    expect(earned).toMatchObject({ pointsEarned: 600, programVersion: 1 });

    // Version 2: 2 points per EUR and electronics ×10, so the same purchase would now earn 4000.
    const v2 = programTemplate('retail');
    for (const rule of v2.rules) {
      if (rule.effect.type === 'earn') rule.effect.pointsPerUnit = '2';
      if (rule.id === 'electronics' && rule.effect.type === 'multiplier') rule.effect.factor = '10';
    }
    const published = await t.request('PUT', '/v1/program', tok, v2);
    expect(published.statusCode, published.body).toBe(200);
    expect((published.json() as { version: number }).version).toBe(2);

    const half = refund('changing', original.id as string, '50.00', WEEKDAY);
    const back = await accepted(tok, half);
    expect(back).toMatchObject({
      pointsEarned: -300,
      programVersion: 2,
      balance: { available: 300 },
    });
    const trace = (await explain(tok, half.id as string)).trace;
    expect(trace).toMatchObject({ kind: 'refund', originalPoints: 600, reversal: { points: 300 } });

    // The new rules are really in force: the same purchase today earns 4000.
    const again = await accepted(tok, purchase('changing', '100.00', SATURDAY, ELECTRONICS));
    expect(again).toMatchObject({ pointsEarned: 4000, programVersion: 2 });

    // And the rest of the original still reverses at its own rate (300 more, not 2000).
    const rest = await accepted(tok, refund('changing', original.id as string, '50.00', WEEKDAY));
    expect(rest.pointsEarned).toBe(-300);
    expect(rest.balance.available).toBe(4000);
  });

  it('a purchase and its refunds in one batch are processed in order, and together cannot exceed the purchase', async () => {
    t.clock.set(DEFAULT_NOW);
    const original = purchase('batch', '100.00', WEEKDAY);
    const of = original.id as string;
    const res = await t.request('POST', '/v1/events:batch', token, {
      events: [
        original,
        refund('batch', of, '40.00', WEEKDAY),
        refund('batch', of, '70.00', WEEKDAY),
        refund('batch', of, '60.00', WEEKDAY),
      ],
    });
    expect(res.statusCode, res.body).toBe(200);
    const { results } = res.json() as BatchAnswer;
    expect(results.map((r) => r.status)).toEqual([201, 201, 422, 201]);
    expect(results.map((r) => ('body' in r ? r.body.pointsEarned : null))).toEqual([
      100,
      -40,
      null,
      -60,
    ]);
    const refused = results[2] as { problem: Problem };
    expect(refused.problem.type).toBe('/problems/refund-exceeds-remaining');
    expect(refused.problem.errors).toEqual([
      { pointer: '/events/2/amount/value', detail: expect.stringContaining('60.00') },
    ]);
    expect((await getMember(token, 'batch')).balance.available).toBe(0);
  });

  it('concurrent refunds of one purchase can never together exceed it', async () => {
    t.clock.set(DEFAULT_NOW);
    const original = purchase('racing', '100.00', WEEKDAY);
    expect((await accepted(token, original)).pointsEarned).toBe(100);
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        send(token, refund('racing', original.id as string, '30.00', WEEKDAY)),
      ),
    );
    const statuses = answers.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([201, 201, 201, 422, 422]);
    for (const r of answers.filter((a) => a.statusCode === 422)) {
      expect((r.json() as Problem).type).toBe('/problems/refund-exceeds-remaining');
    }
    expect((await getMember(token, 'racing')).balance.available).toBe(10);
    expect((await explain(token, original.id as string)).refunds).toHaveLength(3);
  });
});

describe('refused refunds write nothing', () => {
  it('a refund larger than what remains is a 422 refund-exceeds-remaining, and the id stays free', async () => {
    t.clock.set(DEFAULT_NOW);
    const original = purchase('excess', '50.00', WEEKDAY);
    await accepted(token, original);
    await accepted(token, refund('excess', original.id as string, '30.00', WEEKDAY));
    const before = await footprint('retail');

    const tooMuch = refund('excess', original.id as string, '20.01', WEEKDAY);
    const res = await send(token, tooMuch);
    expect(res.statusCode, res.body).toBe(422);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const problem = res.json() as Problem;
    expect(problem).toMatchObject({ type: '/problems/refund-exceeds-remaining', status: 422 });
    expect(problem.detail).toContain('20.00 EUR');
    expect(problem.errors).toEqual([{ pointer: '/amount/value', detail: problem.detail }]);

    expect(await footprint('retail')).toEqual(before);
    expect(
      (await t.request('GET', `/v1/events/${tooMuch.id as string}/explain`, token)).statusCode,
    ).toBe(404);
    expect((await getMember(token, 'excess')).balance.available).toBe(20);

    // Nothing was stored under the refused id: it can carry the right refund now.
    const exact = { ...tooMuch, amount: { value: '20.00', currency: 'EUR' } };
    const ok = await send(token, exact);
    expect(ok.statusCode, ok.body).toBe(201);
    expect((ok.json() as EventAnswer).balance.available).toBe(0);
  });

  it('a refund of an unknown event is a 422 refund-of-unknown-event and creates no member', async () => {
    t.clock.set(DEFAULT_NOW);
    await accepted(token, purchase('unknown-ref', '10.00', WEEKDAY));
    const before = await footprint('retail');

    const res = await send(token, refund('unknown-ref', 'no-such-event', '5.00', WEEKDAY));
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json()).toMatchObject({
      type: '/problems/refund-of-unknown-event',
      status: 422,
      errors: [{ pointer: '/refundOf' }],
    });

    const ghost = await send(token, refund('ghost', 'no-such-event', '5.00', WEEKDAY));
    expect(ghost.statusCode, ghost.body).toBe(422);
    expect((ghost.json() as Problem).type).toBe('/problems/refund-of-unknown-event');
    expect((await t.request('GET', '/v1/members/ghost', token)).statusCode).toBe(404);
    expect(await footprint('retail')).toEqual(before);
  });

  it("another program's event is unknown to this program", async () => {
    t.clock.set(DEFAULT_NOW);
    const other = await t.program('retail-other', 'retail');
    const theirs = purchase('shared-name', '10.00', WEEKDAY);
    await accepted(other, theirs);
    await accepted(token, purchase('shared-name', '10.00', WEEKDAY));
    const before = await footprint('retail');

    const res = await send(token, refund('shared-name', theirs.id as string, '10.00', WEEKDAY));
    expect(res.statusCode, res.body).toBe(422);
    expect((res.json() as Problem).type).toBe('/problems/refund-of-unknown-event');
    expect(await footprint('retail')).toEqual(before);
    expect((await getMember(other, 'shared-name')).balance.available).toBe(10);
  });

  it("a refund of another member's purchase is a 422 refund-not-allowed", async () => {
    t.clock.set(DEFAULT_NOW);
    const alices = purchase('alice', '80.00', WEEKDAY);
    await accepted(token, alices);
    await accepted(token, purchase('bob', '15.00', WEEKDAY));
    const before = await footprint('retail');

    const res = await send(token, refund('bob', alices.id as string, '80.00', WEEKDAY));
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json()).toMatchObject({
      type: '/problems/refund-not-allowed',
      errors: [{ pointer: '/memberId' }],
    });
    expect(await footprint('retail')).toEqual(before);
    expect((await getMember(token, 'alice')).balance.available).toBe(80);
    expect((await getMember(token, 'bob')).balance.available).toBe(15);
  });

  it('a refund of a refund is a 422 refund-not-allowed', async () => {
    t.clock.set(DEFAULT_NOW);
    const original = purchase('double', '80.00', WEEKDAY);
    await accepted(token, original);
    const first = refund('double', original.id as string, '20.00', WEEKDAY);
    await accepted(token, first);
    const before = await footprint('retail');

    const res = await send(token, refund('double', first.id as string, '10.00', WEEKDAY));
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json()).toMatchObject({
      type: '/problems/refund-not-allowed',
      errors: [{ pointer: '/refundOf' }],
    });
    expect(await footprint('retail')).toEqual(before);
    expect((await getMember(token, 'double')).balance.available).toBe(60);
  });

  it('a refund in a currency the program does not accept is a 400 naming /amount/currency', async () => {
    t.clock.set(DEFAULT_NOW);
    const original = purchase('dollars', '80.00', WEEKDAY);
    await accepted(token, original);
    const before = await footprint('retail');

    const res = await send(token, {
      ...refund('dollars', original.id as string, '10.00', WEEKDAY),
      amount: { value: '10.00', currency: 'USD' },
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({
      type: '/problems/validation-failed',
      errors: [{ pointer: '/amount/currency' }],
    });
    expect(await footprint('retail')).toEqual(before);
  });

  it('in a two-currency program, a refund in another currency than the purchase is a 422 refund-not-allowed', async () => {
    t.clock.set(DEFAULT_NOW);
    const document = programTemplate('retail');
    document.currencies = ['EUR', 'USD'];
    const tok = await t.program('retail-two-currencies', document);
    const original = purchase('two-cur', '80.00', WEEKDAY);
    expect((await accepted(tok, original)).pointsEarned).toBe(80);
    const before = await footprint('retail-two-currencies');

    const res = await send(tok, {
      ...refund('two-cur', original.id as string, '10.00', WEEKDAY),
      amount: { value: '10.00', currency: 'USD' },
    });
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json()).toMatchObject({
      type: '/problems/refund-not-allowed',
      errors: [{ pointer: '/amount/currency' }],
    });
    expect(await footprint('retail-two-currencies')).toEqual(before);

    const same = await accepted(tok, refund('two-cur', original.id as string, '10.00', WEEKDAY));
    expect(same.pointsEarned).toBe(-10);
  });

  it('a refund without refundOf, or without an amount, is a 400', async () => {
    t.clock.set(DEFAULT_NOW);
    const original = purchase('malformed', '80.00', WEEKDAY);
    await accepted(token, original);
    const before = await footprint('retail');

    const { refundOf: _dropped, ...noRefundOf } = refund(
      'malformed',
      original.id as string,
      '10.00',
      WEEKDAY,
    );
    const missingOf = await send(token, noRefundOf);
    expect(missingOf.statusCode, missingOf.body).toBe(400);
    expect((missingOf.json() as Problem).errors).toContainEqual(
      expect.objectContaining({ pointer: '/refundOf' }),
    );

    const { amount: _none, ...noAmount } = refund(
      'malformed',
      original.id as string,
      '10.00',
      WEEKDAY,
    );
    const missingAmount = await send(token, noAmount);
    expect(missingAmount.statusCode, missingAmount.body).toBe(400);
    expect((missingAmount.json() as Problem).errors).toContainEqual(
      expect.objectContaining({ pointer: '/amount' }),
    );
    expect(await footprint('retail')).toEqual(before);
  });
});

describe('what a refund records', () => {
  it("the member's ledger shows refund postings that name the earn entry they correct and its lot", async () => {
    t.clock.set(DEFAULT_NOW);
    const first = purchase('ledger', '30.00', WEEKDAY);
    const second = purchase('ledger', '70.00', WEEKDAY);
    await accepted(token, first);
    await accepted(token, second);
    const body = refund('ledger', second.id as string, '35.00', WEEKDAY);
    await accepted(token, body);

    const items = await getLedger(token, 'ledger');
    expect(items.map((i) => [i.kind, i.amount, i.eventId])).toEqual([
      ['refund', -35, body.id],
      ['earn', 70, second.id],
      ['earn', 30, first.id],
    ]);
    const [reversal, earn, otherEarn] = items as [LedgerItem, LedgerItem, LedgerItem];
    expect(earn.correctsEntryId).toBeNull();
    expect(otherEarn.correctsEntryId).toBeNull();
    expect(reversal.correctsEntryId).toBe(earn.entryId);
    expect(reversal.lotId).toBe(earn.lotId);
    expect(reversal.account).toBe('available');
    expect(reversal.programVersion).toBe(1);

    // The entry is double-entry: the points go back to the program's issued account.
    const postings = await t.handle.db
      .selectFrom('postings')
      .select(['account', 'amount', 'member_id'])
      .where('entry_id', '=', BigInt(reversal.entryId))
      .orderBy('id')
      .execute();
    expect(postings).toEqual([
      { account: 'available', amount: -35n, member_id: 'ledger' },
      { account: 'issued', amount: 35n, member_id: null },
    ]);
  });

  it('the ledger of a refunded purchase pages with limit and cursor, newest first', async () => {
    t.clock.set(DEFAULT_NOW);
    const original = purchase('paged', '90.00', WEEKDAY);
    await accepted(token, original);
    const refunds = [
      refund('paged', original.id as string, '10.00', WEEKDAY),
      refund('paged', original.id as string, '20.00', WEEKDAY),
    ];
    for (const body of refunds) await accepted(token, body);

    const page1 = await t.request('GET', '/v1/members/paged/ledger?limit=2', token);
    expect(page1.statusCode, page1.body).toBe(200);
    const first = page1.json() as { items: LedgerItem[]; nextCursor: string | null };
    expect(first.items.map((i) => [i.kind, i.amount])).toEqual([
      ['refund', -20],
      ['refund', -10],
    ]);
    expect(first.nextCursor).toEqual(expect.any(String));
    const page2 = await t.request(
      'GET',
      `/v1/members/paged/ledger?limit=2&cursor=${first.nextCursor as string}`,
      token,
    );
    expect(page2.statusCode, page2.body).toBe(200);
    const second = page2.json() as { items: LedgerItem[]; nextCursor: string | null };
    expect(second.items.map((i) => [i.kind, i.amount])).toEqual([['earn', 90]]);
    expect(second.nextCursor).toBeNull();
  });

  it('explain of a refund shows the reversal computation and explain of the purchase lists its refunds', async () => {
    t.clock.set(DEFAULT_NOW);
    const original = purchase('explained', '100.00', SATURDAY, ELECTRONICS);
    await accepted(token, original);
    const first = refund('explained', original.id as string, '33.33', WEEKDAY);
    const second = refund('explained', original.id as string, '33.33', WEEKDAY);
    await accepted(token, first);
    await accepted(token, second);

    const one = await explain(token, first.id as string);
    expect(one).toMatchObject({
      eventId: first.id,
      type: 'refund',
      memberId: 'explained',
      programVersion: 1,
      pointsEarned: -199,
      refundOf: original.id,
      refunds: [],
    });
    expect(one.postings.map((p) => [p.kind, p.account, p.amount])).toEqual([
      ['refund', 'available', -199],
      ['refund', 'issued', 199],
    ]);
    expect(one.trace).toMatchObject({
      kind: 'refund',
      refundOf: original.id,
      originalAmount: { value: '100.00', currency: 'EUR' },
      refundedBefore: '0.00',
      refundedNow: '33.33',
      originalPoints: 600,
      reversedBefore: 0,
      reversal: { computed: 'floor(600 × 33.33 ÷ 100.00) − 0 = 199', points: 199 },
      points: -199,
    });

    const two = await explain(token, second.id as string);
    expect(two.trace).toMatchObject({
      refundedBefore: '33.33',
      refundedNow: '33.33',
      reversedBefore: 199,
      reversal: { computed: 'floor(600 × 66.66 ÷ 100.00) − 199 = 200', points: 200 },
      points: -200,
    });

    const purchaseExplained = await explain(token, original.id as string);
    expect(purchaseExplained.refunds).toEqual([
      { eventId: first.id, points: -199 },
      { eventId: second.id, points: -200 },
    ]);
  });

  it('a replayed refund answers 200 with the stored answer and reverses nothing twice; another body is 409', async () => {
    t.clock.set(DEFAULT_NOW);
    const original = purchase('replay', '100.00', WEEKDAY);
    await accepted(token, original);
    const body = refund('replay', original.id as string, '25.00', WEEKDAY);
    const first = await accepted(token, body);
    expect(first).toMatchObject({ pointsEarned: -25, replayed: false, balance: { available: 75 } });
    const before = await footprint('retail');

    const again = await send(token, body);
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toEqual({ ...first, replayed: true });

    const changed = await send(token, { ...body, amount: { value: '26.00', currency: 'EUR' } });
    expect(changed.statusCode, changed.body).toBe(409);
    expect((changed.json() as Problem).type).toBe('/problems/idempotency-conflict');

    expect(await footprint('retail')).toEqual(before);
    expect((await getMember(token, 'replay')).balance.available).toBe(75);
    expect((await getLedger(token, 'replay')).filter((i) => i.kind === 'refund')).toHaveLength(1);
  });
});

describe('refunds and tiers', () => {
  it('a member who reached Silver by a purchase goes back to Bronze when part of it is refunded', async () => {
    t.clock.set(DEFAULT_NOW);
    const original = purchase('silver-back', '1000.00', WEEKDAY);
    const earned = await accepted(token, original);
    expect(earned).toMatchObject({ pointsEarned: 1000, tier: { id: 'silver', name: 'Silver' } });
    expect((await getMember(token, 'silver-back')).progress).toMatchObject({
      nextTier: { id: 'gold' },
      current: 1000,
    });

    t.clock.set('2026-06-15T10:05:00Z'); // within the token's 15 minutes
    const body = refund('silver-back', original.id as string, '10.00', WEEKDAY);
    const back = await accepted(token, body);
    expect(back).toMatchObject({
      pointsEarned: -10,
      tier: { id: 'bronze', name: 'Bronze' },
      balance: { available: 990 },
    });

    const member = await getMember(token, 'silver-back');
    expect(member.tier).toEqual({
      id: 'bronze',
      name: 'Bronze',
      since: '2026-06-15T10:05:00.000Z',
    });
    expect(member.progress).toEqual({
      nextTier: { id: 'silver', name: 'Silver' },
      metric: 'points',
      current: 990,
      required: 1000,
      remaining: 10,
    });

    const changes = await t.handle.db
      .selectFrom('tier_changes')
      .select(['from_tier', 'to_tier', 'reason', 'event_id', 'metric_value'])
      .where('program_id', '=', 'retail')
      .where('member_id', '=', 'silver-back')
      .orderBy('id')
      .execute();
    expect(changes).toEqual([
      { from_tier: null, to_tier: 'bronze', reason: 'event', event_id: null, metric_value: 0n },
      {
        from_tier: 'bronze',
        to_tier: 'silver',
        reason: 'event',
        event_id: original.id,
        metric_value: 1000n,
      },
      {
        from_tier: 'silver',
        to_tier: 'bronze',
        reason: 'refund',
        event_id: body.id,
        metric_value: 990n,
      },
    ]);
    expect((await explain(token, body.id as string)).trace).toMatchObject({
      tier: { before: 'silver', after: 'bronze', changed: true, value: 990 },
    });

    // Back at Bronze, the next purchase earns ×1 (not ×1.1) and lifts the member again.
    const next = await accepted(token, purchase('silver-back', '100.00', WEEKDAY));
    expect(next).toMatchObject({ pointsEarned: 100, tier: { id: 'silver' } });
  });

  it('a full refund of the purchase that reached Silver leaves Bronze with no progress', async () => {
    t.clock.set(DEFAULT_NOW);
    const original = purchase('silver-full', '1200.00', WEEKDAY);
    expect((await accepted(token, original)).tier).toEqual({ id: 'silver', name: 'Silver' });
    const back = await accepted(
      token,
      refund('silver-full', original.id as string, '1200.00', WEEKDAY),
    );
    expect(back).toMatchObject({
      pointsEarned: -1200,
      balance: { available: 0 },
      tier: { id: 'bronze' },
    });
    const member = await getMember(token, 'silver-full');
    expect(member.tier?.id).toBe('bronze');
    expect(member.progress).toMatchObject({ current: 0, required: 1000, remaining: 1000 });
  });
});

describe('negative-balance policy', () => {
  // Nothing spends points yet, so a reversal always finds the purchase's own lot; the
  // policy must never change an outcome here, and with "forbid" no balance is ever negative.
  async function scenario(tok: string, programId: string) {
    t.clock.set(DEFAULT_NOW);
    const seen: number[] = [];
    const balances: number[] = [];
    const refundIds: string[] = [];
    const track = async (answer: EventAnswer, final = true) => {
      seen.push(answer.pointsEarned);
      balances.push(answer.balance.available);
      expect(answer.balance.available).toBeGreaterThanOrEqual(0);
      if (!final) return;
      const member = await getMember(tok, 'policy');
      expect(member.balance.available).toBe(answer.balance.available);
    };
    const big = purchase('policy', '100.00', SATURDAY, ELECTRONICS);
    const small = purchase('policy', '10.00', WEEKDAY);
    await track(await accepted(tok, big));
    await track(await accepted(tok, small));

    const third = purchase('policy', '50.00', WEEKDAY);
    const inBatch = [
      refund('policy', third.id as string, '50.00', WEEKDAY),
      refund('policy', big.id as string, '99.99', WEEKDAY),
    ];
    const res = await t.request('POST', '/v1/events:batch', tok, { events: [third, ...inBatch] });
    expect(res.statusCode, res.body).toBe(200);
    const results = (res.json() as BatchAnswer).results;
    expect(results.map((r) => r.status)).toEqual([201, 201, 201]);
    for (const [i, r] of results.entries())
      await track((r as { body: EventAnswer }).body, i === results.length - 1);
    refundIds.push(...inBatch.map((e) => e.id as string));

    for (const body of [
      refund('policy', big.id as string, '0.01', WEEKDAY),
      refund('policy', small.id as string, '10.00', WEEKDAY),
    ]) {
      await track(await accepted(tok, body));
      refundIds.push(body.id as string);
    }
    const excess = await send(tok, refund('policy', big.id as string, '0.01', WEEKDAY));
    expect(excess.statusCode, excess.body).toBe(422);

    for (const id of refundIds)
      expect((await explain(tok, id)).trace).not.toHaveProperty('limitedBy');
    expect(await verifyLedger(t.handle.db, programId)).toEqual([]);
    const negative = await sql<{
      id: string;
    }>`SELECT id FROM members WHERE program_id = ${programId} AND available < 0`.execute(
      t.handle.db,
    );
    expect(negative.rows).toEqual([]);
    return { seen, balances };
  }

  it('with "forbid" and with "allow" the same refunds reverse the same points, and no balance goes negative', async () => {
    t.clock.set(DEFAULT_NOW);
    const forbid = await t.program('retail-forbid', withSettings({ negativeBalance: 'forbid' }));
    const allow = await t.program('retail-allow', withSettings({ negativeBalance: 'allow' }));
    const program = await t.request('GET', '/v1/program', forbid);
    expect(
      (program.json() as { document: ProgramDocument }).document.settings?.negativeBalance,
    ).toBe('forbid');

    const forbidden = await scenario(forbid, 'retail-forbid');
    const allowed = await scenario(allow, 'retail-allow');
    // 600 and 10 earned; the batch earns 50, reverses it, and reverses floor(600 × 99.99%) = 599;
    // then the last point of the big purchase and the 10 of the small one.
    expect(forbidden.seen).toEqual([600, 10, 50, -50, -599, -1, -10]);
    expect(forbidden.balances).toEqual([600, 610, 660, 610, 11, 10, 0]);
    expect(allowed).toEqual(forbidden);
  });
});
