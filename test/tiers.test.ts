// Tiers over HTTP and through the downgrade function, against a real database. Real: the
// HTTP app, the event pipeline, the ledger, `reevaluateTiers`, the database. Faked: the clock,
// which each test sets before it starts (tokens live 15 minutes of that clock, so a test that
// moves the clock further asks for a fresh token).
//
// Rules under test (issue 3): tiers are thresholds on a metric over a window; upgrade happens
// in the event's transaction, the crossing event earns at the old tier and the next at the
// new one; downgrade is `reevaluateTiers`, safe to run twice; every change is a tier_changes row.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, createClient } from '../src/auth/index.ts';
import { readProgramVersion } from '../src/programs/index.ts';
import { programTemplate, type ProgramDocument } from '../src/rules/index.ts';
import { reevaluateTiers } from '../src/tiers/index.ts';
import { processEvents } from '../src/events/index.ts';
import { DEFAULT_NOW, purchase, refund, startTestApp, type TestApp } from './support/app.ts';
import { eventDeps } from './support/events.ts';
import type { EventAnswer, MemberView } from './support/types.ts';

interface Explanation {
  pointsEarned: number;
  trace: {
    multipliers: { source: string; factor: string }[];
    tier: Record<string, unknown> | null;
  };
}

/** Monday 2026-06-15 10:00 in Prague: a plain weekday (1×) before the default clock. */
const WEEKDAY = '2026-06-15T08:00:00Z';

let t: TestApp;
let clients = 0;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

/** A token for an existing program, issued at the current test clock. */
async function freshToken(programId: string): Promise<string> {
  clients += 1;
  const clientId = `tiers-${programId}-${clients}`;
  const secret = `secret-${clientId}-0123456789abcdef`;
  const created = await createClient(t.handle.db, {
    programId,
    clientId,
    secret,
    scopes: [...SCOPES],
  });
  expect(created.status).toBe('created');
  return t.token(clientId, secret);
}

