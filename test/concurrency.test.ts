// Concurrent requests on the real database: many events for one member at once, replays
// racing their originals, batches racing single events, and refunds racing each other. The
// ledger must come out exact, with no double credit and no refund beyond the purchase, and
// `verify` (run by t.close()) must find nothing wrong.
// Real: database (on PostgreSQL, transactions truly overlap), HTTP stack, group commit,
// rules, ledger. Faked: the clock only, held still.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { programTemplate } from '../src/rules/index.ts';
import { purchase, refund, startTestApp, type TestApp } from './support/app.ts';
import type { EventAnswer, Problem, LedgerItem } from './support/types.ts';

type BatchResult = { status: number; body: EventAnswer } | { status: number; problem: Problem };

/** Monday 15 June 2026, 12:00 in Prague; events an hour earlier are plain weekday events. */
const NOW = '2026-06-15T10:00:00Z';
const AT = '2026-06-15T09:00:00Z';

let t: TestApp;
let token: string;

beforeAll(async () => {
  t = await startTestApp({ now: NOW });
  token = await t.program('retail', 'retail');
});
afterAll(() => t.close());

/** Whole euros 1..9, so each event earns exactly its amount (no member nears Silver). */
function euros(i: number): number {
  return (i % 9) + 1;
}

async function sendAll(bodies: unknown[]) {
  return Promise.all(bodies.map((body) => t.request('POST', '/v1/events', token, body)));
}

async function balance(
  memberId: string,
): Promise<{ available: number; pending: number; held: number }> {
  const res = await t.request('GET', `/v1/members/${memberId}`, token);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { balance: { available: number; pending: number; held: number } }).balance;
}

async function ledger(memberId: string): Promise<LedgerItem[]> {
  const items: LedgerItem[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page += 1) {
    const query: string = cursor === null ? '' : `?cursor=${cursor}`;
    const res = await t.request('GET', `/v1/members/${memberId}/ledger${query}`, token);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as { items: LedgerItem[]; nextCursor: string | null };
    items.push(...body.items);
    cursor = body.nextCursor;
    if (cursor === null) return items;
  }
  throw new Error('the ledger never ended');
}

/**
 * Every submission of each event id was answered: exactly one 201 per id, every other
 * submission a 200 replay of that same answer. Answers the first answers by event id.
 */
function expectOneCreationPerId(
  answers: { status: number; body: EventAnswer }[],
): Map<string, EventAnswer> {
  const firsts = new Map<string, EventAnswer>();
  for (const a of answers) {
    if (a.status === 201) {
      expect(firsts.has(a.body.eventId), `a second 201 for ${a.body.eventId}`).toBe(false);
      expect(a.body.replayed).toBe(false);
      firsts.set(a.body.eventId, a.body);
    }
  }
  for (const a of answers) {
    expect([200, 201], JSON.stringify(a.body)).toContain(a.status);
    const first = firsts.get(a.body.eventId);
    expect(first, `no 201 for ${a.body.eventId}`).toBeDefined();
    if (a.status === 200) expect(a.body).toEqual({ ...first, replayed: true });
  }
  return firsts;
}

/** Balances after each event, in commit order, form a chain: each is the last plus its points. */
function expectSerialChain(answers: EventAnswer[], total: number): void {
  const sorted = [...answers].sort((a, b) => a.balance.available - b.balance.available);
  let running = 0;
  for (const a of sorted) {
    running += a.pointsEarned;
    expect(a.balance.available, `balance answered for ${a.eventId}`).toBe(running);
  }
  expect(running).toBe(total);
}

