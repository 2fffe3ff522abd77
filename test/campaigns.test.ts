// Campaigns against a real database: time windows in the program's time zone across
// daylight-saving changes, budgets that are never overspent under concurrency, per-member and
// per-campaign caps per period, and stacking policies. Real: the HTTP app, the event
// pipeline, the counters. Faked: the clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { programTemplate, type Campaign, type ProgramDocument } from '../src/rules/index.ts';
import { purchase, startTestApp, type TestApp } from './support/app.ts';

/** Monday 2026-06-15 10:00 in Prague. */
const MONDAY = '2026-06-15T08:00:00Z';

let t: TestApp;
let programs = 0;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

/** The retail program without its own weekend rule, with these campaigns; answers a token. */
async function programWith(...campaigns: Campaign[]): Promise<string> {
  programs += 1;
  const base = programTemplate('retail');
  const document: ProgramDocument = {
    ...base,
    rules: base.rules.filter((r) => r.id !== 'weekend'),
    campaigns,
  };
  return t.program(`campaigns-${programs}`, document);
}

const bonus = (id: string, points: number): Campaign['rules'][number] => ({
  id,
  name: `${points} bonus points`,
  eventTypes: ['purchase'],
  effect: { type: 'bonus', points },
});

async function earn(token: string, memberId: string, value: string, at: string) {
  const res = await t.request('POST', '/v1/events', token, purchase(memberId, value, at));
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { eventId: string; pointsEarned: number };
}

async function explainCampaigns(token: string, eventId: string) {
  const res = await t.request('GET', `/v1/events/${eventId}/explain`, token);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { trace: { campaigns: Record<string, unknown>[] } }).trace.campaigns;
}

describe('time windows', () => {
  const weekend: Campaign = {
    id: 'weekend-double',
    name: 'Double points at weekends',
    window: { weekdays: [6, 7] },
    rules: [
      {
        id: 'weekend-x2',
        name: '×2',
        eventTypes: ['purchase'],
        effect: { type: 'multiplier', factor: '2' },
      },
    ],
  };

  it('a weekend campaign starts and ends at local midnight when summer time begins', async () => {
    t.clock.set('2026-03-30T12:00:00Z');
    const token = await programWith(weekend);
    // Friday 23:59:59 CET, Saturday 00:00 CET, Sunday 23:59:59 CEST, Monday 00:00 CEST.
    const cases: [string, number][] = [
      ['2026-03-27T22:59:59Z', 10],
      ['2026-03-27T23:00:00Z', 20],
      ['2026-03-29T21:59:59Z', 20],
      ['2026-03-29T22:00:00Z', 10],
    ];
    for (const [at, points] of cases)
      expect((await earn(token, 'dst-spring', '10.00', at)).pointsEarned, at).toBe(points);
  });

  it('and when summer time ends, a Sunday one hour longer', async () => {
    t.clock.set('2026-10-26T12:00:00Z');
    const token = await programWith(weekend);
    // Friday 23:59:59 CEST, Saturday 00:00 CEST, Sunday 23:59:59 CET, Monday 00:00 CET.
    const cases: [string, number][] = [
      ['2026-10-23T21:59:59Z', 10],
      ['2026-10-23T22:00:00Z', 20],
      ['2026-10-25T22:59:59Z', 20],
      ['2026-10-25T23:00:00Z', 10],
    ];
    for (const [at, points] of cases)
      expect((await earn(token, 'dst-autumn', '10.00', at)).pointsEarned, at).toBe(points);
  });

  it('runs between its instants and in its local hours, past midnight too, and explains why not', async () => {
    t.clock.set(MONDAY);
    const token = await programWith({
      id: 'late-night',
      name: 'Late night',
      window: {
        start: '2026-06-01T00:00:00+02:00',
        end: '2026-06-15T00:00:00+02:00',
        hours: { from: '22:00', to: '02:00' },
      },
      rules: [bonus('late-bonus', 5)],
    });
    // 23:30 and 01:30 local are in; 02:00 is not; 00:30 after the end is not.
    expect((await earn(token, 'night', '10.00', '2026-06-13T21:30:00Z')).pointsEarned).toBe(15);
    expect((await earn(token, 'night', '10.00', '2026-06-13T23:30:00Z')).pointsEarned).toBe(15);
    const two = await earn(token, 'night', '10.00', '2026-06-14T00:00:00Z');
    expect(two.pointsEarned).toBe(10);
    expect(await explainCampaigns(token, two.eventId)).toEqual([
      expect.objectContaining({
        id: 'late-night',
        running: false,
        applied: false,
        reason: 'runs from 22:00 to 02:00 local time',
      }),
    ]);
    const late = await earn(token, 'night', '10.00', '2026-06-14T22:30:00Z');
    expect(late.pointsEarned).toBe(10);
    expect((await explainCampaigns(token, late.eventId))[0]?.reason).toBe(
      'ended at 2026-06-15T00:00:00+02:00',
    );
  });
});