async function accepted(tok: string, body: Record<string, unknown>): Promise<EventAnswer> {
  const res = await t.request('POST', '/v1/events', tok, body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as EventAnswer;
}

async function getMember(tok: string, id: string): Promise<MemberView> {
  const res = await t.request('GET', `/v1/members/${id}`, tok);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as MemberView;
}

async function explain(tok: string, id: string): Promise<Explanation> {
  const res = await t.request('GET', `/v1/events/${id}/explain`, tok);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as Explanation;
}

async function tierChanges(programId: string, memberId?: string) {
  let query = t.handle.db
    .selectFrom('tier_changes')
    .select([
      'member_id',
      'from_tier',
      'to_tier',
      'reason',
      'event_id',
      'metric_value',
      'program_version',
      'changed_at',
    ])
    .where('program_id', '=', programId);
  if (memberId !== undefined) query = query.where('member_id', '=', memberId);
  return query.orderBy('id').execute();
}

async function reevaluate(programId: string) {
  const current = await readProgramVersion(t.handle.db, programId);
  if (!current) throw new Error(`no program ${programId}`);
  return reevaluateTiers(t.handle.db, programId, current.document, current.version, t.clock.now());
}

/** A bet in the casino template: an amount and a game type. */
function bet(
  memberId: string,
  value: string,
  at: string,
  gameType?: string,
): Record<string, unknown> {
  return {
    ...purchase(memberId, value, at),
    type: 'BetPlaced',
    ...(gameType === undefined ? {} : { attributes: { gameType } }),
  };
}

describe('upgrade in the event transaction (retail, points in the calendar year)', () => {
  it('the event that crosses 1000 points earns at Bronze and answers Silver; the next earns ×1.1', async () => {
    t.clock.set(DEFAULT_NOW);
    const tok = await t.program('retail-up', 'retail');
    expect(await accepted(tok, purchase('up', '990.00', WEEKDAY))).toMatchObject({
      pointsEarned: 990,
      tier: { id: 'bronze', name: 'Bronze' },
    });

    const crossing = purchase('up', '20.00', WEEKDAY);
    // At Silver it would be 22; it earns at Bronze and the answer already shows Silver.
    expect(await accepted(tok, crossing)).toMatchObject({
      pointsEarned: 20,
      balance: { available: 1010 },
      tier: { id: 'silver', name: 'Silver' },
    });
    const crossed = await explain(tok, crossing.id as string);
    expect(crossed.trace.multipliers).toContainEqual({ source: 'tier:bronze', factor: '1' });
    expect(crossed.trace.tier).toMatchObject({
      before: 'bronze',
      after: 'silver',
      changed: true,
      value: 1010,
    });

    const next = purchase('up', '100.00', WEEKDAY);
    expect(await accepted(tok, next)).toMatchObject({ pointsEarned: 110, tier: { id: 'silver' } });
    expect((await explain(tok, next.id as string)).trace.multipliers).toContainEqual({
      source: 'tier:silver',
      factor: '1.1',
    });

    const changes = await tierChanges('retail-up', 'up');
    expect(
      changes.map((c) => [c.from_tier, c.to_tier, c.reason, c.event_id, c.metric_value]),
    ).toEqual([
      [null, 'bronze', 'event', null, 0n],
      ['bronze', 'silver', 'event', crossing.id, 1010n],
    ]);
  });

  it('within one batch the crossing applies from the next event of the same member', async () => {
    t.clock.set(DEFAULT_NOW);
    const tok = await t.program('retail-up-batch', 'retail');
    const res = await t.request('POST', '/v1/events:batch', tok, {
      events: [
        purchase('ub', '990.00', WEEKDAY),
        purchase('ub', '20.00', WEEKDAY),
        purchase('ub', '100.00', WEEKDAY),
      ],
    });
    expect(res.statusCode, res.body).toBe(200);
    const results = (res.json() as { results: { status: number; body: EventAnswer }[] }).results;
    expect(results.map((r) => [r.status, r.body.pointsEarned, r.body.tier?.id])).toEqual([
      [201, 990, 'bronze'],
      [201, 20, 'silver'],
      [201, 110, 'silver'],
    ]);
  });

  it('concurrent events of one member cross the threshold exactly once', async () => {
    t.clock.set(DEFAULT_NOW);
    const tok = await t.program('retail-race', 'retail');
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        t.request('POST', '/v1/events', tok, purchase('racer', '150.00', WEEKDAY)),
      ),
    );
    expect(answers.map((r) => r.statusCode)).toEqual(Array.from({ length: 10 }, () => 201));
    // Whatever the order: 7 purchases reach 1 050 points at Bronze (the 7th crosses), 3 earn 165.
    const earned = answers.map((r) => (r.json() as EventAnswer).pointsEarned).sort();
    expect(earned).toEqual([150, 150, 150, 150, 150, 150, 150, 165, 165, 165]);
    const member = await getMember(tok, 'racer');
    expect(member.balance.available).toBe(1545);
    expect(member.tier?.id).toBe('silver');
    const upgrades = (await tierChanges('retail-race', 'racer')).filter(
      (c) => c.from_tier !== null,
    );
    expect(upgrades.map((c) => [c.from_tier, c.to_tier, c.metric_value])).toEqual([
      ['bronze', 'silver', 1050n],
    ]);
  });

  it('a member can jump two levels at once, and the next event earns at the level reached', async () => {
    t.clock.set(DEFAULT_NOW);
    const tok = await t.program('retail-jump', 'retail');
    const toGold = purchase('jump', '5000.00', WEEKDAY);
    expect(await accepted(tok, toGold)).toMatchObject({
      pointsEarned: 5000,
      tier: { id: 'gold', name: 'Gold' },
    });
    expect(await accepted(tok, purchase('jump', '100.00', WEEKDAY))).toMatchObject({
      pointsEarned: 125,
    });

    const toPlatinum = purchase('leap', '20000.00', WEEKDAY);
    expect(await accepted(tok, toPlatinum)).toMatchObject({
      pointsEarned: 20000,
      tier: { id: 'platinum' },
    });
    expect(await accepted(tok, purchase('leap', '100.00', WEEKDAY))).toMatchObject({
      pointsEarned: 150,
    });

    const changes = await tierChanges('retail-jump');
    expect(changes.map((c) => [c.member_id, c.from_tier, c.to_tier, c.event_id])).toEqual([
      ['jump', null, 'bronze', null],
      ['jump', 'bronze', 'gold', toGold.id],
      ['leap', null, 'bronze', null],
      ['leap', 'bronze', 'platinum', toPlatinum.id],
    ]);
  });

  it("the member's tier shows since when it holds, and progress toward the next level", async () => {
    t.clock.set(DEFAULT_NOW);
    const tok = await t.program('retail-progress', 'retail');
    await accepted(tok, purchase('prog', '100.00', WEEKDAY));
    const first = await getMember(tok, 'prog');
    expect(first.tier).toEqual({ id: 'bronze', name: 'Bronze', since: '2026-06-15T10:00:00.000Z' });
    expect(first.progress).toEqual({
      nextTier: { id: 'silver', name: 'Silver' },
      metric: 'points',
      current: 100,
      required: 1000,
      remaining: 900,
    });

    t.clock.set('2026-06-15T10:07:00Z');
    await accepted(tok, purchase('prog', '950.00', WEEKDAY));
    const second = await getMember(tok, 'prog');
    expect(second.tier).toEqual({
      id: 'silver',
      name: 'Silver',
      since: '2026-06-15T10:07:00.000Z',
    });
    expect(second.progress).toEqual({
      nextTier: { id: 'gold', name: 'Gold' },
      metric: 'points',
      current: 1050,
      required: 5000,
      remaining: 3950,
    });

    // Earning without crossing leaves `since` alone.
    t.clock.set('2026-06-15T10:09:00Z');
    await accepted(tok, purchase('prog', '10.00', WEEKDAY));
    expect((await getMember(tok, 'prog')).tier?.since).toBe('2026-06-15T10:07:00.000Z');

    await accepted(tok, purchase('top', '25000.00', WEEKDAY));
    expect((await getMember(tok, 'top')).progress).toEqual({
      nextTier: null,
      metric: 'points',
      current: 25000,
      required: null,
      remaining: null,
    });
  });
});

