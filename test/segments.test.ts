// Segments and computed metrics against a real database: metrics that count each event in
// its own statement, rule segments entered by the event that qualifies (and used by a
// campaign in that same event), left on a refund, static segments imported as CSV all or
// nothing, and the members of each, paged. Real: the HTTP app, the event pipeline. Faked: the clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricsOf, programTemplate, type ProgramDocument } from '../src/rules/index.ts';
import { purchase, refund, startTestApp, type TestApp } from './support/app.ts';
import type { Problem } from './support/types.ts';

/** Monday 2026-06-15 10:00 in Prague: a plain weekday (1×). */
const AT = '2026-06-15T08:00:00Z';

const DOCUMENT: ProgramDocument = {
  ...programTemplate('retail'),
  metrics: {
    counters: [
      {
        id: 'electronics',
        name: 'Electronics purchases',
        eventTypes: ['purchase'],
        condition: "event.attributes.?category.orValue('') == 'electronics'",
      },
    ],
    rfm: {
      recencyDays: [7, 30, 90, 365],
      frequency: [2, 4, 8, 16],
      monetary: ['50', '100', '500', '1000'],
    },
  },
  segments: [
    {
      type: 'rule',
      id: 'big-spenders',
      name: 'Big spenders',
      condition: 'member.metrics.lifetimeSpend >= 100.0',
    },
    {
      type: 'rule',
      id: 'gadget-fans',
      name: 'Gadget fans',
      condition: 'member.metrics.counters.?electronics.orValue(0) >= 2',
    },
    { type: 'static', id: 'vip-list', name: 'VIP list' },
  ],
  campaigns: [
    {
      id: 'big-spender-bonus',
      name: '50 points for big spenders',
      segment: 'big-spenders',
      rules: [
        {
          id: 'big-spender-50',
          name: '50 points',
          eventTypes: ['purchase'],
          effect: { type: 'bonus', points: 50 },
        },
      ],
    },
  ],
};

let t: TestApp;
let token: string;

beforeAll(async () => {
  t = await startTestApp();
  token = await t.program('segmented', DOCUMENT);
});
afterAll(() => t.close());

async function member(id: string) {
  const res = await t.request('GET', `/v1/members/${id}`, token);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as {
    segments: { id: string; name: string }[];
    metrics: {
      lifetimeSpend: { value: string };
      events: number;
      points: number;
      counters: Record<string, number>;
    };
  };
}

async function explain(eventId: string) {
  const res = await t.request('GET', `/v1/events/${eventId}/explain`, token);
  expect(res.statusCode, res.body).toBe(200);
  return (
    res.json() as { trace: { segments: { in: string[]; entered: string[]; left: string[] } } }
  ).trace;
}

describe('rule segments and metrics', () => {
  it('enters a segment with the event that qualifies, and a campaign for it applies to that event', async () => {
    const first = await t.request('POST', '/v1/events', token, purchase('seg-alice', '60.00', AT));
    expect(first.json()).toMatchObject({ pointsEarned: 60 });
    expect((await member('seg-alice')).segments).toEqual([]);

    const second = purchase('seg-alice', '50.00', AT);
    const res = await t.request('POST', '/v1/events', token, second);
    // 50 base points, and the big spenders' 50: the member is one since this very event.
    expect(res.json()).toMatchObject({ pointsEarned: 100 });
    expect((await explain(second.id as string)).segments).toEqual({
      in: ['big-spenders'],
      entered: ['big-spenders'],
      left: [],
    });
    const view = await member('seg-alice');
    expect(view.segments).toEqual([{ id: 'big-spenders', name: 'Big spenders' }]);
    expect(view.metrics).toMatchObject({
      lifetimeSpend: { value: '110.00', currency: 'EUR' },
      events: 2,
      points: 160,
      counters: {},
    });
  });

  it('counts custom counters and enters a segment built on them', async () => {
    for (let i = 0; i < 2; i += 1) {
      const res = await t.request(
        'POST',
        '/v1/events',
        token,
        purchase('seg-gadgets', '1.00', AT, { attributes: { category: 'electronics' } }),
      );
      expect(res.statusCode, res.body).toBe(201);
    }
    const view = await member('seg-gadgets');
    expect(view.metrics.counters).toEqual({ electronics: 2 });
    expect(view.segments.map((s) => s.id)).toEqual(['gadget-fans']);
  });

  it('leaves a segment when a refund takes the metric back below its condition', async () => {
    const buy = purchase('seg-bob', '120.00', AT);
    await t.request('POST', '/v1/events', token, buy);
    expect((await member('seg-bob')).segments.map((s) => s.id)).toEqual(['big-spenders']);
    const back = refund('seg-bob', buy.id as string, '30.00', AT);
    const res = await t.request('POST', '/v1/events', token, back);
    expect(res.statusCode, res.body).toBe(201);
    expect((await explain(back.id as string)).segments).toEqual({
      in: [],
      entered: [],
      left: ['big-spenders'],
    });
    const view = await member('seg-bob');
    expect(view.segments).toEqual([]);
    expect(view.metrics.lifetimeSpend.value).toBe('90.00');
  });

  it("lists a rule segment's members by id, paged", async () => {
    for (const id of ['seg-carol', 'seg-dave'])
      await t.request('POST', '/v1/events', token, purchase(id, '150.00', AT));
    const first = await t.request('GET', '/v1/segments/big-spenders/members?limit=2', token);
    expect(first.statusCode, first.body).toBe(200);
    const page = first.json() as { items: { memberId: string }[]; nextCursor: string };
    expect(page.items.map((i) => i.memberId)).toEqual(['seg-alice', 'seg-carol']);
    const next = await t.request(
      'GET',
      `/v1/segments/big-spenders/members?limit=2&cursor=${page.nextCursor}`,
      token,
    );
    expect(next.json()).toEqual({
      segmentId: 'big-spenders',
      type: 'rule',
      items: [{ memberId: 'seg-dave' }],
      nextCursor: null,
    });
    expect((await t.request('GET', '/v1/segments/nope/members', token)).statusCode).toBe(404);
  });
});

