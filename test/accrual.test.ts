// Accrual end to end on the real database: events over HTTP, points from the program's rules,
// postings in the ledger, tiers. The demo retail program (Europe/Prague; 1 point per whole
// EUR rounded down once per event after all multipliers; 2× at weekends in local time; 3× on
// electronics; Bronze 0 / Silver 1,000 ×1.1 / Gold 5,000 ×1.25 / Platinum 20,000 ×1.5 on
// points earned in the calendar year; the crossing event earns at the old tier).
// Real: database, HTTP stack, rules, ledger. Faked: the clock only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, createClient } from '../src/auth/index.ts';
import { RETAIL_EXAMPLE, programTemplate, type ProgramDocument } from '../src/rules/index.ts';
import { purchase, startTestApp, type TestApp } from './support/app.ts';
import type { EventAnswer } from './support/types.ts';

interface Explanation {
  eventId: string;
  type: string;
  memberId: string;
  programVersion: number;
  pointsEarned: number;
  postings: {
    entryId: string;
    kind: string;
    account: string;
    amount: number;
    lotId: string | null;
  }[];
  trace: {
    programVersion: number;
    local: { date: string; weekday: number; hour: number; timeZone: string };
    rules: RuleTrace[];
    multipliers: { source: string; factor: string }[];
    combinedMultiplier: string;
    rounding: { mode: string; from: string; to: number };
    bonus: number;
    capped?: { by: string; limit: number };
    points: number;
    tier: {
      before: string | null;
      after: string | null;
      changed: boolean;
      value: number;
      decision: string;
    };
  };
}

interface RuleTrace {
  id: string;
  name: string;
  type: string;
  fired: boolean;
  reason?: string;
  contribution?: string;
  factor?: string;
  capped?: { by: string; limit: number };
}

let t: TestApp;
let retail: Caller;
let memberCounter = 0;

/**
 * A client of one program. Tests move the clock across months, and access tokens live 15
 * minutes on that clock, so a fresh token is minted whenever the clock has moved.
 */
interface Caller {
  programId: string;
  clientId: string;
  secret: string;
  token?: { value: string; mintedAtMs: number };
}

const TOKEN_REUSE_MS_MAX = 10 * 60 * 1000;

async function createCaller(
  programId: string,
  document: 'retail' | ProgramDocument,
): Promise<Caller> {
  await t.program(programId, document);
  const caller = {
    programId,
    clientId: `accrual-${programId}`,
    secret: `accrual-secret-${programId}-0123456789`,
  };
  const created = await createClient(t.handle.db, { ...caller, scopes: [...SCOPES] });
  expect(created.status).toBe('created');
  return caller;
}

async function bearer(caller: Caller): Promise<string> {
  const nowMs = t.clock.now().getTime();
  const held = caller.token;
  if (held && nowMs >= held.mintedAtMs && nowMs - held.mintedAtMs < TOKEN_REUSE_MS_MAX)
    return held.value;
  const value = await t.token(caller.clientId, caller.secret);
  caller.token = { value, mintedAtMs: nowMs };
  return value;
}

async function call(caller: Caller, method: string, url: string, body?: unknown) {
  return t.request(method, url, await bearer(caller), body);
}

/** A member id no other test uses, so tiers and caps start from nothing. */
function newMember(label: string): string {
  memberCounter += 1;
  return `${label}-${memberCounter}`;
}

/** Moves the clock to one minute after `at`, so the event is inside its accepted window. */
function clockAfter(at: string): void {
  t.clock.set(new Date(Date.parse(at) + 60_000).toISOString());
}