describe('budgets and caps', () => {
  it('a budget is never overspent by 200 concurrent events: it gives exactly what it has', async () => {
    t.clock.set(MONDAY);
    const token = await programWith({
      id: 'launch',
      name: 'Launch bonus',
      budget: { points: 1005 },
      rules: [bonus('launch-bonus', 10)],
    });
    const events = Array.from({ length: 200 }, (_, i) =>
      purchase(`budget-${i % 37}`, '1.00', MONDAY),
    );
    const answers = await Promise.all(
      events.map((body) => t.request('POST', '/v1/events', token, body)),
    );
    let total = 0;
    for (const res of answers) {
      expect(res.statusCode, res.body).toBe(201);
      total += (res.json() as { pointsEarned: number }).pointsEarned;
    }
    // 1 point per event from the base rule, and the campaign's 1,005 points to the last one.
    expect(total).toBe(200 + 1005);
    const counters = await t.handle.db
      .selectFrom('campaign_usage')
      .select(['period', 'points'])
      .where('campaign_id', '=', 'launch')
      .execute();
    expect(counters.map((c) => [c.period, Number(c.points)])).toEqual([['total', 1005]]);
    const status = await t.request('GET', '/v1/program/campaigns', token);
    expect(status.statusCode, status.body).toBe(200);
    expect(status.json()).toMatchObject({
      items: [{ id: 'launch', budget: { points: 1005, spent: 1005, remaining: 0 } }],
    });

    const after = await earn(token, 'budget-late', '1.00', MONDAY);
    expect(after.pointsEarned).toBe(1);
    expect(await explainCampaigns(token, after.eventId)).toEqual([
      expect.objectContaining({
        id: 'launch',
        running: true,
        points: 10,
        awarded: 0,
        applied: false,
        capped: { by: 'budget', limit: 1005, remaining: 0 },
        reason: 'budget spent',
      }),
    ]);
  });

  it('caps a member per local day and the campaign per local day', async () => {
    t.clock.set('2026-06-16T20:00:00Z');
    const token = await programWith({
      id: 'daily',
      name: 'Daily bonus',
      caps: {
        perMember: { points: 15, period: 'day' },
        perCampaign: { points: 40, period: 'day' },
      },
      rules: [bonus('daily-bonus', 10)],
    });
    const day1 = '2026-06-15T08:00:00Z';
    expect((await earn(token, 'cap-a', '10.00', day1)).pointsEarned).toBe(20);
    expect((await earn(token, 'cap-a', '10.00', day1)).pointsEarned).toBe(15);
    expect((await earn(token, 'cap-a', '10.00', day1)).pointsEarned).toBe(10);
    // The campaign has 40 a day: 15 went to cap-a, 25 are left for the others.
    expect((await earn(token, 'cap-b', '10.00', day1)).pointsEarned).toBe(20);
    expect((await earn(token, 'cap-c', '10.00', day1)).pointsEarned).toBe(20);
    expect((await earn(token, 'cap-d', '10.00', day1)).pointsEarned).toBe(15);
    expect((await earn(token, 'cap-e', '10.00', day1)).pointsEarned).toBe(10);
    // A new local day in Prague (00:30 on the 16th) starts both caps afresh.
    expect((await earn(token, 'cap-a', '10.00', '2026-06-15T22:30:00Z')).pointsEarned).toBe(20);
    // Today, in Prague, is the 16th: what the campaign has given today, of its 40.
    const status = await t.request('GET', '/v1/program/campaigns', token);
    expect(status.json()).toMatchObject({
      items: [
        {
          id: 'daily',
          budget: null,
          perCampaignCap: { points: 40, spent: 10, remaining: 30, period: '2026-06-16' },
        },
      ],
    });
  });
});

