// Every kind of bad input to the write endpoints is refused with an RFC 9457 problem that
// names the field, and writes nothing: not the event (so its id stays usable), not the
// member, not a posting. Real: the database of this file, Fastify (inject), the rules.
// Fake: the clock (a Monday; 2026-02-30 would fall inside the backdating window if it
// were read as 2 March).
import type { LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { programTemplate } from '../src/rules/index.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import type { Problem } from './support/types.ts';

const NOW = '2026-03-02T12:00:00Z';
const AN_HOUR_AGO = '2026-03-02T11:00:00Z';

let t: TestApp;
let token: string;

beforeAll(async () => {
  t = await startTestApp({ now: NOW });
  // The demo program: the retail template, EUR only, members created by their first event.
  token = await t.program('shop', 'retail');
});
afterAll(() => t.close());

interface Counts {
  events: number;
  members: number;
  postings: number;
  journalEntries: number;
  lots: number;
  tierChanges: number;
  metricDays: number;
}

async function counts(): Promise<Counts> {
  const { rows } = await sql<Record<keyof Counts, bigint>>`SELECT
      (SELECT count(*) FROM events) AS "events",
      (SELECT count(*) FROM members) AS "members",
      (SELECT count(*) FROM postings) AS "postings",
      (SELECT count(*) FROM journal_entries) AS "journalEntries",
      (SELECT count(*) FROM lots) AS "lots",
      (SELECT count(*) FROM tier_changes) AS "tierChanges",
      (SELECT count(*) FROM member_metric_days) AS "metricDays"`.execute(t.handle.db);
  const row = rows[0] as Record<keyof Counts, bigint>;
  return Object.fromEntries(
    Object.entries(row).map(([k, v]) => [k, Number(v)]),
  ) as unknown as Counts;
}

/** Runs `send` and proves that it wrote nothing at all. */
async function writesNothing(
  send: () => Promise<LightMyRequestResponse>,
): Promise<LightMyRequestResponse> {
  const before = await counts();
  const response = await send();
  expect(await counts()).toEqual(before);
  return response;
}

function expectProblem(response: LightMyRequestResponse, status: number, code: string): Problem {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json\b/);
  const body = response.json() as Problem;
  expect(body).toMatchObject({
    type: `/problems/${code}`,
    status,
    title: expect.any(String),
    detail: expect.any(String),
  });
  return body;
}

/** A 400 validation problem whose errors point exactly at `pointers`, each with a detail. */
function expectInvalid(response: LightMyRequestResponse, pointers: string[]): Problem {
  const body = expectProblem(response, 400, 'validation-failed');
  expect(body.errors, response.body).toBeDefined();
  expect(body.errors?.map((e) => e.pointer).sort()).toEqual([...pointers].sort());
  for (const error of body.errors ?? []) expect(error.detail).toEqual(expect.stringMatching(/\S/));
  return body;
}

let seq = 0;
/** A purchase the demo program accepts; each call has its own event id. */
function valid(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  seq += 1;
  return {
    id: `bad-input-${seq}`,
    type: 'purchase',
    memberId: `bad-member-${seq}`,
    occurredAt: AN_HOUR_AGO,
    amount: { value: '12.50', currency: 'EUR' },
    attributes: { category: 'electronics' },
    ...overrides,
  };
}

function without(body: Record<string, unknown>, field: string): Record<string, unknown> {
  const copy = { ...body };
  delete copy[field];
  return copy;
}

function post(
  body: unknown,
  url = '/v1/events',
  bearer: string = token,
): Promise<LightMyRequestResponse> {
  return t.request('POST', url, bearer, body);
}

function postRaw(
  payload: string,
  contentType: string | undefined,
  url = '/v1/events',
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: 'POST',
    url,
    headers: {
      authorization: `Bearer ${token}`,
      ...(contentType ? { 'content-type': contentType } : {}),
    },
    payload,
  });
}

const minutes = (n: number) => n * 60_000;
const days = (n: number) => n * 86_400_000;
const nowMs = new Date(NOW).getTime();
const iso = (ms: number) => new Date(ms).toISOString();

describe('POST /v1/events: the base event is valid', () => {
  it('accepts the event every bad case below is derived from', async () => {
    const res = await post(valid());
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ pointsEarned: 37, replayed: false });
  });
});