describe('calendar-year window', () => {
  it("points earned last year (in the program's time zone) do not count this year", async () => {
    t.clock.set('2027-01-10T10:00:00Z');
    const tok = await t.program('retail-year', 'retail');

    // Last year's 900 and this year's 200: Bronze, with 200 counted.
    expect(
      await accepted(tok, purchase('last-year', '900.00', '2026-12-30T10:00:00Z')),
    ).toMatchObject({
      pointsEarned: 900,
      tier: { id: 'bronze' },
    });
    expect(
      await accepted(tok, purchase('last-year', '200.00', '2027-01-08T10:00:00Z')),
    ).toMatchObject({
      pointsEarned: 200,
      balance: { available: 1100 },
      tier: { id: 'bronze' },
    });
    expect((await getMember(tok, 'last-year')).progress).toMatchObject({
      current: 200,
      remaining: 800,
    });

    // The same amounts, both this year: Silver.
    await accepted(tok, purchase('this-year', '900.00', '2027-01-05T10:00:00Z'));
    expect(
      await accepted(tok, purchase('this-year', '200.00', '2027-01-08T10:00:00Z')),
    ).toMatchObject({
      tier: { id: 'silver' },
    });

    // New Year's Eve 23:30 UTC is already 2027 in Prague (UTC+1); 22:30 UTC is still 2026.
    await accepted(tok, purchase('eve-late', '900.00', '2026-12-31T23:30:00Z'));
    expect(
      await accepted(tok, purchase('eve-late', '200.00', '2027-01-08T10:00:00Z')),
    ).toMatchObject({
      tier: { id: 'silver' },
    });
    await accepted(tok, purchase('eve-early', '900.00', '2026-12-31T22:30:00Z'));
    expect(
      await accepted(tok, purchase('eve-early', '200.00', '2027-01-08T10:00:00Z')),
    ).toMatchObject({
      tier: { id: 'bronze' },
    });
  });
});

