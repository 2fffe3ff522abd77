// How a batch of events is made atomic (src/events/process.ts): first as one checked write
// statement without locks, and under row locks when that write finds that something changed
// since it read. These tests call processEvents directly and concurrently, without the group
// committer, so that writes for the same member really do overlap, and count which way
// each batch was written.
// Real: database, rules, ledger. Faked: the clock only, held still.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processEvents, type EventOutcome } from '../src/events/index.ts';
import { programTemplate } from '../src/rules/index.ts';
import { purchase, refund, startTestApp, type TestApp } from './support/app.ts';
import { availableOf, eventDeps } from './support/events.ts';

/** Monday 15 June 2026, 12:00 in Prague; events an hour earlier are plain weekday events. */
const NOW = '2026-06-15T10:00:00Z';
const AT = '2026-06-15T09:00:00Z';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ now: NOW });
  await t.program('retail', 'retail');
});
afterAll(() => t.close());

const deps = () => eventDeps(t);

const available = (memberId: string) => availableOf(t, 'retail', memberId);

function created(outcome: EventOutcome | undefined): number {
  expect(outcome?.status, JSON.stringify(outcome)).toBe('created');
  return (outcome as Extract<EventOutcome, { status: 'created' }>).body.pointsEarned;
}

describe('writing a batch of events', () => {
  it('writes a lone event with one checked statement', async () => {
    const d = deps();
    const [outcome] = await processEvents(d, 'retail', [
      { raw: purchase('guard-lone', '12.50', AT, { id: 'guard-lone-1' }), at: '' },
    ]);
    expect(created(outcome)).toBe(12);
    expect(d.writes).toEqual({ checked: 1, locked: 0, deferred: 0 });
    expect(await available('guard-lone')).toBe(12n);
  });

  it('runs a write again under lock when the member changed after it was read, and the balance is exact', async () => {
    const d = deps();
    await processEvents(d, 'retail', [
      { raw: purchase('guard-busy', '1.00', AT, { id: 'guard-busy-0' }), at: '' },
    ]);
    const count = 40;
    const outcomes = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        processEvents(d, 'retail', [
          {
            raw: purchase('guard-busy', `${(i % 9) + 1}.00`, AT, { id: `guard-busy-${i + 1}` }),
            at: '',
          },
        ]),
      ),
    );
    const earned = outcomes.reduce((sum, [o]) => sum + created(o), 0);
    expect(earned).toBe(
      Array.from({ length: count }, (_, i) => (i % 9) + 1).reduce((a, b) => a + b),
    );
    expect(await available('guard-busy')).toBe(BigInt(earned + 1));
    // Overlapping writes for one member: some lost the check and ran again under lock.
    expect(d.writes.locked).toBeGreaterThan(0);
    expect(d.writes.checked + d.writes.locked).toBe(count + 1);
  });

  it('creates a new member once when concurrent writes all create it', async () => {
    const d = deps();
    const count = 20;
    const outcomes = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        processEvents(d, 'retail', [
          { raw: purchase('guard-new', '5.00', AT, { id: `guard-new-${i}` }), at: '' },
        ]),
      ),
    );
    for (const [o] of outcomes) expect(created(o)).toBe(5);
    expect(await available('guard-new')).toBe(BigInt(5 * count));
    const rows = await t.handle.db
      .selectFrom('tier_changes')
      .select('to_tier')
      .where('program_id', '=', 'retail')
      .where('member_id', '=', 'guard-new')
      .execute();
    // One member row, so one initial tier assignment, however many writes raced to create it.
    expect(rows).toEqual([{ to_tier: 'bronze' }]);
    expect(d.writes.locked).toBeGreaterThan(0);
  });

  it('runs a write again under lock when a campaign budget it spends from changed after it was read', async () => {
    const document = programTemplate('retail');
    document.campaigns = [
      {
        id: 'guard-budget',
        name: 'Ten points while the budget lasts',
        budget: { points: 95 },
        rules: [
          {
            id: 'guard-bonus',
            name: '10 points',
            eventTypes: ['purchase'],
            effect: { type: 'bonus', points: 10 },
          },
        ],
      },
    ];
    await t.program('budgeted', document);
    const d = deps();
    // The counter row exists before the race, so the writes race on its row version (a
    // missing row would make them race on its creation instead).
    const [first] = await processEvents(d, 'budgeted', [
      { raw: purchase('guard-budget-first', '1.00', AT, { id: 'guard-budget-first' }), at: '' },
    ]);
    expect(created(first)).toBe(11);
    d.writes.checked = 0;
    const count = 30;
    // Different members: only the campaign's counter is shared between the writes.
    const outcomes = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        processEvents(d, 'budgeted', [
          { raw: purchase(`guard-budget-${i}`, '1.00', AT, { id: `guard-budget-${i}` }), at: '' },
        ]),
      ),
    );
    const earned = outcomes.reduce((sum, [o]) => sum + created(o), 0);
    expect(earned).toBe(count + 85);
    expect(d.writes.locked).toBeGreaterThan(0);
    const counter = await t.handle.db
      .selectFrom('campaign_usage')
      .select('points')
      .where('program_id', '=', 'budgeted')
      .executeTakeFirstOrThrow();
    expect(counter.points).toBe(95n);
  });

  it('answers a replay racing its original with the original answer and credits once', async () => {
    const d = deps();
    const body = purchase('guard-replay', '7.00', AT, { id: 'guard-replay' });
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () => processEvents(d, 'retail', [{ raw: body, at: '' }])),
    );
    const statuses = outcomes.map(([o]) => o?.status).sort();
    expect(statuses.filter((s) => s === 'created')).toHaveLength(1);
    expect(statuses.filter((s) => s === 'replayed')).toHaveLength(9);
    expect(await available('guard-replay')).toBe(7n);
  });

  it('writes a batch whose refund follows its purchase under lock, in rounds', async () => {
    const d = deps();
    const outcomes = await processEvents(d, 'retail', [
      { raw: purchase('guard-round', '10.00', AT, { id: 'guard-round-p' }), at: '/events/0' },
      { raw: refund('guard-round', 'guard-round-p', '4.00', AT), at: '/events/1' },
    ]);
    expect(created(outcomes[0])).toBe(10);
    expect(created(outcomes[1])).toBe(-4);
    expect(d.writes).toEqual({ checked: 0, locked: 1, deferred: 0 });
    expect(await available('guard-round')).toBe(6n);
  });
});
