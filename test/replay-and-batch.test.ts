// Idempotency by event id and the batch endpoint, end to end on the real database.
// A replay (same id, same canonical body) answers the stored answer and posts nothing; a
// different body is a 409; a batch answers one result per event, in order, and a bad item
// fails only itself. Real: database, HTTP stack, rules, ledger. Faked: the clock only.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, createClient } from '../src/auth/index.ts';
import { parseEvent } from '../src/events/validate.ts';
import { purchase, refund, startTestApp, type TestApp } from './support/app.ts';
import type { EventAnswer, Problem, LedgerItem } from './support/types.ts';

type BatchResult = { status: number; body: EventAnswer } | { status: number; problem: Problem };

interface LedgerPage {
  items: LedgerItem[];
  nextCursor: string | null;
}

const NOW = '2026-11-23T12:00:00Z';
/** Monday 23 November 2026, 12:00 in Prague: a plain weekday. */
const AT = '2026-11-23T11:00:00Z';
const TOKEN_REUSE_MS_MAX = 10 * 60 * 1000;

let t: TestApp;
let memberCounter = 0;
const caller = {
  clientId: 'replay-client',
  secret: 'replay-secret-0123456789',
  token: undefined as { value: string; mintedAtMs: number } | undefined,
};

function newMember(label: string): string {
  memberCounter += 1;
  return `${label}-${memberCounter}`;
}

/** A token valid at the clock's current time (one test moves the clock by months). */
async function bearer(): Promise<string> {
  const nowMs = t.clock.now().getTime();
  const held = caller.token;
  if (held && nowMs >= held.mintedAtMs && nowMs - held.mintedAtMs < TOKEN_REUSE_MS_MAX) {
    return held.value;
  }
  const value = await t.token(caller.clientId, caller.secret);
  caller.token = { value, mintedAtMs: nowMs };
  return value;
}

async function call(method: string, url: string, body?: unknown) {
  return t.request(method, url, await bearer(), body);
}

async function post(body: unknown) {
  return call('POST', '/v1/events', body);
}

async function batch(events: unknown[]): Promise<BatchResult[]> {
  const res = await call('POST', '/v1/events:batch', { events });
  expect(res.statusCode, res.body).toBe(200);
  const results = (res.json() as { results: BatchResult[] }).results;
  expect(results).toHaveLength(events.length);
  return results;
}

async function balance(
  memberId: string,
): Promise<{ available: number; pending: number; held: number }> {
  const res = await call('GET', `/v1/members/${memberId}`);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { balance: { available: number; pending: number; held: number } }).balance;
}

/**
 * Every posting of a member, newest first, following nextCursor to the end. Pages have the
 * default size; the `limit` parameter has a test of its own.
 */
async function ledger(memberId: string): Promise<LedgerItem[]> {
  const items: LedgerItem[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page += 1) {
    const query: string = cursor === null ? '' : `?cursor=${cursor}`;
    const res = await call('GET', `/v1/members/${memberId}/ledger${query}`);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as LedgerPage;
    items.push(...body.items);
    cursor = body.nextCursor;
    if (cursor === null) return items;
  }
  throw new Error('the ledger never ended');
}

async function eventExists(eventId: string): Promise<boolean> {
  const res = await call('GET', `/v1/events/${eventId}/explain`);
  expect([200, 404]).toContain(res.statusCode);
  return res.statusCode === 200;
}

async function memberExists(memberId: string): Promise<boolean> {
  const res = await call('GET', `/v1/members/${memberId}`);
  expect([200, 404]).toContain(res.statusCode);
  return res.statusCode === 200;
}

function created(result: BatchResult | undefined): EventAnswer {
  expect(result?.status, JSON.stringify(result)).toBe(201);
  return (result as { body: EventAnswer }).body;
}

function problemOf(result: BatchResult | undefined): Problem {
  expect(result && 'problem' in result, JSON.stringify(result)).toBe(true);
  return (result as { problem: Problem }).problem;
}

/** The same object with its keys (and its nested objects' keys) in reverse order. */
function reversedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reversedKeys(v)]),
    );
  }
  return value;
}

beforeAll(async () => {
  t = await startTestApp({ now: NOW });
  await t.program('retail', 'retail');
  const client = await createClient(t.handle.db, {
    programId: 'retail',
    clientId: caller.clientId,
    secret: caller.secret,
    scopes: [...SCOPES],
  });
  expect(client.status).toBe('created');
});
afterAll(() => t.close());