describe('downgrade by reevaluateTiers', () => {
  it('after the year ends a Silver member drops to Bronze, with history, and a second run changes nothing', async () => {
    t.clock.set(DEFAULT_NOW);
    const tok = await t.program('retail-down', 'retail');
    expect((await accepted(tok, purchase('was-silver', '1200.00', WEEKDAY))).tier?.id).toBe(
      'silver',
    );
    expect((await accepted(tok, purchase('stays-bronze', '300.00', WEEKDAY))).tier?.id).toBe(
      'bronze',
    );

    // Still inside the year: nothing moves.
    t.clock.set('2026-12-31T12:00:00Z');
    expect(await reevaluate('retail-down')).toEqual({ members: 2, downgraded: 0, upgraded: 0 });
    const before = await tierChanges('retail-down');

    t.clock.set('2027-01-10T06:00:00Z');
    expect(await reevaluate('retail-down')).toEqual({ members: 2, downgraded: 1, upgraded: 0 });
    const after = await tierChanges('retail-down');
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.slice(before.length)).toEqual([
      {
        member_id: 'was-silver',
        from_tier: 'silver',
        to_tier: 'bronze',
        reason: 'reevaluation',
        event_id: null,
        metric_value: 0n,
        program_version: 1,
        changed_at: new Date('2027-01-10T06:00:00Z'),
      },
    ]);

    const tok2027 = await freshToken('retail-down');
    const member = await getMember(tok2027, 'was-silver');
    expect(member.tier).toEqual({
      id: 'bronze',
      name: 'Bronze',
      since: '2027-01-10T06:00:00.000Z',
    });
    expect(member.balance.available).toBe(1200);
    expect(member.progress).toMatchObject({
      nextTier: { id: 'silver' },
      current: 0,
      required: 1000,
      remaining: 1000,
    });

    // Safe to run twice.
    t.clock.set('2027-01-10T06:01:00Z');
    expect(await reevaluate('retail-down')).toEqual({ members: 2, downgraded: 0, upgraded: 0 });
    expect(await tierChanges('retail-down')).toEqual(after);
    expect((await getMember(tok2027, 'was-silver')).tier?.since).toBe('2027-01-10T06:00:00.000Z');
  });

  it('a member still qualifying in the new year keeps the tier', async () => {
    t.clock.set('2027-01-10T10:00:00Z');
    const tok = await t.program('retail-keep', 'retail');
    await accepted(tok, purchase('keeper', '1500.00', '2027-01-04T10:00:00Z'));
    expect((await getMember(tok, 'keeper')).tier?.id).toBe('silver');
    t.clock.set('2027-03-01T10:00:00Z');
    expect(await reevaluate('retail-keep')).toEqual({ members: 1, downgraded: 0, upgraded: 0 });
    expect((await getMember(await freshToken('retail-keep'), 'keeper')).tier?.id).toBe('silver');
  });
});