describe('concurrent events', () => {
  it('credits 100 concurrent events for one member exactly once each', async () => {
    const m = 'solo';
    const bodies = Array.from({ length: 100 }, (_, i) => purchase(m, `${euros(i)}.00`, AT));
    const expected = bodies.reduce((sum, _, i) => sum + euros(i), 0);

    const responses = await sendAll(bodies);
    expect(responses.map((r) => r.statusCode)).toEqual(bodies.map(() => 201));
    const answers = responses.map((r) => r.json() as EventAnswer);
    expect(answers.map((a) => a.pointsEarned)).toEqual(bodies.map((_, i) => euros(i)));
    expect(new Set(answers.map((a) => a.eventId)).size).toBe(100);
    expectSerialChain(answers, expected);

    expect(await balance(m)).toEqual({ available: expected, pending: 0, held: 0 });
    const items = await ledger(m);
    expect(items).toHaveLength(100);
    expect(items.every((i) => i.kind === 'earn' && i.account === 'available')).toBe(true);
    expect(new Set(items.map((i) => i.entryId)).size).toBe(100);
    expect(new Set(items.map((i) => i.eventId))).toEqual(new Set(bodies.map((b) => b.id)));
    expect(items.reduce((sum, i) => sum + i.amount, 0)).toBe(expected);
  });

  it('credits 100 events over 10 members once each while the same 100 are resent concurrently', async () => {
    const members = Array.from({ length: 10 }, (_, i) => `spread-${i}`);
    const bodies = Array.from({ length: 100 }, (_, i) =>
      purchase(members[i % 10] as string, `${euros(i)}.00`, AT),
    );
    // Originals and resends interleaved, all in flight at once.
    const submissions = bodies.flatMap((b) => [b, structuredClone(b)]);
    const responses = await sendAll(submissions);
    const answers = responses.map((r) => ({ status: r.statusCode, body: r.json() as EventAnswer }));
    const firsts = expectOneCreationPerId(answers);
    expect(firsts.size).toBe(100);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(100);

    for (const [k, m] of members.entries()) {
      const mine = bodies.flatMap((b, i) => (i % 10 === k ? [euros(i)] : []));
      const expected = mine.reduce((a, b) => a + b, 0);
      expect(await balance(m)).toEqual({ available: expected, pending: 0, held: 0 });
      const items = await ledger(m);
      expect(items).toHaveLength(10);
      expect(items.reduce((sum, i) => sum + i.amount, 0)).toBe(expected);
      expectSerialChain(
        [...firsts.values()].filter((a) => a.memberId === m),
        expected,
      );
    }
  });

  it('keeps batches and single events that race each other, and overlap, exact', async () => {
    const members = Array.from({ length: 10 }, (_, i) => `mixed-${i}`);
    const bodies = Array.from({ length: 200 }, (_, i) =>
      purchase(members[i % 10] as string, `${euros(i)}.00`, AT),
    );
    // Four batches of 25 (events 0..99) and 100 singles (events 100..199); then 20 of the
    // batched events resent as singles, and a fifth batch resending 20 of the singles.
    const batches = [0, 1, 2, 3].map((k) => bodies.slice(k * 25, k * 25 + 25));
    batches.push(bodies.slice(100, 120).map((b) => structuredClone(b)));
    const singles = [...bodies.slice(100), ...bodies.slice(0, 100).filter((_, i) => i % 5 === 0)];

    const [batchResponses, singleResponses] = await Promise.all([
      Promise.all(
        batches.map((events) => t.request('POST', '/v1/events:batch', token, { events })),
      ),
      sendAll(singles),
    ]);
    const answers: { status: number; body: EventAnswer }[] = [];
    for (const res of batchResponses) {
      expect(res.statusCode, res.body).toBe(200);
      for (const r of (res.json() as { results: BatchResult[] }).results) {
        expect('body' in r, JSON.stringify(r)).toBe(true);
        answers.push(r as { status: number; body: EventAnswer });
      }
    }
    for (const res of singleResponses)
      answers.push({ status: res.statusCode, body: res.json() as EventAnswer });
    expect(answers).toHaveLength(240);
    const firsts = expectOneCreationPerId(answers);
    expect(firsts.size).toBe(200);

    for (const [k, m] of members.entries()) {
      const expected = bodies.reduce((sum, _, i) => (i % 10 === k ? sum + euros(i) : sum), 0);
      expect(await balance(m)).toEqual({ available: expected, pending: 0, held: 0 });
      expect(await ledger(m)).toHaveLength(20);
      expectSerialChain(
        [...firsts.values()].filter((a) => a.memberId === m),
        expected,
      );
    }
  });
});