describe('POST /v1/events refuses invalid events with a pointer to the field and writes nothing', () => {
  const cases: { name: string; body: () => unknown; pointers: string[] }[] = [
    // Missing required fields
    { name: 'missing id', body: () => without(valid(), 'id'), pointers: ['/id'] },
    { name: 'missing type', body: () => without(valid(), 'type'), pointers: ['/type'] },
    { name: 'missing memberId', body: () => without(valid(), 'memberId'), pointers: ['/memberId'] },
    {
      name: 'missing occurredAt',
      body: () => without(valid(), 'occurredAt'),
      pointers: ['/occurredAt'],
    },
    {
      name: 'a purchase without an amount',
      body: () => without(valid(), 'amount'),
      pointers: ['/amount'],
    },
    {
      name: 'missing amount.value',
      body: () => valid({ amount: { currency: 'EUR' } }),
      pointers: ['/amount/value'],
    },
    {
      name: 'missing amount.currency',
      body: () => valid({ amount: { value: '12.50' } }),
      pointers: ['/amount/currency'],
    },
    // Ids
    { name: 'an id with a colon', body: () => valid({ id: 'order:1001' }), pointers: ['/id'] },
    {
      name: 'an id of 129 characters',
      body: () => valid({ id: 'x'.repeat(129) }),
      pointers: ['/id'],
    },
    { name: 'an empty id', body: () => valid({ id: '' }), pointers: ['/id'] },
    { name: 'an id that is a number', body: () => valid({ id: 1001 }), pointers: ['/id'] },
    {
      name: 'a memberId with a space',
      body: () => valid({ memberId: 'alice smith' }),
      pointers: ['/memberId'],
    },
    {
      name: 'a memberId of 129 characters',
      body: () => valid({ memberId: 'm'.repeat(129) }),
      pointers: ['/memberId'],
    },
    // Amounts
    {
      name: 'a decimal comma "12,50"',
      body: () => valid({ amount: { value: '12,50', currency: 'EUR' } }),
      pointers: ['/amount/value'],
    },
    {
      name: 'a non-numeric "abc"',
      body: () => valid({ amount: { value: 'abc', currency: 'EUR' } }),
      pointers: ['/amount/value'],
    },
    {
      name: 'an exponent "1e3"',
      body: () => valid({ amount: { value: '1e3', currency: 'EUR' } }),
      pointers: ['/amount/value'],
    },
    {
      name: 'an empty value ""',
      body: () => valid({ amount: { value: '', currency: 'EUR' } }),
      pointers: ['/amount/value'],
    },
    {
      name: 'a JSON number 12.5',
      body: () => valid({ amount: { value: 12.5, currency: 'EUR' } }),
      pointers: ['/amount/value'],
    },
    {
      name: 'a negative "-1.00"',
      body: () => valid({ amount: { value: '-1.00', currency: 'EUR' } }),
      pointers: ['/amount/value'],
    },
    {
      name: 'too many decimals "1.005" EUR',
      body: () => valid({ amount: { value: '1.005', currency: 'EUR' } }),
      pointers: ['/amount/value'],
    },
    {
      name: 'an absurdly large amount',
      body: () => valid({ amount: { value: '1234567890123456789012', currency: 'EUR' } }),
      pointers: ['/amount/value'],
    },
    {
      name: 'an amount that is a string',
      body: () => valid({ amount: '12.50' }),
      pointers: ['/amount'],
    },
    {
      name: 'an unknown field in amount',
      body: () => valid({ amount: { value: '1.00', currency: 'EUR', cents: 100 } }),
      pointers: ['/amount/cents'],
    },
    // Currencies
    {
      name: 'USD in the EUR-only program',
      body: () => valid({ amount: { value: '12.50', currency: 'USD' } }),
      pointers: ['/amount/currency'],
    },
    {
      name: 'a non-ISO currency "ZZZ"',
      body: () => valid({ amount: { value: '12.50', currency: 'ZZZ' } }),
      pointers: ['/amount/currency'],
    },
    {
      name: 'a non-ISO currency "EURO"',
      body: () => valid({ amount: { value: '12.50', currency: 'EURO' } }),
      pointers: ['/amount/currency'],
    },
    {
      name: 'a lower-case currency "eur"',
      body: () => valid({ amount: { value: '12.50', currency: 'eur' } }),
      pointers: ['/amount/currency'],
    },
    // Event types
    { name: 'an unknown event type', body: () => valid({ type: 'donation' }), pointers: ['/type'] },
    { name: 'an empty event type', body: () => valid({ type: '' }), pointers: ['/type'] },
    // occurredAt
    {
      name: 'occurredAt without an offset',
      body: () => valid({ occurredAt: '2026-03-02T11:00:00' }),
      pointers: ['/occurredAt'],
    },
    {
      name: 'occurredAt as a date only',
      body: () => valid({ occurredAt: '2026-03-02' }),
      pointers: ['/occurredAt'],
    },
    {
      name: 'occurredAt on 2026-02-30',
      body: () => valid({ occurredAt: '2026-02-30T10:00:00Z' }),
      pointers: ['/occurredAt'],
    },
    {
      name: 'occurredAt at 24:00',
      body: () => valid({ occurredAt: '2026-03-01T24:00:00Z' }),
      pointers: ['/occurredAt'],
    },
    {
      name: 'occurredAt as epoch milliseconds',
      body: () => valid({ occurredAt: nowMs }),
      pointers: ['/occurredAt'],
    },
    {
      name: 'occurredAt more than 5 minutes in the future',
      body: () => valid({ occurredAt: iso(nowMs + minutes(5) + 1000) }),
      pointers: ['/occurredAt'],
    },
    {
      name: 'occurredAt older than the 90-day backdating window',
      body: () => valid({ occurredAt: iso(nowMs - days(90) - minutes(1)) }),
      pointers: ['/occurredAt'],
    },
    // Unknown fields and attributes
    {
      name: 'an unknown top-level field',
      body: () => valid({ points: 1000 }),
      pointers: ['/points'],
    },
    {
      name: 'attributes that are a string',
      body: () => valid({ attributes: 'electronics' }),
      pointers: ['/attributes'],
    },
    {
      name: 'attributes that are an array',
      body: () => valid({ attributes: ['electronics'] }),
      pointers: ['/attributes'],
    },
    {
      name: 'an attribute whose value is an object',
      body: () => valid({ attributes: { category: { name: 'electronics' } } }),
      pointers: ['/attributes/category'],
    },
    {
      name: 'an attribute whose value is an array',
      body: () => valid({ attributes: { tags: ['a'] } }),
      pointers: ['/attributes/tags'],
    },
    {
      name: 'more than 64 attributes',
      body: () =>
        valid({
          attributes: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`a${i}`, i])),
        }),
      pointers: ['/attributes'],
    },
    // Refunds
    {
      name: 'a refund without refundOf',
      body: () => valid({ type: 'refund' }),
      pointers: ['/refundOf'],
    },
    {
      name: 'refundOf on a purchase',
      body: () => valid({ refundOf: 'bad-input-1' }),
      pointers: ['/refundOf'],
    },
    {
      name: 'a refundOf that is not an id',
      body: () => valid({ type: 'refund', refundOf: 'a:b' }),
      pointers: ['/refundOf'],
    },
  ];

  it.each(cases)('$name', async ({ body, pointers }) => {
    const res = await writesNothing(() => post(body()));
    expectInvalid(res, pointers);
  });

  it('reports every invalid field of one event at once', async () => {
    const res = await writesNothing(() =>
      post({
        id: 'a:b',
        type: 'purchase',
        memberId: 'ok',
        occurredAt: 'yesterday',
        amount: { value: 1, currency: 'EUR' },
        extra: true,
      }),
    );
    expectInvalid(res, ['/id', '/occurredAt', '/amount/value', '/extra']);
  });

  it('refuses a body that is not a JSON object', async () => {
    for (const body of [[valid()], 'purchase', 42, null]) {
      const res = await writesNothing(() => postRaw(JSON.stringify(body), 'application/json'));
      const problem = expectProblem(res, 400, 'validation-failed');
      expect(problem.errors?.length).toBeGreaterThan(0);
    }
  });

  it('leaves the id of a refused event free: the corrected event is created, not a conflict', async () => {
    const event = valid();
    expectInvalid(
      await writesNothing(() => post({ ...event, amount: { value: '12,50', currency: 'EUR' } })),
      ['/amount/value'],
    );
    const res = await post(event);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ eventId: event.id, replayed: false });
  });

  it('accepts the edges of the windows: 5 minutes ahead and 90 days back', async () => {
    const ahead = await post(valid({ occurredAt: iso(nowMs + minutes(5)) }));
    expect(ahead.statusCode, ahead.body).toBe(201);
    const back = await post(valid({ occurredAt: iso(nowMs - days(90) + minutes(1)) }));
    expect(back.statusCode, back.body).toBe(201);
  });

  it('accepts ids of 128 characters, and serves the member under its 128-character id', async () => {
    const memberId = `m${'0123456789'.repeat(12)}1234567`;
    expect(memberId).toHaveLength(128);
    const res = await post(valid({ id: 'x'.repeat(128), memberId }));
    expect(res.statusCode, res.body).toBe(201);
    const member = await t.request('GET', `/v1/members/${memberId}`, token);
    expect(member.statusCode, member.body).toBe(200);
    expect(member.json()).toMatchObject({ id: memberId, balance: { available: 37 } });
    const ledger = await t.request('GET', `/v1/members/${memberId}/ledger`, token);
    expect(ledger.statusCode, ledger.body).toBe(200);
    const explain = await t.request('GET', `/v1/events/${'x'.repeat(128)}/explain`, token);
    expect(explain.statusCode, explain.body).toBe(200);
    const put = await t.request('PUT', `/v1/members/${memberId}`, token, {
      attributes: { segment: 'long' },
    });
    expect(put.statusCode, put.body).toBe(200);
  });
});