describe('stacking', () => {
  it('stack campaigns add up; of the bestOf ones only the best applies', async () => {
    t.clock.set(MONDAY);
    const token = await programWith(
      { id: 'a-stack', name: 'A', stacking: { policy: 'stack' }, rules: [bonus('a-bonus', 5)] },
      { id: 'b-best', name: 'B', stacking: { policy: 'bestOf' }, rules: [bonus('b-bonus', 20)] },
      { id: 'c-best', name: 'C', stacking: { policy: 'bestOf' }, rules: [bonus('c-bonus', 30)] },
    );
    const res = await earn(token, 'stacker', '10.00', MONDAY);
    expect(res.pointsEarned).toBe(10 + 5 + 30);
    const campaigns = await explainCampaigns(token, res.eventId);
    expect(campaigns).toEqual([
      expect.objectContaining({ id: 'a-stack', applied: true, awarded: 5 }),
      expect.objectContaining({
        id: 'b-best',
        applied: false,
        reason: 'bestOf: campaign "c-best" gives more',
      }),
      expect.objectContaining({ id: 'c-best', applied: true, awarded: 30 }),
    ]);
  });

  it('an exclusive campaign that fires applies alone; the highest priority wins', async () => {
    t.clock.set(MONDAY);
    const token = await programWith(
      { id: 'stacker', name: 'S', rules: [bonus('s-bonus', 5)] },
      {
        id: 'vip-double',
        name: 'VIP double',
        stacking: { policy: 'exclusive', priority: 5 },
        rules: [
          {
            id: 'vip-x2',
            name: '×2',
            eventTypes: ['purchase'],
            effect: { type: 'multiplier', factor: '2' },
          },
        ],
      },
      {
        id: 'big-bonus',
        name: 'Big bonus',
        stacking: { policy: 'exclusive', priority: 1 },
        rules: [bonus('big', 100)],
      },
    );
    const res = await earn(token, 'exclusive', '10.00', MONDAY);
    expect(res.pointsEarned).toBe(20);
    const campaigns = await explainCampaigns(token, res.eventId);
    expect(campaigns).toEqual([
      expect.objectContaining({
        id: 'stacker',
        applied: false,
        reason: 'exclusive campaign "vip-double" applied instead',
      }),
      expect.objectContaining({ id: 'vip-double', applied: true, awarded: 10 }),
      expect.objectContaining({
        id: 'big-bonus',
        applied: false,
        reason: 'exclusive campaign "vip-double" applied instead',
      }),
    ]);
  });

  it('refuses campaign rules that reuse a rule id, with the pointer', async () => {
    const token = await programWith();
    const base = programTemplate('retail');
    const res = await t.request('PUT', '/v1/program', token, {
      ...base,
      campaigns: [{ id: 'dup', name: 'Dup', rules: [bonus('base', 5)] }],
    });
    expect(res.statusCode).toBe(400);
    expect((res.json() as { errors: { pointer: string }[] }).errors[0]?.pointer).toBe(
      '/campaigns/0/rules/0/id',
    );
  });
});