describe('concurrent events that depend on each other', () => {
  it('answers 201 to exactly one of two concurrent bodies with one id and 409 to the other', async () => {
    const pairs = Array.from({ length: 20 }, (_, i) => {
      const body = purchase(`conflict-${i % 5}`, '10.00', AT);
      return [body, { ...body, amount: { value: '20.00', currency: 'EUR' } }];
    });
    const responses = await sendAll(pairs.flat());
    const credited = new Map<string, number>();
    for (const [i, pair] of pairs.entries()) {
      const statuses = [responses[2 * i]?.statusCode, responses[2 * i + 1]?.statusCode];
      expect([...statuses].sort()).toEqual([201, 409]);
      const winner = responses[2 * i + statuses.indexOf(201)]?.json() as EventAnswer;
      const loser = responses[2 * i + statuses.indexOf(409)]?.json() as Problem;
      expect(loser).toMatchObject({ type: '/problems/idempotency-conflict', status: 409 });
      expect(winner.pointsEarned).toBe(statuses[0] === 201 ? 10 : 20);
      const m = pair[0]?.memberId as string;
      credited.set(m, (credited.get(m) ?? 0) + winner.pointsEarned);
    }
    for (const [m, points] of credited) {
      expect(await balance(m)).toEqual({ available: points, pending: 0, held: 0 });
      expect(await ledger(m)).toHaveLength(4);
    }
  });

  it('crosses into Silver exactly once under concurrency: the crossing event at Bronze, every later one at ×1.1', async () => {
    const m = 'climber';
    // 50 × 40.00 EUR: the 25th event in commit order reaches 1,000 and still earns 40; the
    // 25 after it earn 44 each, whatever the order: 1,000 + 25 × 44 = 2,100.
    const bodies = Array.from({ length: 50 }, () => purchase(m, '40.00', AT));
    const responses = await sendAll(bodies);
    expect(responses.map((r) => r.statusCode)).toEqual(bodies.map(() => 201));
    const answers = responses.map((r) => r.json() as EventAnswer);
    expectSerialChain(answers, 2100);
    const inOrder = [...answers].sort((a, b) => a.balance.available - b.balance.available);
    expect(inOrder.map((a) => a.pointsEarned)).toEqual([
      ...Array.from({ length: 25 }, () => 40),
      ...Array.from({ length: 25 }, () => 44),
    ]);
    expect(inOrder.map((a) => a.tier?.id)).toEqual([
      ...Array.from({ length: 24 }, () => 'bronze'),
      ...Array.from({ length: 26 }, () => 'silver'),
    ]);
    expect(await balance(m)).toEqual({ available: 2100, pending: 0, held: 0 });
  });

  it('never gives more than a per-member daily cap to concurrent events', async () => {
    const document = programTemplate('retail');
    document.eventTypes = {
      ...document.eventTypes,
      visit: { kind: 'custom', amount: 'forbidden' },
    };
    document.rules.push({
      id: 'visit-bonus',
      name: '30 points per store visit, at most 50 a day',
      eventTypes: ['visit'],
      effect: { type: 'bonus', points: 30 },
      caps: { perMember: { points: 50, period: 'day' } },
    });
    const capped = await t.program('capped', document);
    const visits = Array.from({ length: 20 }, (_, i) => ({
      id: `visit-${i}`,
      type: 'visit',
      memberId: `visitor-${i % 2}`,
      occurredAt: AT,
    }));
    const responses = await Promise.all(
      visits.map((body) => t.request('POST', '/v1/events', capped, body)),
    );
    expect(responses.map((r) => r.statusCode)).toEqual(visits.map(() => 201));
    for (const m of ['visitor-0', 'visitor-1']) {
      const answers = responses.map((r) => r.json() as EventAnswer).filter((a) => a.memberId === m);
      const inOrder = [...answers].sort(
        (a, b) => a.balance.available - b.balance.available || b.pointsEarned - a.pointsEarned,
      );
      expect(inOrder.map((a) => a.pointsEarned)).toEqual([30, 20, 0, 0, 0, 0, 0, 0, 0, 0]);
      const res = await t.request('GET', `/v1/members/${m}`, capped);
      expect((res.json() as { balance: { available: number } }).balance.available).toBe(50);
    }
  });
});