describe('casino template (turnover, lifetime window, 30-day rolling retention)', () => {
  it('bets earn 1 point per EUR times the game factor: slots ×1, table ×0.5, live ×1.5, exclusive ×2', async () => {
    t.clock.set(DEFAULT_NOW);
    const tok = await t.program('casino', 'casino');
    const at = '2026-06-15T09:00:00Z';
    const earned = [];
    for (const game of ['slots', 'table', 'live', 'exclusive', 'poker', undefined]) {
      earned.push((await accepted(tok, bet('punter', '100.00', at, game))).pointsEarned);
    }
    expect(earned).toEqual([100, 50, 150, 200, 100, 100]);
    expect(await getMember(tok, 'punter')).toMatchObject({
      balance: { available: 700 },
      tier: { id: 'bronze' },
      progress: {
        nextTier: { id: 'silver', name: 'Silver' },
        metric: 'amount',
        current: '600.00',
        required: '10000.00',
        remaining: '9400.00',
        currency: 'EUR',
      },
    });
  });

  it('Silver comes at 10 000 EUR of turnover, not of points or deposits, and then earns ×1.1', async () => {
    t.clock.set(DEFAULT_NOW);
    const tok = await t.program('casino-silver', 'casino');
    const at = '2026-06-15T09:00:00Z';

    // Deposits are not turnover.
    const deposit = { ...purchase('whale', '20000.00', at), type: 'DepositMade' };
    expect(await accepted(tok, deposit)).toMatchObject({ pointsEarned: 0, tier: { id: 'bronze' } });

    // 9 999.99 EUR on table games: 4 999 points, still Bronze; one more cent crosses.
    expect(await accepted(tok, bet('whale', '9999.99', at, 'table'))).toMatchObject({
      pointsEarned: 4999,
      tier: { id: 'bronze' },
    });
    expect(await accepted(tok, bet('whale', '0.01', at, 'slots'))).toMatchObject({
      tier: { id: 'silver', name: 'Silver' },
    });
    // 100 × 0.5 × 1.1 = 55
    expect(await accepted(tok, bet('whale', '100.00', at, 'table'))).toMatchObject({
      pointsEarned: 55,
    });
    expect((await getMember(tok, 'whale')).progress).toMatchObject({
      nextTier: { id: 'gold' },
      current: '10100.00',
      required: '50000.00',
      remaining: '39900.00',
    });
  });

  it('with no turnover for 30 days reevaluateTiers downgrades to Bronze; within 30 days it does not', async () => {
    t.clock.set(DEFAULT_NOW);
    const tok = await t.program('casino-retention', 'casino');
    expect(
      (await accepted(tok, bet('lapsed', '10000.00', '2026-06-15T09:00:00Z', 'slots'))).tier?.id,
    ).toBe('silver');

    t.clock.set('2026-07-14T10:00:00Z'); // 29 days later: the bets are inside the 30 days
    expect(await reevaluate('casino-retention')).toEqual({
      members: 1,
      downgraded: 0,
      upgraded: 0,
    });

    t.clock.set('2026-07-16T10:00:00Z'); // 31 days later
    expect(await reevaluate('casino-retention')).toEqual({
      members: 1,
      downgraded: 1,
      upgraded: 0,
    });
    expect(await reevaluate('casino-retention')).toEqual({
      members: 1,
      downgraded: 0,
      upgraded: 0,
    });
    const changes = await tierChanges('casino-retention', 'lapsed');
    expect(changes.at(-1)).toMatchObject({
      from_tier: 'silver',
      to_tier: 'bronze',
      reason: 'reevaluation',
      metric_value: 0n,
    });
    expect(changes.filter((c) => c.reason === 'reevaluation')).toHaveLength(1);
    const member = await getMember(await freshToken('casino-retention'), 'lapsed');
    expect(member.tier).toEqual({
      id: 'bronze',
      name: 'Bronze',
      since: '2026-07-16T10:00:00.000Z',
    });
    expect(member.balance.available).toBe(10000);
  });
});

