// Rule segments re-evaluated without an event: a newly published segment takes in existing
// members, a condition on time alone (a quiet member) is caught, and a version without the
// segment takes it off the rows. Real: database, rules, the refresh pass. Faked: the clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProgramCache } from '../src/programs/index.ts';
import { programTemplate, type ProgramDocument } from '../src/rules/index.ts';
import { refreshRuleSegments } from '../src/segments/refresh.ts';
import { purchase, startTestApp, type TestApp } from './support/app.ts';

const NOW = '2026-06-15T10:00:00Z';

let t: TestApp;
let token: string;
const programs = new ProgramCache();

beforeAll(async () => {
  t = await startTestApp({ now: NOW });
  token = await t.program('refreshed', 'retail');
  for (const [member, value] of [
    ['r-ann', '40.00'],
    ['r-ben', '0.50'],
  ] as const) {
    const res = await t.request('POST', '/v1/events', token, purchase(member, value, NOW));
    expect(res.statusCode, res.body).toBe(201);
  }
});
afterAll(() => t.close());

async function segmentMembers(id: string): Promise<string[]> {
  const res = await t.request('GET', `/v1/segments/${id}/members`, token);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { items: { memberId: string }[] }).items.map((i) => i.memberId);
}

async function publish(document: ProgramDocument): Promise<void> {
  const res = await t.request('PUT', '/v1/program', token, document);
  expect(res.statusCode, res.body).toBe(200);
}

describe('refreshing rule segments', () => {
  it('takes existing members into a newly published segment', async () => {
    await publish({
      ...programTemplate('retail'),
      segments: [
        {
          type: 'rule',
          id: 'spenders',
          name: 'Spent 10 EUR or more',
          condition: 'member.metrics.lifetimeSpend >= 10.0',
        },
        {
          type: 'rule',
          id: 'quiet',
          name: 'Quiet for 90 days',
          condition: 'member.metrics.daysSinceLastEvent >= 90',
        },
      ],
    });
    expect(await segmentMembers('spenders')).toEqual([]);
    const outcome = await refreshRuleSegments(t.handle.db, programs, 'refreshed', new Date(NOW));
    expect(outcome).toEqual({ members: 2, changed: 1, done: true });
    expect(await segmentMembers('spenders')).toEqual(['r-ann']);
    expect(await segmentMembers('quiet')).toEqual([]);
  });

  it('catches a condition that time alone makes true', async () => {
    const later = new Date('2026-09-14T10:00:00Z');
    const outcome = await refreshRuleSegments(t.handle.db, programs, 'refreshed', later);
    expect(outcome.changed).toBe(2);
    expect(await segmentMembers('quiet')).toEqual(['r-ann', 'r-ben']);
    // Nothing changes on a second pass.
    expect((await refreshRuleSegments(t.handle.db, programs, 'refreshed', later)).changed).toBe(0);
  });

  it('takes segments off the rows when the version in force has none', async () => {
    await publish(programTemplate('retail'));
    const outcome = await refreshRuleSegments(t.handle.db, programs, 'refreshed', new Date(NOW));
    expect(outcome.changed).toBe(2);
    const rows = await t.handle.db
      .selectFrom('members')
      .select('segments')
      .where('program_id', '=', 'refreshed')
      .execute();
    expect(rows.map((r) => r.segments)).toEqual([[], []]);
  });
});