describe('POST /v1/events refuses bodies it cannot read, writing nothing', () => {
  it('answers 400 malformed-request to malformed JSON', async () => {
    const res = await writesNothing(() =>
      postRaw('{"id": "m-1", "type": "purchase",', 'application/json'),
    );
    expectProblem(res, 400, 'malformed-request');
  });

  it('answers 400 malformed-request to an empty JSON body', async () => {
    const res = await writesNothing(() => postRaw('', 'application/json'));
    expectProblem(res, 400, 'malformed-request');
  });

  it('answers 415 unsupported-media-type to a body that is not JSON', async () => {
    const res = await writesNothing(() => postRaw(JSON.stringify(valid()), 'text/plain'));
    expectProblem(res, 415, 'unsupported-media-type');
  });

  it('answers 415 unsupported-media-type to a form-encoded body', async () => {
    const form = new URLSearchParams({
      id: 'form-1',
      type: 'purchase',
      memberId: 'form-member',
      occurredAt: AN_HOUR_AGO,
    });
    const res = await writesNothing(() =>
      postRaw(form.toString(), 'application/x-www-form-urlencoded'),
    );
    expectProblem(res, 415, 'unsupported-media-type');
  });

  it('answers 413 payload-too-large to a single event over 64 KiB', async () => {
    const body = JSON.stringify(valid({ attributes: { note: 'x'.repeat(70 * 1024) } }));
    const res = await writesNothing(() => postRaw(body, 'application/json'));
    expectProblem(res, 413, 'payload-too-large');
  });

  it('answers 413 payload-too-large to a batch over 4 MiB', async () => {
    const note = 'x'.repeat(1000);
    const events = Array.from({ length: 900 }, () =>
      valid({ attributes: { a: note, b: note, c: note, d: note, e: note } }),
    );
    const body = JSON.stringify({ events });
    expect(body.length).toBeGreaterThan(4 * 1024 * 1024);
    const res = await writesNothing(() => postRaw(body, 'application/json', '/v1/events:batch'));
    expectProblem(res, 413, 'payload-too-large');
  });
});