describe('refunds and reevaluation together', () => {
  it('a refund lowers the metric, so it never lifts a member that reevaluation moved down', async () => {
    t.clock.set(DEFAULT_NOW);
    const tok = await t.program('casino-refund-after-lapse', 'casino');
    const big = bet('lapsed2', '10100.00', '2026-06-15T09:00:00Z', 'slots');
    expect((await accepted(tok, big)).tier?.id).toBe('silver');

    t.clock.set('2026-07-16T10:00:00Z');
    expect(await reevaluate('casino-refund-after-lapse')).toEqual({
      members: 1,
      downgraded: 1,
      upgraded: 0,
    });

    // Lifetime turnover drops from 10 100 to 10 050 EUR: the member is no better off than
    // before the refund, so the refund cannot make them Silver again.
    const tok2 = await freshToken('casino-refund-after-lapse');
    const back = await accepted(
      tok2,
      refund('lapsed2', big.id as string, '50.00', '2026-07-16T09:00:00Z'),
    );
    expect(back).toMatchObject({ pointsEarned: -50, tier: { id: 'bronze' } });
    expect((await getMember(tok2, 'lapsed2')).tier?.id).toBe('bronze');
    const changes = await tierChanges('casino-refund-after-lapse', 'lapsed2');
    expect(changes.filter((c) => c.reason === 'refund')).toEqual([]);
  });

  it('reevaluateTiers walks every member, beyond one batch of 500', async () => {
    t.clock.set(DEFAULT_NOW);
    const tok = await t.program('retail-many', 'retail');
    const events = Array.from({ length: 501 }, (_, i) =>
      purchase(`many-${String(i).padStart(3, '0')}`, '1000.00', WEEKDAY),
    );
    const res = await t.request('POST', '/v1/events:batch', tok, { events });
    expect(res.statusCode).toBe(200);
    const results = (res.json() as { results: { status: number; body: EventAnswer }[] }).results;
    expect(results.every((r) => r.status === 201 && r.body.tier?.id === 'silver')).toBe(true);

    t.clock.set('2027-01-02T00:00:00Z');
    expect(await reevaluate('retail-many')).toEqual({ members: 501, downgraded: 501, upgraded: 0 });
    const silver = await t.handle.db
      .selectFrom('members')
      .select('id')
      .where('program_id', '=', 'retail-many')
      .where('tier_id', '<>', 'bronze')
      .execute();
    expect(silver).toEqual([]);
    expect(await reevaluate('retail-many')).toEqual({ members: 501, downgraded: 0, upgraded: 0 });
  });
});

/** A program in UTC that earns 1 point per EUR on purchases, with these tiers. */
function eurProgram(name: string, tiers: ProgramDocument['tiers']): ProgramDocument {
  return {
    name,
    timeZone: 'UTC',
    currencies: ['EUR'],
    eventTypes: { purchase: { kind: 'purchase' }, refund: { kind: 'refund' } },
    rules: [
      {
        id: 'base',
        name: '1 point per EUR',
        eventTypes: ['purchase'],
        effect: { type: 'earn', pointsPerUnit: '1' },
      },
    ],
    tiers,
  };
}

describe('a program with a spend metric over a rolling window', () => {
  const spendProgram = () =>
    eurProgram('Spend club', {
      metric: { type: 'spend' },
      window: { type: 'rolling', days: 7 },
      levels: [
        { id: 'member', name: 'Member', threshold: 0 },
        { id: 'vip', name: 'VIP', threshold: 500, multiplier: '2' },
        { id: 'elite', name: 'Elite', threshold: 2000 },
      ],
    });

  it('counts spend of the last 7 days, follows refunds, and reevaluation drops members whose spend left the window', async () => {
    t.clock.set(DEFAULT_NOW); // 2026-06-15, so the window is 2026-06-09 .. 2026-06-15
    const tok = await t.program('spend', spendProgram());

    await accepted(tok, purchase('inside', '300.00', '2026-06-09T12:00:00Z'));
    expect(await accepted(tok, purchase('inside', '250.00', '2026-06-15T09:00:00Z'))).toMatchObject(
      {
        pointsEarned: 250,
        tier: { id: 'vip', name: 'VIP' },
      },
    );
    // ×2 at VIP
    expect(await accepted(tok, purchase('inside', '10.00', '2026-06-15T09:00:00Z'))).toMatchObject({
      pointsEarned: 20,
    });
    expect((await getMember(tok, 'inside')).progress).toEqual({
      nextTier: { id: 'elite', name: 'Elite' },
      metric: 'spend',
      current: '560.00',
      required: '2000.00',
      remaining: '1440.00',
      currency: 'EUR',
    });

    await accepted(tok, purchase('outside', '300.00', '2026-06-08T12:00:00Z'));
    expect(
      await accepted(tok, purchase('outside', '250.00', '2026-06-15T09:00:00Z')),
    ).toMatchObject({
      tier: { id: 'member' },
    });
    expect((await getMember(tok, 'outside')).progress).toMatchObject({
      current: '250.00',
      required: '500.00',
      remaining: '250.00',
    });

    const big = purchase('refunded', '600.00', '2026-06-15T09:00:00Z');
    expect((await accepted(tok, big)).tier?.id).toBe('vip');
    expect(
      await accepted(tok, refund('refunded', big.id as string, '200.00', '2026-06-15T09:30:00Z')),
    ).toMatchObject({
      pointsEarned: -200,
      tier: { id: 'member' },
    });
    expect((await getMember(tok, 'refunded')).progress).toMatchObject({
      current: '400.00',
      remaining: '100.00',
    });

    // Same day: nobody moves. Next day the 2026-06-09 spend has left the window.
    expect(await reevaluate('spend')).toEqual({ members: 3, downgraded: 0, upgraded: 0 });
    t.clock.set('2026-06-16T10:00:00Z');
    expect(await reevaluate('spend')).toEqual({ members: 3, downgraded: 1, upgraded: 0 });
    const changes = await tierChanges('spend', 'inside');
    expect(changes.at(-1)).toMatchObject({
      from_tier: 'vip',
      to_tier: 'member',
      reason: 'reevaluation',
      metric_value: 26000n,
    });
    expect((await getMember(await freshToken('spend'), 'inside')).tier?.id).toBe('member');
  });
});