describe('replay of a single event', () => {
  it('answers 200 with replayed: true and the stored figures, and posts nothing', async () => {
    t.clock.set(NOW);
    const m = newMember('replay');
    const body = purchase(m, '12.50', AT);
    const first = await post(body);
    expect(first.statusCode).toBe(201);
    const original = first.json() as EventAnswer;
    expect(original).toMatchObject({ pointsEarned: 12, replayed: false });
    const postingsBefore = await ledger(m);

    const again = await post(body);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ ...original, replayed: true });
    expect(await balance(m)).toEqual({ available: 12, pending: 0, held: 0 });
    expect(await ledger(m)).toEqual(postingsBefore);
    expect(postingsBefore).toHaveLength(1);
  });

  it('replays the answer as it was, even after later events changed the balance', async () => {
    t.clock.set(NOW);
    const m = newMember('replay-later');
    const body = purchase(m, '20.00', AT);
    const original = (await post(body)).json() as EventAnswer;
    expect((await post(purchase(m, '30.00', AT))).statusCode).toBe(201);
    const again = await post(body);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({
      ...original,
      replayed: true,
      balance: { available: 20, pending: 0, held: 0 },
    });
    expect((await balance(m)).available).toBe(50);
  });

  it('treats the same body with its keys in another order as a replay (canonical JSON)', async () => {
    t.clock.set(NOW);
    const m = newMember('canonical');
    const body = purchase(m, '99.99', AT, {
      attributes: { category: 'electronics', store: 'Brno' },
    });
    const original = (await post(body)).json() as EventAnswer;
    expect(original.pointsEarned).toBe(299);
    const reordered = reversedKeys(body);
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(body));
    const again = await post(reordered);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ ...original, replayed: true });
    expect(await ledger(m)).toHaveLength(1);
  });

  it.each([
    ['another amount', { amount: { value: '12.51', currency: 'EUR' } }],
    ['an added attribute', { attributes: { category: 'electronics' } }],
    ['another occurredAt instant', { occurredAt: '2026-11-23T11:00:01Z' }],
    ['the same instant written with an offset', { occurredAt: '2026-11-23T12:00:00+01:00' }],
    ['"12.5" instead of "12.50"', { amount: { value: '12.5', currency: 'EUR' } }],
  ])(
    'answers 409 idempotency-conflict for the same id with %s, and writes nothing',
    async (_what, change) => {
      t.clock.set(NOW);
      const m = newMember('conflict');
      const body = purchase(m, '12.50', AT);
      expect((await post(body)).statusCode).toBe(201);
      const postingsBefore = await ledger(m);

      const res = await post({ ...body, ...change });
      expect(res.statusCode).toBe(409);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ type: '/problems/idempotency-conflict', status: 409 });
      expect(await balance(m)).toEqual({ available: 12, pending: 0, held: 0 });
      expect(await ledger(m)).toEqual(postingsBefore);
      const explained = await call('GET', `/v1/events/${body.id as string}/explain`);
      expect(explained.json()).toMatchObject({
        pointsEarned: 12,
        trace: { amount: { value: '12.50' } },
      });
    },
  );

  it('answers 409 for the same id sent for another member, and does not create that member', async () => {
    t.clock.set(NOW);
    const m = newMember('owner');
    const other = newMember('intruder');
    const body = purchase(m, '12.50', AT);
    expect((await post(body)).statusCode).toBe(201);
    const res = await post({ ...body, memberId: other });
    expect(res.statusCode).toBe(409);
    expect(await memberExists(other)).toBe(false);
  });

  it('replays the stored answer after a new program version, with the version it was computed by', async () => {
    t.clock.set(NOW);
    const m = newMember('versioned');
    const body = purchase(m, '10.00', AT);
    const original = (await post(body)).json() as EventAnswer;
    expect(original).toMatchObject({ pointsEarned: 10, programVersion: expect.any(Number) });

    const current = await call('GET', '/v1/program');
    const document = (current.json() as { document: { rules: { id: string; effect: unknown }[] } })
      .document;
    document.rules = document.rules.map((r) =>
      r.id === 'base' ? { ...r, effect: { type: 'earn', pointsPerUnit: '5' } } : r,
    );
    const published = await call('PUT', '/v1/program', document);
    expect(published.statusCode, published.body).toBe(200);
    const version = (published.json() as { version: number }).version;
    expect(version).toBe(original.programVersion + 1);

    const again = await post(body);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ ...original, replayed: true });
    // New events do use the new version: 10 EUR at 5 points per EUR.
    const fresh = await post(purchase(newMember('versioned-new'), '10.00', AT));
    expect(fresh.json()).toMatchObject({ pointsEarned: 50, programVersion: version });

    // Back to 1 point per EUR for the rest of the file.
    document.rules = document.rules.map((r) =>
      r.id === 'base' ? { ...r, effect: { type: 'earn', pointsPerUnit: '1' } } : r,
    );
    expect((await call('PUT', '/v1/program', document)).statusCode).toBe(200);
  });

  it('replays an event whose occurredAt has since left the backdating window', async () => {
    t.clock.set(NOW);
    const m = newMember('old-replay');
    const body = purchase(m, '10.00', AT);
    const original = (await post(body)).json() as EventAnswer;
    // 91 days later: a new event at AT would be refused, but this one was received and
    // stored, so a retry must get the stored answer, not a 400 that says it was refused.
    t.clock.set('2027-02-22T12:00:00Z');
    const again = await post(body);
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toEqual({ ...original, replayed: true });
    expect(await ledger(m)).toHaveLength(1);
    t.clock.set(NOW);
  });

  it('replays an answer stored whole, as events stored before answers were stored in part', async () => {
    t.clock.set(NOW);
    const m = newMember('stored-whole');
    expect((await post(purchase(m, '1.00', AT))).statusCode).toBe(201);
    const body = purchase(m, '12.50', AT);
    const parsed = parseEvent(body, '');
    if (!parsed.ok) throw new Error('the test event is invalid');
    // An event row as it was stored before: the whole answer in `response`. Its figures are
    // ones the row's own columns do not hold (the row posts nothing), so the replay shows
    // which of the two it answered from.
    const answer: EventAnswer = {
      eventId: body.id as string,
      memberId: m,
      pointsEarned: 12,
      replayed: false,
      balance: { available: 4321, pending: 5, held: 6 },
      tier: { id: 'silver', name: 'Silver' },
      programVersion: 1,
    };
    await sql`INSERT INTO events (program_id, id, type, member_id, occurred_at, received_at, body_hash,
        body, amount_minor, currency, points, program_version, response, trace)
      VALUES ('retail', ${answer.eventId}, 'purchase', ${m}, ${AT}::timestamptz, ${NOW}::timestamptz,
        ${parsed.event.bodyHash}, ${parsed.event.bodyText}::json, 1250, 'EUR', 0, 1,
        ${JSON.stringify(answer)}::json, '{}'::json)`.execute(t.handle.db);

    const again = await post(body);
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json()).toEqual({ ...answer, replayed: true });
  });

  it('replays as a single event an event first received in a batch, and vice versa', async () => {
    t.clock.set(NOW);
    const m = newMember('cross');
    const inBatch = purchase(m, '11.00', AT);
    const single = purchase(m, '22.00', AT);
    const [first] = await batch([inBatch]);
    const batched = created(first);
    const alone = (await post(single)).json() as EventAnswer;

    const replayedSingle = await post(inBatch);
    expect(replayedSingle.statusCode).toBe(200);
    expect(replayedSingle.json()).toEqual({ ...batched, replayed: true });
    const [replayedInBatch] = await batch([single]);
    expect(replayedInBatch).toEqual({ status: 200, body: { ...alone, replayed: true } });
    expect((await balance(m)).available).toBe(33);
    expect(await ledger(m)).toHaveLength(2);
  });
});