describe('refusals by the business rules (422) write nothing', () => {
  it('refuses a refund of an unknown event', async () => {
    const res = await writesNothing(() =>
      post(valid({ type: 'refund', refundOf: 'no-such-event' })),
    );
    const problem = expectProblem(res, 422, 'refund-of-unknown-event');
    expect(problem.errors?.map((e) => e.pointer)).toEqual(['/refundOf']);
  });

  it('refuses a refund larger than what remains of the purchase', async () => {
    const original = valid({ memberId: 'refunder', amount: { value: '10.00', currency: 'EUR' } });
    expect((await post(original)).statusCode).toBe(201);
    const first = await post(
      valid({
        type: 'refund',
        memberId: 'refunder',
        refundOf: original.id,
        amount: { value: '6.00', currency: 'EUR' },
      }),
    );
    expect(first.statusCode, first.body).toBe(201);
    const res = await writesNothing(() =>
      post(
        valid({
          type: 'refund',
          memberId: 'refunder',
          refundOf: original.id,
          amount: { value: '4.01', currency: 'EUR' },
        }),
      ),
    );
    const problem = expectProblem(res, 422, 'refund-exceeds-remaining');
    expect(problem.errors?.map((e) => e.pointer)).toEqual(['/amount/value']);
  });

  it("refuses a refund of another member's purchase", async () => {
    const original = valid({ memberId: 'owner' });
    expect((await post(original)).statusCode).toBe(201);
    const res = await writesNothing(() =>
      post(valid({ type: 'refund', memberId: 'not-the-owner', refundOf: original.id })),
    );
    expectProblem(res, 422, 'refund-not-allowed');
  });

  it('refuses a refund of a refund', async () => {
    const original = valid({ memberId: 'double-refunder' });
    expect((await post(original)).statusCode).toBe(201);
    const refund = valid({
      type: 'refund',
      memberId: 'double-refunder',
      refundOf: original.id,
      amount: { value: '1.00', currency: 'EUR' },
    });
    expect((await post(refund)).statusCode).toBe(201);
    const res = await writesNothing(() =>
      post(
        valid({
          type: 'refund',
          memberId: 'double-refunder',
          refundOf: refund.id,
          amount: { value: '1.00', currency: 'EUR' },
        }),
      ),
    );
    expectProblem(res, 422, 'refund-not-allowed');
  });
});

