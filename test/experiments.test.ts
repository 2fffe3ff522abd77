// An experiment end to end, against a real database: published with the program, events
// evaluated in the member's group, explained, and its results per group with each variant
// against control. Real: the HTTP app, the event pipeline, the results query. Faked: the clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { experimentBucket, groupOf, programTemplate, type Experiment } from '../src/rules/index.ts';
import { purchase, startTestApp, type TestApp } from './support/app.ts';

/** Monday 2026-06-15 10:00 in Prague: a plain weekday (1×). */
const WEEKDAY = '2026-06-15T08:00:00Z';
const MEMBERS = 120;

const EXPERIMENT: Experiment = {
  id: 'double-base',
  name: 'Double base rate',
  controlPercent: 50,
  variants: [
    {
      id: 'double',
      name: 'Two points per EUR',
      percent: 50,
      rules: [
        {
          id: 'base',
          name: '2 points per EUR',
          eventTypes: ['purchase'],
          effect: { type: 'earn', pointsPerUnit: '2' },
        },
      ],
    },
  ],
};

interface GroupJson {
  group: string;
  members: number;
  events: number;
  pointsIssued: number;
  pointsPerMember: number;
  spendPerMember: string;
  versusControl: {
    pointsPerMember: { difference: number; low: number; high: number };
    spendPerMember: { difference: string; low: string; high: string };
  } | null;
}

let t: TestApp;
let token: string;

beforeAll(async () => {
  t = await startTestApp();
  token = await t.program('lab', { ...programTemplate('retail'), experiments: [EXPERIMENT] });
});
afterAll(() => t.close());

const groupOfMember = (memberId: string) =>
  groupOf(EXPERIMENT, experimentBucket('lab', EXPERIMENT.id, memberId));

describe('an experiment on the base rate', () => {
  it('evaluates each member in their group and explains it', async () => {
    for (let i = 0; i < MEMBERS; i += 1) {
      const memberId = `lab-${i}`;
      // Spend varies by member, the same in both groups: 10 to 49 EUR.
      const value = `${10 + (i % 40)}.00`;
      const body = purchase(memberId, value, WEEKDAY);
      const res = await t.request('POST', '/v1/events', token, body);
      expect(res.statusCode, res.body).toBe(201);
      const factor = groupOfMember(memberId) === 'double' ? 2 : 1;
      expect((res.json() as { pointsEarned: number }).pointsEarned).toBe((10 + (i % 40)) * factor);
    }
    const doubled = Array.from({ length: MEMBERS }, (_, i) => `lab-${i}`).find(
      (m) => groupOfMember(m) === 'double',
    ) as string;
    const body = purchase(doubled, '5.00', WEEKDAY);
    await t.request('POST', '/v1/events', token, body);
    const explained = await t.request('GET', `/v1/events/${body.id as string}/explain`, token);
    expect(explained.json()).toMatchObject({
      pointsEarned: 10,
      trace: {
        experiments: { 'double-base': { variant: 'double' } },
        rules: expect.arrayContaining([
          expect.objectContaining({
            id: 'base',
            name: '2 points per EUR',
            pointsPerUnit: '2',
            source: 'experiment:double-base/double',
            fired: true,
          }),
        ]),
      },
    });
  });

  it('reports each group against control: more points per member, spend within its interval', async () => {
    const res = await t.request('GET', '/v1/program/experiments/double-base/results', token);
    expect(res.statusCode, res.body).toBe(200);
    const results = res.json() as { groups: GroupJson[]; currency: string; confidence: number };
    expect(results).toMatchObject({ currency: 'EUR', confidence: 0.95 });
    const [control, double] = results.groups as [GroupJson, GroupJson];
    expect(control.group).toBe('control');
    expect(double.group).toBe('double');

    const expectedMembers = { control: 0, double: 0 };
    for (let i = 0; i < MEMBERS; i += 1)
      expectedMembers[groupOfMember(`lab-${i}`) as 'control' | 'double'] += 1;
    expect(control.members).toBe(expectedMembers.control);
    expect(double.members).toBe(expectedMembers.double);
    expect(control.events + double.events).toBe(MEMBERS + 1);
    // Control earns 1 point per EUR: points per member equal spend per member.
    expect(control.pointsPerMember).toBeCloseTo(Number(control.spendPerMember), 1);
    expect(control.versusControl).toBeNull();

    const vs = double.versusControl;
    if (!vs) throw new Error('a variant is compared with control');
    expect(vs.pointsPerMember.low).toBeGreaterThan(0);
    expect(vs.pointsPerMember.difference).toBeCloseTo(
      double.pointsPerMember - control.pointsPerMember,
      1,
    );
    expect(Number(vs.spendPerMember.low)).toBeLessThan(Number(vs.spendPerMember.difference));
    expect(Number(vs.spendPerMember.high)).toBeGreaterThan(Number(vs.spendPerMember.difference));
  });

  it('counts only events in the window asked for', async () => {
    const res = await t.request(
      'GET',
      '/v1/program/experiments/double-base/results?from=2026-06-16T00:00:00Z',
      token,
    );
    expect(res.statusCode).toBe(200);
    const groups = (res.json() as { groups: GroupJson[] }).groups;
    expect(groups.map((g) => g.members)).toEqual([0, 0]);
    expect(groups[1]?.versusControl?.pointsPerMember.low).toBeNull();
  });

  it('an experiment that is not in the version in force is not found', async () => {
    const res = await t.request('GET', '/v1/program/experiments/nope/results', token);
    expect(res.statusCode).toBe(404);
  });
});