describe('POST /v1/events:batch', () => {
  it('answers one result per event, in order, and a bad item fails only itself and writes nothing', async () => {
    t.clock.set(NOW);
    const good = [newMember('b-good'), newMember('b-good'), newMember('b-good')];
    const bad = [newMember('b-bad'), newMember('b-bad'), newMember('b-bad'), newMember('b-bad')];
    const events = [
      purchase(good[0] as string, '12.50', AT),
      purchase(bad[0] as string, '12,50', AT),
      purchase(good[1] as string, '99.99', AT, { attributes: { category: 'electronics' } }),
      { ...purchase(bad[1] as string, '10.00', AT), type: 'tip' },
      purchase(bad[2] as string, '-5.00', AT),
      purchase(bad[3] as string, '10.00', '2026-11-23T12:10:00Z'),
      purchase(good[2] as string, '1.00', AT),
      'not an event',
    ];
    const results = await batch(events);
    expect(results.map((r) => r.status)).toEqual([201, 400, 201, 400, 400, 400, 201, 400]);

    expect(created(results[0])).toMatchObject({
      memberId: good[0],
      pointsEarned: 12,
      replayed: false,
    });
    expect(created(results[2])).toMatchObject({ memberId: good[1], pointsEarned: 299 });
    expect(created(results[6])).toMatchObject({ memberId: good[2], pointsEarned: 1 });
    const pointers = [1, 3, 4, 5, 7].map((i) => {
      const problem = problemOf(results[i]);
      expect(problem).toMatchObject({ type: '/problems/validation-failed', status: 400 });
      return problem.errors?.map((e) => e.pointer);
    });
    expect(pointers).toEqual([
      ['/events/1/amount/value'],
      ['/events/3/type'],
      ['/events/4/amount/value'],
      ['/events/5/occurredAt'],
      ['/events/7'],
    ]);

    for (const i of [1, 3, 4, 5]) {
      expect(await eventExists((events[i] as { id: string }).id)).toBe(false);
    }
    for (const m of bad) expect(await memberExists(m)).toBe(false);
    expect((await balance(good[1] as string)).available).toBe(299);
  });

  it('refuses more than 1,000 events with a 400 naming /events, and writes nothing', async () => {
    t.clock.set(NOW);
    const m = newMember('too-many');
    const events = Array.from({ length: 1001 }, () => purchase(m, '1.00', AT));
    const res = await call('POST', '/v1/events:batch', { events });
    expect(res.statusCode).toBe(400);
    const problem = res.json() as Problem;
    expect(problem.type).toBe('/problems/validation-failed');
    expect(problem.errors?.map((e) => e.pointer)).toContain('/events');
    expect(await memberExists(m)).toBe(false);
  });

  it('accepts exactly 1,000 events', async () => {
    t.clock.set(NOW);
    const m = newMember('thousand');
    const events = Array.from({ length: 1000 }, () => purchase(m, '0.50', AT));
    const results = await batch(events);
    expect(results.every((r) => r.status === 201)).toBe(true);
    // Each 0.50 EUR rounds down to 0 on its own.
    expect(await balance(m)).toEqual({ available: 0, pending: 0, held: 0 });
  });

  it('refuses an empty batch with a 400 naming /events', async () => {
    t.clock.set(NOW);
    const res = await call('POST', '/v1/events:batch', { events: [] });
    expect(res.statusCode).toBe(400);
    const problem = res.json() as Problem;
    expect(problem.type).toBe('/problems/validation-failed');
    expect(problem.errors?.map((e) => e.pointer)).toContain('/events');
  });

  it('replays the second of two items with the same id and body, crediting once', async () => {
    t.clock.set(NOW);
    const m = newMember('twice');
    const body = purchase(m, '40.00', AT);
    const [first, second] = await batch([body, reversedKeys(body)]);
    const original = created(first);
    expect(second).toEqual({ status: 200, body: { ...original, replayed: true } });
    expect((await balance(m)).available).toBe(40);
    expect(await ledger(m)).toHaveLength(1);
  });

  it('answers 409 for the second of two items with the same id and different bodies, writing only the first', async () => {
    t.clock.set(NOW);
    const m = newMember('twice-diff');
    const other = newMember('twice-other');
    const body = purchase(m, '40.00', AT);
    const results = await batch([
      body,
      { ...body, amount: { value: '41.00', currency: 'EUR' } },
      { ...body, memberId: other },
    ]);
    expect(created(results[0]).pointsEarned).toBe(40);
    expect(results.slice(1).map((r) => r.status)).toEqual([409, 409]);
    expect(problemOf(results[1]).type).toBe('/problems/idempotency-conflict');
    expect((await balance(m)).available).toBe(40);
    expect(await memberExists(other)).toBe(false);
  });

  it('refunds a purchase made earlier in the same batch, and refuses what exceeds the rest', async () => {
    t.clock.set(NOW);
    const m = newMember('refund-in-batch');
    const bought = purchase(m, '100.00', AT);
    const id = bought.id as string;
    const results = await batch([
      bought,
      refund(m, id, '40.00', AT),
      refund(m, id, '50.00', AT),
      refund(m, id, '10.01', AT),
      purchase(m, '5.00', AT),
    ]);
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 422, 201]);
    expect(created(results[0]).pointsEarned).toBe(100);
    expect(created(results[1])).toMatchObject({ pointsEarned: -40, balance: { available: 60 } });
    expect(created(results[2])).toMatchObject({ pointsEarned: -50, balance: { available: 10 } });
    expect(problemOf(results[3])).toMatchObject({
      type: '/problems/refund-exceeds-remaining',
      status: 422,
      errors: [{ pointer: '/events/3/amount/value' }],
    });
    expect(created(results[4])).toMatchObject({ pointsEarned: 5, balance: { available: 15 } });
    expect(await balance(m)).toEqual({ available: 15, pending: 0, held: 0 });
    const refunded = (await call('GET', `/v1/events/${id}/explain`)).json() as {
      refunds: { points: number }[];
    };
    expect(refunded.refunds.map((r) => r.points).sort()).toEqual([-40, -50]);
  });

  it('replays a whole batch: every item 200 replayed with the same figures, nothing posted', async () => {
    t.clock.set(NOW);
    const members = [newMember('whole'), newMember('whole')];
    const events = [
      purchase(members[0] as string, '10.00', AT),
      purchase(members[1] as string, '20.00', AT),
      purchase(members[0] as string, '30.00', AT, { attributes: { category: 'electronics' } }),
    ];
    const first = await batch(events);
    expect(first.map((r) => r.status)).toEqual([201, 201, 201]);
    const postingsBefore = await Promise.all(members.map((m) => ledger(m)));

    const again = await batch(events);
    expect(again).toEqual(
      first.map((r) => ({
        status: 200,
        body: { ...(r as { body: EventAnswer }).body, replayed: true },
      })),
    );
    expect(await Promise.all(members.map((m) => ledger(m)))).toEqual(postingsBefore);
    expect((await balance(members[0] as string)).available).toBe(100);
    expect((await balance(members[1] as string)).available).toBe(20);
  });
});