describe('a program that does not create members from events', () => {
  let closed: string;

  beforeAll(async () => {
    const document = programTemplate('retail');
    document.settings = {
      backdatingWindowDays: 90,
      negativeBalance: 'allow',
      ...document.settings,
      createMembersOnEvent: false,
    };
    closed = await t.program('members-only', document);
  });

  it('refuses an event of an unknown member with 422 member-unknown, then accepts it once the member is created', async () => {
    const event = valid({ memberId: 'newcomer' });
    const refused = await writesNothing(() => post(event, '/v1/events', closed));
    const problem = expectProblem(refused, 422, 'member-unknown');
    expect(problem.errors?.map((e) => e.pointer)).toEqual(['/memberId']);
    expect((await t.request('GET', '/v1/members/newcomer', closed)).statusCode).toBe(404);

    const created = await t.request('PUT', '/v1/members/newcomer', closed, {
      attributes: { segment: 'vip' },
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({
      id: 'newcomer',
      attributes: { segment: 'vip' },
      balance: { available: 0 },
    });

    const accepted = await post(event, '/v1/events', closed);
    expect(accepted.statusCode, accepted.body).toBe(201);
    expect(accepted.json()).toMatchObject({
      eventId: event.id,
      memberId: 'newcomer',
      pointsEarned: 37,
      replayed: false,
    });
  });

  it('refuses an unknown member inside a batch with a pointer to that item, and accepts the others', async () => {
    expect(
      (await t.request('PUT', '/v1/members/known', closed, { attributes: {} })).statusCode,
    ).toBe(201);
    const before = await counts();
    const res = await post(
      { events: [valid({ memberId: 'known' }), valid({ memberId: 'stranger' })] },
      '/v1/events:batch',
      closed,
    );
    expect(res.statusCode, res.body).toBe(200);
    const { results } = res.json() as { results: { status: number; problem?: Problem }[] };
    expect(results.map((r) => r.status)).toEqual([201, 422]);
    expect(results[1]?.problem).toMatchObject({ type: '/problems/member-unknown', status: 422 });
    expect(results[1]?.problem?.errors?.map((e) => e.pointer)).toEqual(['/events/1/memberId']);
    const after = await counts();
    expect(after.events - before.events).toBe(1);
    expect(after.members).toBe(before.members);
  });
});

describe('PUT /v1/members/{id} refuses invalid bodies with a pointer and writes nothing', () => {
  const cases: { name: string; url?: string; body: unknown; pointers: string[] }[] = [
    { name: 'no attributes', body: {}, pointers: ['/attributes'] },
    {
      name: 'attributes that are a string',
      body: { attributes: 'vip' },
      pointers: ['/attributes'],
    },
    {
      name: 'attributes that are an array',
      body: { attributes: ['vip'] },
      pointers: ['/attributes'],
    },
    { name: 'attributes that are null', body: { attributes: null }, pointers: ['/attributes'] },
    {
      name: 'an unknown top-level field',
      body: { attributes: {}, balance: 1000 },
      pointers: ['/balance'],
    },
    {
      name: 'more than 64 attributes',
      body: { attributes: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`a${i}`, i])) },
      pointers: ['/attributes'],
    },
    {
      name: 'a member id with a colon',
      url: '/v1/members/a:b',
      body: { attributes: {} },
      pointers: ['/params/id'],
    },
    {
      name: 'a member id of 129 characters',
      url: `/v1/members/${'m'.repeat(129)}`,
      body: { attributes: {} },
      pointers: ['/params/id'],
    },
  ];

  it.each(cases)('$name', async ({ url, body, pointers }) => {
    const res = await writesNothing(() =>
      t.request('PUT', url ?? '/v1/members/profiled', token, body),
    );
    expectInvalid(res, pointers);
  });

  it.each([
    ['longer than 64 characters', 'k'.repeat(65)],
    ['empty', ''],
  ])('refuses an attribute name %s, pointing into attributes', async (_name, key) => {
    const res = await writesNothing(() =>
      t.request('PUT', '/v1/members/bad-key', token, { attributes: { [key]: 1 } }),
    );
    const problem = expectProblem(res, 400, 'validation-failed');
    expect(problem.errors?.length).toBeGreaterThan(0);
    for (const error of problem.errors ?? []) expect(error.pointer).toMatch(/^\/attributes(\/|$)/);
  });

  it('answers 400 malformed-request to malformed JSON', async () => {
    const res = await writesNothing(() =>
      t.app.inject({
        method: 'PUT',
        url: '/v1/members/profiled',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: '{"attributes": {',
      }),
    );
    expectProblem(res, 400, 'malformed-request');
  });

  it('creates the member from a valid body (the cases above differ from it in one way each)', async () => {
    const res = await t.request('PUT', '/v1/members/profiled', token, {
      attributes: { segment: 'vip' },
    });
    expect(res.statusCode, res.body).toBe(201);
  });
});