describe('a version published while another process holds the previous one', () => {
  const lifetimeProgram = (metric: 'spend' | 'points', gold: number) =>
    eurProgram('Switching club', {
      metric: { type: metric },
      window: { type: 'lifetime' },
      levels: [
        { id: 'member', name: 'Member', threshold: 0 },
        { id: 'gold', name: 'Gold', threshold: gold },
      ],
    });

  it('counts the tier metric of the version in force, not of the version the process saw last', async () => {
    t.clock.set(DEFAULT_NOW);
    const tok = await t.program('switching', lifetimeProgram('spend', 1000));
    // Another process: its own program cache, which has seen version 1 only.
    const other = eventDeps(t);
    const first = await processEvents(other, 'switching', [
      { raw: purchase('switcher', '50.00', WEEKDAY), at: '' },
    ]);
    expect(first[0]).toMatchObject({ status: 'created', body: { pointsEarned: 50 } });
    expect(other.programs.lastSeen('switching')?.version).toBe(1);

    // Version 2 counts points (50 so far), not spend (5,000 cents so far): Gold at 100.
    const published = await t.request('PUT', '/v1/program', tok, lifetimeProgram('points', 100));
    expect(published.statusCode, published.body).toBe(200);
    const second = await processEvents(other, 'switching', [
      { raw: purchase('switcher', '10.00', WEEKDAY), at: '' },
    ]);
    expect(second[0]).toMatchObject({
      status: 'created',
      body: { pointsEarned: 10, programVersion: 2, tier: { id: 'member' } },
    });
    const third = await processEvents(other, 'switching', [
      { raw: purchase('switcher', '40.00', WEEKDAY), at: '' },
    ]);
    expect(third[0]).toMatchObject({ status: 'created', body: { tier: { id: 'gold' } } });
  });
});

describe('a program without tiers', () => {
  it('answers tier null and progress null, and reevaluateTiers does nothing', async () => {
    t.clock.set(DEFAULT_NOW);
    const document = programTemplate('retail');
    delete document.tiers;
    const tok = await t.program('no-tiers', document);
    expect(await accepted(tok, purchase('plain', '10.00', WEEKDAY))).toMatchObject({
      pointsEarned: 10,
      tier: null,
    });
    const member = await getMember(tok, 'plain');
    expect(member.tier).toBeNull();
    expect(member.progress).toBeNull();
    expect(await reevaluate('no-tiers')).toEqual({ members: 0, downgraded: 0, upgraded: 0 });
    expect(await tierChanges('no-tiers')).toEqual([]);
  });
});