describe('GET /v1/members/{id}/ledger', () => {
  it('pages through every posting, newest first, with limit and nextCursor', async () => {
    t.clock.set(NOW);
    const m = newMember('pages');
    const ids: string[] = [];
    for (const value of ['1.00', '2.00', '3.00', '4.00', '5.00']) {
      const body = purchase(m, value, AT);
      expect((await post(body)).statusCode).toBe(201);
      ids.push(body.id as string);
    }
    const pages: LedgerPage[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/v1/members/${m}/ledger?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await call('GET', url);
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json() as LedgerPage;
      pages.push(page);
      cursor = page.nextCursor;
    } while (cursor !== null && pages.length < 10);

    expect(pages.map((p) => p.items.length)).toEqual([2, 2, 1]);
    const items = pages.flatMap((p) => p.items);
    expect(items.map((i) => i.eventId)).toEqual([...ids].reverse());
    expect(items.map((i) => i.amount)).toEqual([5, 4, 3, 2, 1]);
    expect(items.every((i) => i.kind === 'earn' && i.account === 'available')).toBe(true);
    expect(new Set(items.map((i) => i.id)).size).toBe(5);
    // The whole list in one page matches the pages put together.
    const whole = await call('GET', `/v1/members/${m}/ledger`);
    expect(whole.json()).toEqual({ items, nextCursor: null });
  });

  it('answers 400 for a cursor Patron did not issue and for a limit out of range', async () => {
    t.clock.set(NOW);
    const m = newMember('bad-cursor');
    expect((await post(purchase(m, '1.00', AT))).statusCode).toBe(201);
    for (const query of [
      'cursor=not-a-cursor',
      `cursor=${Buffer.from('x:1').toString('base64url')}`,
    ]) {
      const res = await call('GET', `/v1/members/${m}/ledger?${query}`);
      expect(res.statusCode, query).toBe(400);
      expect(res.json()).toMatchObject({
        type: '/problems/validation-failed',
        errors: [{ pointer: '/querystring/cursor' }],
      });
    }
    for (const limit of ['0', '501', 'ten']) {
      const res = await call('GET', `/v1/members/${m}/ledger?limit=${limit}`);
      expect(res.statusCode, `limit=${limit}`).toBe(400);
      expect(res.json()).toMatchObject({ type: '/problems/validation-failed' });
    }
  });

  it('answers 404 for a member the program does not know', async () => {
    t.clock.set(NOW);
    const res = await call('GET', '/v1/members/nobody-here/ledger');
    expect(res.statusCode).toBe(404);
  });
});