/** Posts one event; the clock is set to `now`, by default one minute after the event. */
async function send(
  caller: Caller,
  body: Record<string, unknown>,
  now?: string,
): Promise<EventAnswer> {
  if (now === undefined) clockAfter(body.occurredAt as string);
  else t.clock.set(now);
  const res = await call(caller, 'POST', '/v1/events', body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as EventAnswer;
}

async function earn(
  caller: Caller,
  memberId: string,
  value: string,
  at: string,
  attributes?: Record<string, unknown>,
  now?: string,
): Promise<EventAnswer> {
  return send(caller, purchase(memberId, value, at, attributes ? { attributes } : {}), now);
}

async function explain(caller: Caller, eventId: string): Promise<Explanation> {
  const res = await call(caller, 'GET', `/v1/events/${eventId}/explain`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as Explanation;
}

async function member(caller: Caller, memberId: string) {
  const res = await call(caller, 'GET', `/v1/members/${memberId}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as {
    balance: { available: number; pending: number; held: number };
    tier: { id: string; name: string } | null;
    progress: { nextTier: { id: string } | null; current: number; required: number | null } | null;
  };
}

function rule(trace: Explanation['trace'], id: string): RuleTrace {
  const found = trace.rules.find((r) => r.id === id);
  expect(found, `rule ${id} in the trace`).toBeDefined();
  return found as RuleTrace;
}

beforeAll(async () => {
  t = await startTestApp({ now: '2026-11-23T12:00:00Z' });
  retail = await createCaller('retail', 'retail');
});
afterAll(() => t.close());

describe('base accrual on a weekday', () => {
  it('earns 12 points for 12.50 EUR on a Monday and creates the member with exactly that balance', async () => {
    const m = newMember('weekday');
    const answer = await earn(retail, m, '12.50', '2026-11-23T11:00:00Z');
    expect(answer).toEqual({
      eventId: expect.any(String),
      memberId: m,
      pointsEarned: 12,
      replayed: false,
      balance: { available: 12, pending: 0, held: 0 },
      tier: { id: 'bronze', name: 'Bronze' },
      programVersion: 1,
    });
    expect((await member(retail, m)).balance).toEqual({ available: 12, pending: 0, held: 0 });
  });

  it.each([
    ['0.99 EUR', '0.99', undefined, 0],
    ['1.99 EUR', '1.99', undefined, 1],
    ['1.00 EUR', '1.00', undefined, 1],
    ['99.99 EUR of electronics (299.97)', '99.99', { category: 'electronics' }, 299],
    ['0.34 EUR of electronics (1.02)', '0.34', { category: 'electronics' }, 1],
  ])(
    'rounds down once per event: %s on a weekday earns %i',
    async (_label, value, attributes, points) => {
      const m = newMember('round');
      const answer = await earn(retail, m, value, '2026-11-24T09:00:00Z', attributes);
      expect(answer.pointsEarned).toBe(points);
      expect(answer.balance.available).toBe(points);
    },
  );

  it('rounds after all multipliers, not before: 0.99 and 1.99 EUR of weekend electronics earn 5 and 11', async () => {
    // 0.99 × 6 = 5.94 → 5 (rounding first would give 0); 1.99 × 6 = 11.94 → 11 (not 6).
    const m = newMember('round-late');
    const a = await earn(retail, m, '0.99', '2026-11-21T10:00:00Z', { category: 'electronics' });
    const b = await earn(retail, m, '1.99', '2026-11-21T10:05:00Z', { category: 'electronics' });
    expect([a.pointsEarned, b.pointsEarned]).toEqual([5, 11]);
    expect(b.balance.available).toBe(16);
  });

  it('posts nothing for an event that earns 0 points, but still answers 201 for a new member', async () => {
    const m = newMember('zero');
    const answer = await earn(retail, m, '0.99', '2026-11-24T09:00:00Z');
    expect(answer.pointsEarned).toBe(0);
    const explained = await explain(retail, answer.eventId);
    expect(explained.postings).toEqual([]);
    expect(explained.trace.rounding).toEqual({ mode: 'down', from: '0.99', to: 0 });
    const ledger = await call(retail, 'GET', `/v1/members/${m}/ledger`);
    expect(ledger.json()).toEqual({ items: [], nextCursor: null });
  });
});

describe("weekends in the program's time zone", () => {
  it('doubles a purchase at Saturday 23:30 in Prague sent as 22:30 UTC', async () => {
    const m = newMember('sat-late');
    const answer = await earn(retail, m, '10.00', '2026-11-21T22:30:00Z');
    expect(answer.pointsEarned).toBe(20);
  });

  it('treats the same instant written with a +01:00 offset exactly the same', async () => {
    const m = newMember('sat-offset');
    const answer = await earn(retail, m, '10.00', '2026-11-21T23:30:00+01:00');
    expect(answer.pointsEarned).toBe(20);
    const explained = await explain(retail, answer.eventId);
    expect(explained.trace.local).toEqual({
      date: '2026-11-21',
      weekday: 6,
      hour: 23,
      timeZone: 'Europe/Prague',
    });
  });

  it('does not double Sunday 23:30 UTC, which is Monday 00:30 in Prague', async () => {
    const m = newMember('sun-utc');
    const answer = await earn(retail, m, '10.00', '2026-11-22T23:30:00Z');
    expect(answer.pointsEarned).toBe(10);
    const explained = await explain(retail, answer.eventId);
    expect(explained.trace.local).toMatchObject({ date: '2026-11-23', weekday: 1, hour: 0 });
  });

  it('doubles Friday 23:30 UTC, which is Saturday 00:30 in Prague', async () => {
    const m = newMember('fri-utc');
    const answer = await earn(retail, m, '10.00', '2026-11-20T23:30:00Z');
    expect(answer.pointsEarned).toBe(20);
  });

  it('does not double Friday 22:59 UTC, which is still Friday 23:59 in Prague', async () => {
    const m = newMember('fri-late');
    const answer = await earn(retail, m, '10.00', '2026-11-20T22:59:00Z');
    expect(answer.pointsEarned).toBe(10);
  });

  it('gives weekend electronics 6×', async () => {
    const m = newMember('sat-elec');
    const answer = await earn(retail, m, '10.00', '2026-11-22T12:00:00Z', {
      category: 'electronics',
    });
    expect(answer.pointsEarned).toBe(60);
  });

  it.each([
    // Summer time (CEST, UTC+2): the weekend starts at 22:00 UTC on Friday and ends at 22:00 UTC on Sunday.
    ['Friday 21:30 UTC = Friday 23:30 CEST', 10, '2026-06-12T21:30:00Z'],
    ['Friday 22:00 UTC = Saturday 00:00 CEST', 20, '2026-06-12T22:00:00Z'],
    ['Sunday 21:59 UTC = Sunday 23:59 CEST', 20, '2026-06-14T21:59:00Z'],
    ['Sunday 22:00 UTC = Monday 00:00 CEST', 10, '2026-06-14T22:00:00Z'],
    // The night summer time starts (Sunday 29 March 2026, 02:00 CET → 03:00 CEST).
    ['Saturday 23:30 UTC = Sunday 00:30 CET on the spring-forward day', 20, '2026-03-28T23:30:00Z'],
    ['Sunday 21:59 UTC = Sunday 23:59 CEST on the spring-forward day', 20, '2026-03-29T21:59:00Z'],
    [
      'Sunday 22:00 UTC = Monday 00:00 CEST after the spring-forward day',
      10,
      '2026-03-29T22:00:00Z',
    ],
    // The night summer time ends (Sunday 25 October 2026, 03:00 CEST → 02:00 CET).
    ['Sunday 22:59 UTC = Sunday 23:59 CET on the fall-back day', 20, '2026-10-25T22:59:00Z'],
    ['Sunday 23:00 UTC = Monday 00:00 CET after the fall-back day', 10, '2026-10-25T23:00:00Z'],
  ])('%s: 10.00 EUR earns %i', async (_label, points, at) => {
    const m = newMember('dst');
    const answer = await earn(retail, m, '10.00', at);
    expect(answer.pointsEarned).toBe(points);
  });
});

describe('category multiplier', () => {
  it('does not triple a purchase without a category attribute', async () => {
    const m = newMember('no-cat');
    const answer = await earn(retail, m, '10.00', '2026-11-24T10:00:00Z');
    expect(answer.pointsEarned).toBe(10);
    const electronics = rule((await explain(retail, answer.eventId)).trace, 'electronics');
    expect(electronics.fired).toBe(false);
    expect(electronics.reason).toEqual(expect.any(String));
  });

  it('does not triple another category, nor electronics in another case', async () => {
    const m = newMember('other-cat');
    const books = await earn(retail, m, '10.00', '2026-11-24T10:00:00Z', { category: 'books' });
    const upper = await earn(retail, m, '10.00', '2026-11-24T10:01:00Z', {
      category: 'Electronics',
    });
    expect([books.pointsEarned, upper.pointsEarned]).toEqual([10, 10]);
  });

  it('triples electronics on a weekday', async () => {
    const m = newMember('elec');
    const answer = await earn(retail, m, '10.00', '2026-11-24T10:00:00Z', {
      category: 'electronics',
    });
    expect(answer.pointsEarned).toBe(30);
  });
});

describe('caps', () => {
  let capped: Caller;
  const visit = (memberId: string, at: string) => ({
    id: `visit-${memberId}-${at.replace(/[^0-9]/g, '')}`,
    type: 'visit',
    memberId,
    occurredAt: at,
  });

  beforeAll(async () => {
    const document = programTemplate('retail');
    document.name = 'Capped retail';
    document.eventTypes = {
      ...document.eventTypes,
      visit: { kind: 'custom', amount: 'forbidden' },
    };
    document.rules = document.rules.map((r) =>
      r.id === 'base' ? { ...r, caps: { perEvent: 100 } } : r,
    );
    document.rules.push({
      id: 'visit-bonus',
      name: '30 points per store visit, at most 50 a day',
      eventTypes: ['visit'],
      effect: { type: 'bonus', points: 30 },
      caps: { perMember: { points: 50, period: 'day' } },
    });
    capped = await createCaller('capped', document);
  });

  it('caps an earn rule per event after multipliers', async () => {
    const m = newMember('per-event');
    const weekday = await earn(capped, m, '150.00', '2026-11-24T10:00:00Z');
    const under = await earn(capped, m, '99.99', '2026-11-24T10:01:00Z');
    // 80 × 2 (Saturday) = 160 → capped at 100.
    const weekend = await earn(capped, m, '80.00', '2026-11-21T10:00:00Z');
    expect([weekday.pointsEarned, under.pointsEarned, weekend.pointsEarned]).toEqual([
      100, 99, 100,
    ]);
    expect(weekend.balance.available).toBe(299);
    const base = rule((await explain(capped, weekend.eventId)).trace, 'base');
    expect(base).toMatchObject({
      fired: true,
      contribution: '100',
      capped: { by: 'perEvent', limit: 100 },
    });
  });

  it('caps a bonus per member per local day and starts afresh at midnight in Prague', async () => {
    const m = newMember('visits');
    const other = newMember('visits-other');
    const points: number[] = [];
    for (const at of ['2026-11-23T08:00:00Z', '2026-11-23T15:00:00Z', '2026-11-23T22:59:00Z']) {
      points.push((await send(capped, visit(m, at))).pointsEarned);
    }
    // 30, then the 20 left of the 50 a day, then nothing, all on Monday in Prague.
    expect(points).toEqual([30, 20, 0]);
    // Another member has a cap of their own.
    expect((await send(capped, visit(other, '2026-11-23T22:59:30Z'))).pointsEarned).toBe(30);
    // 23:00 UTC on the same UTC date is Tuesday 00:00 in Prague: a new day.
    const tuesday = await send(capped, visit(m, '2026-11-23T23:00:00Z'));
    expect(tuesday.pointsEarned).toBe(30);
    expect(tuesday.balance.available).toBe(80);

    const second = await explain(capped, visit(m, '2026-11-23T15:00:00Z').id);
    expect(rule(second.trace, 'visit-bonus')).toMatchObject({
      fired: true,
      contribution: '20',
      capped: { by: 'perMember', limit: 50 },
    });
  });

  it('caps the total per event with settings.maxPointsPerEvent in a version published with PUT /v1/program', async () => {
    const current = await call(capped, 'GET', '/v1/program');
    expect(current.statusCode).toBe(200);
    const document = (current.json() as { document: ProgramDocument }).document;
    document.rules = document.rules.map((r) => (r.id === 'base' ? { ...r, caps: undefined } : r));
    document.settings = { ...document.settings, maxPointsPerEvent: 150 };
    const published = await call(capped, 'PUT', '/v1/program', document);
    expect(published.statusCode, published.body).toBe(200);
    expect(published.json()).toMatchObject({ programId: 'capped', version: 2 });

    const m = newMember('max-total');
    const big = await earn(capped, m, '400.00', '2026-11-24T10:00:00Z');
    const small = await earn(capped, m, '120.00', '2026-11-24T10:01:00Z');
    expect(big).toMatchObject({ pointsEarned: 150, programVersion: 2 });
    expect(small.pointsEarned).toBe(120);
    const trace = (await explain(capped, big.eventId)).trace;
    expect(trace.capped).toEqual({ by: 'maxPointsPerEvent', limit: 150 });
    expect(trace.points).toBe(150);
  });
});

describe('custom event types', () => {
  let reviews: Caller;
  const review = (memberId: string, at: string, extra: Record<string, unknown> = {}) => ({
    id: `review-${memberId}-${at.replace(/[^0-9]/g, '')}`,
    type: 'review',
    memberId,
    occurredAt: at,
    ...extra,
  });

  beforeAll(async () => {
    // The reference document: retail plus `review` events worth 50 points, at most 150 a month.
    reviews = await createCaller(
      'reviews',
      structuredClone(RETAIL_EXAMPLE) as unknown as ProgramDocument,
    );
  });

  it('gives a fixed bonus for a review, capped at 150 a month in Prague', async () => {
    const m = newMember('reviewer');
    const points: number[] = [];
    for (const at of [
      '2026-11-02T10:00:00Z',
      '2026-11-10T10:00:00Z',
      '2026-11-20T10:00:00Z',
      '2026-11-30T22:59:00Z', // Monday 30 November, 23:59 in Prague
      '2026-11-30T23:00:00Z', // Tuesday 1 December, 00:00 in Prague: a new month
    ]) {
      points.push((await send(reviews, review(m, at))).pointsEarned);
    }
    expect(points).toEqual([50, 50, 50, 0, 50]);
    expect((await member(reviews, m)).balance.available).toBe(200);
  });

  it('does not multiply the review bonus by the tier multiplier', async () => {
    const m = newMember('silver-reviewer');
    await earn(reviews, m, '1000.00', '2026-11-24T10:00:00Z');
    expect((await member(reviews, m)).tier?.id).toBe('silver');
    const answer = await send(reviews, review(m, '2026-11-24T10:05:00Z'));
    expect(answer.pointsEarned).toBe(50);
  });

  it('refuses a review with an amount, since the type forbids one, and writes nothing', async () => {
    const m = newMember('review-amount');
    const body = review(m, '2026-11-24T10:00:00Z', { amount: { value: '10.00', currency: 'EUR' } });
    clockAfter(body.occurredAt);
    const res = await call(reviews, 'POST', '/v1/events', body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      type: '/problems/validation-failed',
      errors: [{ pointer: '/amount', detail: expect.any(String) }],
    });
    expect((await call(reviews, 'GET', `/v1/members/${m}`)).statusCode).toBe(404);
  });

  it('refuses a review in the demo program, which has no such event type', async () => {
    const m = newMember('no-review');
    const body = review(m, '2026-11-24T10:00:00Z');
    clockAfter(body.occurredAt);
    const res = await call(retail, 'POST', '/v1/events', body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ errors: [{ pointer: '/type' }] });
  });
});

describe('explain', () => {
  it('lists every rule with fired or not and why, the multipliers, rounding, tier decision and postings', async () => {
    const m = newMember('explain');
    const answer = await earn(retail, m, '12.50', '2026-11-23T11:00:00Z');
    const explained = await explain(retail, answer.eventId);
    expect(explained).toMatchObject({
      eventId: answer.eventId,
      type: 'purchase',
      memberId: m,
      programVersion: 1,
      pointsEarned: 12,
    });
    const { trace } = explained;
    expect(trace.rules.map((r) => r.id)).toEqual(['base', 'weekend', 'electronics']);
    expect(rule(trace, 'base')).toMatchObject({ fired: true, contribution: '12.5' });
    expect(rule(trace, 'base').reason).toBeUndefined();
    for (const id of ['weekend', 'electronics']) {
      expect(rule(trace, id).fired).toBe(false);
      expect(rule(trace, id).reason).toMatch(/\S/);
    }
    expect(trace.multipliers).toEqual([{ source: 'tier:bronze', factor: '1' }]);
    expect(trace.rounding).toEqual({ mode: 'down', from: '12.5', to: 12 });
    expect(trace.points).toBe(12);
    expect(trace.tier).toMatchObject({
      before: 'bronze',
      after: 'bronze',
      changed: false,
      value: 12,
    });
    expect(trace.tier.decision).toMatch(/\S/);
    expect(explained.postings).toEqual([
      {
        entryId: expect.any(String),
        kind: 'earn',
        account: 'available',
        amount: 12,
        lotId: expect.any(String),
      },
      { entryId: expect.any(String), kind: 'earn', account: 'issued', amount: -12, lotId: null },
    ]);
    expect(explained.postings[0]?.entryId).toBe(explained.postings[1]?.entryId);
  });

  it('stores a compact trace and explains it in full: version, local time, amount as sent, multipliers, segments, tier window and decision', async () => {
    const m = newMember('explain-full');
    // Saturday 23:30 in Prague is 22:30 UTC: weekend electronics, 12.5 × 2 × 3 = 75.
    const answer = await earn(retail, m, '12.5', '2026-11-21T22:30:00Z', {
      category: 'electronics',
    });
    expect(answer.pointsEarned).toBe(75);
    const stored = await t.handle.db
      .selectFrom('events')
      .select('trace')
      .where('program_id', '=', retail.programId)
      .where('id', '=', answer.eventId)
      .executeTakeFirstOrThrow();
    const facts = stored.trace as Record<string, unknown>;
    for (const key of [
      'programVersion',
      'local',
      'amount',
      'segments',
      'multipliers',
      'combinedMultiplier',
      'rounding',
    ])
      expect(facts).not.toHaveProperty(key);
    expect(facts.tier).toEqual({ value: 75, before: 'bronze', after: 'bronze' });

    const { trace } = (await explain(retail, answer.eventId)) as unknown as {
      trace: Record<string, unknown>;
    };
    expect(trace.programVersion).toBe(1);
    expect(trace.local).toEqual({
      date: '2026-11-21',
      weekday: 6,
      hour: 23,
      timeZone: 'Europe/Prague',
    });
    expect(trace.amount).toEqual({ value: '12.5', currency: 'EUR' });
    expect(trace.multipliers).toEqual([
      { source: 'rule:weekend', factor: '2' },
      { source: 'rule:electronics', factor: '3' },
      { source: 'tier:bronze', factor: '1' },
    ]);
    expect(trace.combinedMultiplier).toBe('6');
    expect(trace.segments).toEqual({ in: [], entered: [], left: [] });
    expect(trace.tier).toEqual({
      metric: 'points',
      window: { type: 'calendarYear', from: '2026-01-01', to: '2026-12-31' },
      value: 75,
      before: 'bronze',
      after: 'bronze',
      changed: false,
      decision: 'stays bronze',
    });
  });

  it('shows each fired multiplier and their product for weekend electronics', async () => {
    const m = newMember('explain-6x');
    const answer = await earn(retail, m, '12.50', '2026-11-21T22:30:00Z', {
      category: 'electronics',
    });
    expect(answer.pointsEarned).toBe(75);
    const { trace } = await explain(retail, answer.eventId);
    expect(trace.rules.every((r) => r.fired)).toBe(true);
    expect(trace.multipliers).toEqual([
      { source: 'rule:weekend', factor: '2' },
      { source: 'rule:electronics', factor: '3' },
      { source: 'tier:bronze', factor: '1' },
    ]);
    expect(trace.combinedMultiplier).toBe('6');
    expect(trace.rounding).toEqual({ mode: 'down', from: '75', to: 75 });
  });

  it('says why an earn rule did not fire for a custom event', async () => {
    const m = newMember('explain-review');
    const caller = await createCaller(
      'explain-reviews',
      structuredClone(RETAIL_EXAMPLE) as unknown as ProgramDocument,
    );
    const answer = await send(caller, {
      id: `review-${m}`,
      type: 'review',
      memberId: m,
      occurredAt: '2026-11-24T10:00:00Z',
    });
    const { trace } = await explain(caller, answer.eventId);
    expect(rule(trace, 'base')).toMatchObject({
      fired: false,
      reason: expect.stringContaining('review'),
    });
    expect(rule(trace, 'review-bonus')).toMatchObject({ fired: true, contribution: '50' });
    expect(trace.bonus).toBe(50);
  });

  it('answers 404 for an event the program does not know', async () => {
    const res = await call(retail, 'GET', '/v1/events/no-such-event/explain');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ type: '/problems/not-found', status: 404 });
  });
});

describe('tiers', () => {
  it('earns at Bronze on the event that reaches Silver and at ×1.1 from the next one', async () => {
    const m = newMember('silver');
    const first = await earn(retail, m, '990.00', '2026-11-24T09:00:00Z');
    expect(first).toMatchObject({ pointsEarned: 990, tier: { id: 'bronze' } });
    // 990 + 100 = 1,090 ≥ 1,000: this event crosses, so it still earns at Bronze (100, not 110).
    const crossing = await earn(retail, m, '100.00', '2026-11-24T09:01:00Z');
    expect(crossing).toMatchObject({
      pointsEarned: 100,
      balance: { available: 1090 },
      tier: { id: 'silver', name: 'Silver' },
    });
    const next = await earn(retail, m, '100.00', '2026-11-24T09:02:00Z');
    expect(next).toMatchObject({
      pointsEarned: 110,
      balance: { available: 1200 },
      tier: { id: 'silver' },
    });
    // 12.50 × 1.1 = 13.75 → 13: rounded once, after the tier multiplier.
    const small = await earn(retail, m, '12.50', '2026-11-24T09:03:00Z');
    expect(small.pointsEarned).toBe(13);
    // Weekend electronics at Silver: 10 × 2 × 3 × 1.1 = 66.
    const weekend = await earn(retail, m, '10.00', '2026-11-21T10:00:00Z', {
      category: 'electronics',
    });
    expect(weekend.pointsEarned).toBe(66);

    const decision = (await explain(retail, crossing.eventId)).trace;
    expect(decision.multipliers).toEqual([{ source: 'tier:bronze', factor: '1' }]);
    expect(decision.tier).toMatchObject({
      before: 'bronze',
      after: 'silver',
      changed: true,
      value: 1090,
      decision: 'threshold crossed: moved from bronze to silver; this event earned at bronze',
    });
    expect((await explain(retail, next.eventId)).trace.multipliers).toEqual([
      { source: 'tier:silver', factor: '1.1' },
    ]);
    const view = await member(retail, m);
    expect(view.tier).toMatchObject({ id: 'silver', name: 'Silver' });
    expect(view.progress).toMatchObject({
      nextTier: { id: 'gold' },
      current: 1279,
      required: 5000,
    });
  });

  it('jumps straight to the level the metric reaches and applies Gold ×1.25 and Platinum ×1.5 from the next event', async () => {
    const m = newMember('climber');
    const jump = await earn(retail, m, '6000.00', '2026-11-24T09:00:00Z');
    expect(jump).toMatchObject({ pointsEarned: 6000, tier: { id: 'gold', name: 'Gold' } });
    const gold = await earn(retail, m, '100.00', '2026-11-24T09:01:00Z');
    expect(gold.pointsEarned).toBe(125);
    // 6,125 + 14,000 × 1.25 = 23,625 ≥ 20,000: earned at Gold, Platinum from the next event.
    const crossing = await earn(retail, m, '14000.00', '2026-11-24T09:02:00Z');
    expect(crossing).toMatchObject({ pointsEarned: 17500, tier: { id: 'platinum' } });
    const platinum = await earn(retail, m, '100.00', '2026-11-24T09:03:00Z');
    expect(platinum).toMatchObject({
      pointsEarned: 150,
      balance: { available: 23775 },
      tier: { id: 'platinum', name: 'Platinum' },
    });
    expect((await member(retail, m)).progress).toMatchObject({ nextTier: null, current: 23775 });
  });

  it("counts points toward the calendar year in Prague's time, by when the event occurred", async () => {
    const m = newMember('new-year');
    // Thursday 31 December 2026, 22:00 in Prague.
    await earn(retail, m, '990.00', '2026-12-31T21:00:00Z');
    // Friday 1 January 2027, 00:05 in Prague (still 2026 in UTC): counts for 2027 only.
    const newYear = '2026-12-31T23:10:00Z';
    const answer = await earn(retail, m, '100.00', '2026-12-31T23:05:00Z', undefined, newYear);
    expect(answer).toMatchObject({ pointsEarned: 100, tier: { id: 'bronze' } });
    // Thursday 31 December 2026, 23:30 in Prague, arriving in 2027: not in the 2027 window.
    const late = await earn(retail, m, '20.00', '2026-12-31T22:30:00Z', undefined, newYear);
    expect(late).toMatchObject({ pointsEarned: 20, tier: { id: 'bronze', name: 'Bronze' } });
    expect((await member(retail, m)).progress).toMatchObject({ current: 100, required: 1000 });
  });
});