describe('POST /v1/events:batch validates each item on its own', () => {
  it('answers one result per item, in order, each bad item with pointers under /events/N', async () => {
    const good = valid();
    const before = await counts();
    const res = await post(
      {
        events: [
          good,
          without(valid(), 'amount'),
          valid({ amount: { value: '12,50', currency: 'USD' } }),
          42,
          valid({ occurredAt: '2026-03-02T11:00:00', unknown: 1 }),
          valid({ attributes: { category: { nested: true } } }),
        ],
      },
      '/v1/events:batch',
    );
    expect(res.statusCode, res.body).toBe(200);
    const { results } = res.json() as {
      results: { status: number; body?: { eventId: string }; problem?: Problem }[];
    };
    expect(results.map((r) => r.status)).toEqual([201, 400, 400, 400, 400, 400]);
    expect(results[0]?.body?.eventId).toBe(good.id);
    for (const r of results.slice(1))
      expect(r.problem).toMatchObject({ type: '/problems/validation-failed', status: 400 });
    const pointers = results.map((r) => (r.problem?.errors ?? []).map((e) => e.pointer).sort());
    expect(pointers[1]).toEqual(['/events/1/amount']);
    expect(pointers[2]).toEqual(['/events/2/amount/currency']);
    expect(pointers[3]?.length).toBeGreaterThan(0);
    for (const pointer of pointers[3] ?? []) expect(pointer).toMatch(/^\/events\/3(\/|$)/);
    expect(pointers[4]).toEqual(['/events/4/occurredAt', '/events/4/unknown']);
    expect(pointers[5]).toEqual(['/events/5/attributes/category']);
    const after = await counts();
    expect(after.events - before.events).toBe(1);
    expect(after.members - before.members).toBe(1);
  });

  it('refuses more than 1,000 events with a pointer to /events, writing nothing', async () => {
    const events = Array.from({ length: 1001 }, () => valid());
    const res = await writesNothing(() => post({ events }, '/v1/events:batch'));
    expectInvalid(res, ['/events']);
  });

  it('refuses an empty batch', async () => {
    expectInvalid(await writesNothing(() => post({ events: [] }, '/v1/events:batch')), ['/events']);
  });

  it('refuses a batch without events, and one with an unknown field', async () => {
    expectInvalid(await writesNothing(() => post({}, '/v1/events:batch')), ['/events']);
    expectInvalid(
      await writesNothing(() => post({ events: [valid()], dryRun: true }, '/v1/events:batch')),
      ['/dryRun'],
    );
  });

  it('answers 400 malformed-request to a malformed batch body', async () => {
    expectProblem(
      await writesNothing(() => postRaw('{"events": [', 'application/json', '/v1/events:batch')),
      400,
      'malformed-request',
    );
  });
});