describe('static segments', () => {
  const csv = (body: string, mode = 'add') =>
    t.app.inject({
      method: 'POST',
      url: `/v1/segments/vip-list/members:import?mode=${mode}`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
      payload: body,
    });

  it('refuses a CSV with bad lines, naming each, and imports nothing', async () => {
    const res = await csv('member_id\nseg-alice\n\nnot valid!\nseg-erin\n');
    expect(res.statusCode).toBe(400);
    const body = res.json() as Problem;
    expect(body.detail).toBe('2 lines are invalid; nothing was imported');
    expect(body.errors).toEqual([
      { pointer: '/lines/3', detail: 'empty line: one member id per line' },
      { pointer: '/lines/4', detail: expect.stringContaining('"not valid!" is not a member id') },
    ]);
    const list = await t.request('GET', '/v1/segments/vip-list/members', token);
    expect((list.json() as { items: unknown[] }).items).toEqual([]);
  });

  it('imports ids all at once; the members show the segment, rules see it', async () => {
    const res = await csv('member_id\nseg-alice\nseg-frank\nseg-frank\n');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      segmentId: 'vip-list',
      lines: 4,
      added: 2,
      removed: 0,
      members: 2,
    });
    expect((await member('seg-alice')).segments.map((s) => s.id)).toEqual([
      'big-spenders',
      'vip-list',
    ]);
    // A member imported before its first event is in the segment at that event.
    const buy = purchase('seg-frank', '1.00', AT);
    await t.request('POST', '/v1/events', token, buy);
    expect((await explain(buy.id as string)).segments.in).toEqual(['vip-list']);
  });

  it('replaces the whole list with mode=replace', async () => {
    const res = await csv('seg-gina\n', 'replace');
    expect(res.json()).toMatchObject({ added: 1, removed: 2, members: 1 });
    const list = await t.request('GET', '/v1/segments/vip-list/members', token);
    expect((list.json() as { items: { memberId: string }[] }).items).toEqual([
      { memberId: 'seg-gina' },
    ]);
    expect((await member('seg-alice')).segments.map((s) => s.id)).toEqual(['big-spenders']);
  });

  it('a rule segment cannot be imported into', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/segments/big-spenders/members:import',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
      payload: 'seg-alice\n',
    });
    expect(res.statusCode).toBe(400);
  });
});

describe('validation and scores', () => {
  it('refuses a campaign for an unknown segment and a segment built on segments', async () => {
    const res = await t.request('PUT', '/v1/program', token, {
      ...DOCUMENT,
      segments: [
        { type: 'rule', id: 'loop', name: 'Loop', condition: "'vip-list' in member.segments" },
      ],
    });
    expect(res.statusCode).toBe(400);
    expect((res.json() as Problem).errors).toEqual(
      expect.arrayContaining([
        {
          pointer: '/segments/0/condition',
          detail: 'segment "loop": a segment cannot depend on segments',
        },
        { pointer: '/campaigns/0/segment', detail: 'no segment "big-spenders"' },
      ]),
    );
  });

  it('scores recency from the previous event, frequency and monetary by the thresholds', () => {
    const stats = {
      spendMinor: 12_000n,
      points: 120n,
      events: 5n,
      firstEventAt: new Date('2026-01-01T00:00:00Z'),
      lastEventAt: new Date('2026-06-15T08:00:00Z'),
      counters: {},
    };
    const at = new Date('2026-06-15T08:00:00Z');
    const metrics = metricsOf(stats, DOCUMENT, at, new Date('2026-05-01T08:00:00Z'));
    expect(metrics).toMatchObject({
      lifetimeSpend: 120,
      daysSinceLastEvent: 45n,
      recency: 3n,
      frequency: 3n,
      monetary: 3n,
    });
    expect(metricsOf(stats, DOCUMENT, at, null)).toMatchObject({
      daysSinceLastEvent: -1n,
      recency: 1n,
    });
  });
});