describe('concurrent refunds', () => {
  /** Buys 100.00 EUR (100 points) for each member; answers the purchase ids. */
  async function buy(members: string[]): Promise<string[]> {
    const bodies = members.map((m) => purchase(m, '100.00', AT));
    const responses = await sendAll(bodies);
    expect(responses.map((r) => r.statusCode)).toEqual(bodies.map(() => 201));
    return bodies.map((b) => b.id as string);
  }

  function expectExactlyOneRefund(statuses: number[], problems: (Problem | undefined)[]): number {
    expect([...statuses].sort()).toEqual([201, 422]);
    const loser = statuses.indexOf(422);
    expect(problems[loser]).toMatchObject({
      type: '/problems/refund-exceeds-remaining',
      status: 422,
    });
    return statuses.indexOf(201);
  }

  it('lets exactly one of two concurrent single refunds through when together they exceed the purchase', async () => {
    const members = Array.from({ length: 10 }, (_, i) => `refund-single-${i}`);
    const ids = await buy(members);
    const pairs = members.map((m, i) => [
      refund(m, ids[i] as string, '60.00', AT),
      refund(m, ids[i] as string, '50.00', AT),
    ]);
    const responses = await sendAll(pairs.flat());

    for (const [i, m] of members.entries()) {
      const pair = responses.slice(2 * i, 2 * i + 2);
      const winner = expectExactlyOneRefund(
        pair.map((r) => r.statusCode),
        pair.map((r) => (r.statusCode === 422 ? (r.json() as Problem) : undefined)),
      );
      const refunded = winner === 0 ? 60 : 50;
      expect((pair[winner]?.json() as EventAnswer).pointsEarned).toBe(-refunded);
      expect(await balance(m)).toEqual({ available: 100 - refunded, pending: 0, held: 0 });
    }
  });

  it('lets exactly one of two refunds in concurrent batches through (separate transactions)', async () => {
    const members = Array.from({ length: 10 }, (_, i) => `refund-batch-${i}`);
    const ids = await buy(members);
    // Two batches, each refunding 60 of every purchase; plus a single refund of 50 each.
    const first = members.map((m, i) => refund(m, ids[i] as string, '60.00', AT));
    const second = members.map((m, i) => refund(m, ids[i] as string, '60.00', AT));
    const third = members.map((m, i) => refund(m, ids[i] as string, '50.00', AT));
    const [a, b, ...singles] = await Promise.all([
      t.request('POST', '/v1/events:batch', token, { events: first }),
      t.request('POST', '/v1/events:batch', token, { events: second }),
      ...third.map((body) => t.request('POST', '/v1/events', token, body)),
    ]);
    expect(a?.statusCode).toBe(200);
    expect(b?.statusCode).toBe(200);
    const resultsA = (a?.json() as { results: BatchResult[] }).results;
    const resultsB = (b?.json() as { results: BatchResult[] }).results;

    for (const [i, m] of members.entries()) {
      const single = singles[i];
      const outcomes = [resultsA[i], resultsB[i], { status: single?.statusCode }] as {
        status: number;
        body?: EventAnswer;
        problem?: Problem;
      }[];
      const statuses = outcomes.map((o) => o.status);
      // 60 + 60, 60 + 50 and 60 + 60 + 50 all exceed 100: exactly one refund of the three passes.
      expect(
        statuses.filter((s) => s === 201),
        `${m}: ${statuses.join(',')}`,
      ).toHaveLength(1);
      expect(statuses.filter((s) => s === 422)).toHaveLength(2);
      for (const [k, o] of outcomes.entries()) {
        if (o.status !== 422) continue;
        const problem = k === 2 ? (single?.json() as Problem) : o.problem;
        expect(problem).toMatchObject({ type: '/problems/refund-exceeds-remaining' });
      }
      const refunded = statuses[2] === 201 ? 50 : 60;
      expect(await balance(m)).toEqual({ available: 100 - refunded, pending: 0, held: 0 });
      const items = await ledger(m);
      expect(items.filter((x) => x.kind === 'refund').map((x) => x.amount)).toEqual([-refunded]);
    }
  });

  it('lets concurrent partial refunds that fit all through, reversing every point exactly', async () => {
    const m = 'refund-parts';
    const [id] = await buy([m]);
    // Ten refunds of 10.00 EUR each, all at once: together exactly the purchase.
    const bodies = Array.from({ length: 10 }, () => refund(m, id as string, '10.00', AT));
    const responses = await sendAll(bodies);
    expect(responses.map((r) => r.statusCode)).toEqual(bodies.map(() => 201));
    const points = responses.map((r) => (r.json() as EventAnswer).pointsEarned);
    expect(points.reduce((a, b) => a + b, 0)).toBe(-100);
    expect(await balance(m)).toEqual({ available: 0, pending: 0, held: 0 });
    const more = await t.request('POST', '/v1/events', token, refund(m, id as string, '0.01', AT));
    expect(more.statusCode).toBe(422);
    expect(more.json()).toMatchObject({ type: '/problems/refund-exceeds-remaining' });
  });
});
