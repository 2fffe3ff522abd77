import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { programTemplate, RETAIL_EXAMPLE } from '../../src/rules/index.ts';
import { compile, input, run } from './helpers.ts';

const WEDNESDAY = '2026-11-18T10:00:00Z';
const SATURDAY_2330_PRAGUE = '2026-11-21T22:30:00Z';
const MONDAY = '2026-11-23T10:00:00Z';

const retail = compile(programTemplate('retail'));

describe('retail reference program', () => {
  it('earns 12 points for 12.50 EUR on a weekday (rounded down)', () => {
    const result = run(retail, { at: WEDNESDAY, amount: '12.50' });
    expect(result.points).toBe(12n);
    expect(result.trace.rounding).toEqual({ mode: 'down', from: '12.5', to: 12 });
  });

  it('doubles points on Saturday 23:30 in Prague, which is 22:30 UTC', () => {
    const result = run(retail, { at: SATURDAY_2330_PRAGUE, amount: '12.50' });
    expect(result.points).toBe(25n);
    expect(result.trace.local).toEqual({
      date: '2026-11-21',
      weekday: 6,
      hour: 23,
      timeZone: 'Europe/Prague',
    });
    expect(result.trace.multipliers).toEqual([{ source: 'rule:weekend', factor: '2' }]);
  });

  it('does not double a purchase at Sunday 23:30 UTC, which is Monday in Prague', () => {
    expect(run(retail, { at: '2026-11-22T23:30:00Z', amount: '12.50' }).points).toBe(12n);
  });

  it('multiplies weekend and electronics to 6×', () => {
    const result = run(retail, {
      at: SATURDAY_2330_PRAGUE,
      amount: '12.50',
      attributes: { category: 'electronics' },
    });
    expect(result.trace.combinedMultiplier).toBe('6');
    expect(result.trace.beforeRounding).toBe('75');
    expect(result.points).toBe(75n);
  });

  it('earns 299 points for 99.99 EUR of electronics on a Monday', () => {
    const result = run(retail, {
      at: MONDAY,
      amount: '99.99',
      attributes: { category: 'electronics' },
    });
    expect(result.trace.rounding).toEqual({ mode: 'down', from: '299.97', to: 299 });
    expect(result.points).toBe(299n);
  });

  it('applies the silver tier multiplier before rounding: 12.50 × 1.1 = 13.75 → 13', () => {
    const result = run(retail, { at: WEDNESDAY, amount: '12.50', tierId: 'silver' });
    expect(result.points).toBe(13n);
    expect(result.trace.multipliers).toEqual([{ source: 'tier:silver', factor: '1.1' }]);
    expect(result.trace.rounding.from).toBe('13.75');
  });

  it('explains every rule, fired or not, in a JSON-serialisable trace', () => {
    const result = run(retail, { at: MONDAY, amount: '10.00', attributes: { category: 'food' } });
    const trace = JSON.parse(JSON.stringify(result.trace));
    expect(trace.programVersion).toBe(1);
    expect(trace.amount).toEqual({ value: '10.00', currency: 'EUR' });
    expect(trace.rules).toEqual([
      {
        id: 'base',
        name: '1 point per EUR',
        type: 'earn',
        fired: true,
        pointsPerUnit: '1',
        contribution: '10',
      },
      {
        id: 'weekend',
        name: 'Double points at weekends',
        type: 'multiplier',
        fired: false,
        factor: '2',
        reason: 'condition is false',
      },
      {
        id: 'electronics',
        name: 'Triple points on electronics',
        type: 'multiplier',
        fired: false,
        factor: '3',
        reason: 'condition is false',
      },
    ]);
    expect(trace.points).toBe(10);
  });

  it('never gives negative points and is monotone in the amount', () => {
    const instants = [WEDNESDAY, SATURDAY_2330_PRAGUE, MONDAY];
    const tiers = [null, 'bronze', 'silver', 'gold', 'platinum'];
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        fc.bigInt({ min: 0n, max: 10n ** 9n }),
        fc.constantFrom(...instants),
        fc.constantFrom(...tiers),
        fc.boolean(),
        (minor, extra, at, tierId, electronics) => {
          const attributes = electronics ? { category: 'electronics' } : {};
          const format = (m: bigint) => `${m / 100n}.${String(m % 100n).padStart(2, '0')}`;
          const low = run(retail, { at, amount: format(minor), tierId, attributes }).points;
          const high = run(retail, {
            at,
            amount: format(minor + extra),
            tierId,
            attributes,
          }).points;
          return low >= 0n && high >= low;
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('rules that do not apply', () => {
  it('names the event types a rule wants', () => {
    const program = compile(RETAIL_EXAMPLE);
    const result = run(program, { type: 'review', at: MONDAY });
    expect(result.trace.rules.find((rule) => rule.id === 'base')).toMatchObject({
      fired: false,
      reason: 'event type "review" is not one of ["purchase"]',
    });
    expect(result.points).toBe(50n);
    expect(result.trace.bonus).toBe(50);
  });

  it('treats a CEL run-time error as "did not fire", never as an exception', () => {
    const program = compile({
      ...programTemplate('empty'),
      rules: [
        {
          id: 'base',
          name: 'base',
          eventTypes: ['purchase'],
          effect: { type: 'earn', pointsPerUnit: '1' },
        },
        {
          id: 'strict-category',
          name: 'category without a default',
          eventTypes: ['purchase'],
          condition: "event.attributes.category == 'electronics'",
          effect: { type: 'multiplier', factor: '3' },
        },
      ],
    });
    const result = run(program, { at: MONDAY, amount: '10' });
    expect(result.points).toBe(10n);
    const rule = result.trace.rules.find((r) => r.id === 'strict-category');
    expect(rule?.fired).toBe(false);
    expect(rule?.reason).toMatch(/^condition failed: .*category/);
  });

  it('does not fire an earn rule on an event without an amount', () => {
    const program = compile({
      ...programTemplate('empty'),
      eventTypes: { visit: { kind: 'custom' }, refund: { kind: 'refund' } },
      rules: [
        {
          id: 'earn',
          name: 'earn',
          eventTypes: ['visit'],
          effect: { type: 'earn', pointsPerUnit: '1' },
        },
      ],
    });
    const result = run(program, { type: 'visit', at: MONDAY });
    expect(result.points).toBe(0n);
    expect(result.trace.rules[0]).toMatchObject({
      fired: false,
      reason: 'event has no amount to earn on',
    });
  });

  it('skips disabled rules', () => {
    const document = programTemplate('retail');
    document.rules[0]!.enabled = false;
    const result = run(compile(document), { at: MONDAY, amount: '10' });
    expect(result.points).toBe(0n);
    expect(result.trace.rules[0]?.reason).toBe('rule is disabled');
  });

  it('lets conditions read member and local fields as typed values', () => {
    const program = compile({
      ...programTemplate('empty'),
      timeZone: 'Europe/Prague',
      rules: [
        {
          id: 'base',
          name: 'base',
          eventTypes: ['purchase'],
          effect: { type: 'earn', pointsPerUnit: '1' },
        },
        {
          id: 'happy-hour',
          name: 'happy hour for big baskets',
          eventTypes: ['purchase'],
          condition:
            'local.hour >= 17 && local.hour < 19 && event.amount >= 50.0 && event.hasAmount && !member.isNew',
          effect: { type: 'multiplier', factor: '1.5' },
        },
      ],
    });
    expect(run(program, { at: '2026-11-23T16:30:00Z', amount: '100.00' }).points).toBe(150n);
    expect(run(program, { at: '2026-11-23T16:30:00Z', amount: '49.99' }).points).toBe(49n);
    expect(run(program, { at: '2026-11-23T19:30:00Z', amount: '100.00' }).points).toBe(100n);
  });
});

describe('rounding', () => {
  it('rounds once per event, after summing all earn rules: 3 × 0.4 = 1.2 → 1, not 0', () => {
    const rule = (id: string) => ({
      id,
      name: id,
      eventTypes: ['purchase'],
      effect: { type: 'earn', pointsPerUnit: '0.4' },
    });
    const program = compile({
      ...programTemplate('empty'),
      rules: [rule('a'), rule('b'), rule('c')],
    });
    const result = run(program, { at: MONDAY, amount: '1.00' });
    expect(result.trace.rules.map((r) => r.contribution)).toEqual(['0.4', '0.4', '0.4']);
    expect(result.trace.rounding).toEqual({ mode: 'down', from: '1.2', to: 1 });
    expect(result.points).toBe(1n);
  });

  it('uses the currency minor unit: 1000 JPY at 1 point per unit is 1000 points', () => {
    const program = compile({
      ...programTemplate('empty'),
      currencies: ['JPY'],
      rules: [
        {
          id: 'base',
          name: 'base',
          eventTypes: ['purchase'],
          effect: { type: 'earn', pointsPerUnit: '1' },
        },
      ],
    });
    expect(run(program, { at: MONDAY, amount: '1000', currency: 'JPY' }).points).toBe(1000n);
  });
});

describe('caps', () => {
  const capped = compile({
    ...programTemplate('empty'),
    eventTypes: {
      purchase: { kind: 'purchase' },
      refund: { kind: 'refund' },
      review: { kind: 'custom', amount: 'forbidden' },
    },
    rules: [
      {
        id: 'base',
        name: 'base, at most 100 per event',
        eventTypes: ['purchase'],
        effect: { type: 'earn', pointsPerUnit: '1' },
        caps: { perEvent: 100 },
      },
      {
        id: 'weekend',
        name: 'weekend',
        eventTypes: ['purchase'],
        condition: 'local.weekday >= 6',
        effect: { type: 'multiplier', factor: '2' },
      },
      {
        id: 'review-bonus',
        name: '50 per review, 150 a month',
        eventTypes: ['review'],
        effect: { type: 'bonus', points: 50 },
        caps: { perMember: { points: 150, period: 'month' } },
      },
    ],
  });

  it('caps an earn rule per event after multipliers', () => {
    const result = run(capped, { at: '2026-11-21T12:00:00Z', amount: '80.00' });
    expect(result.points).toBe(100n);
    expect(result.trace.rules[0]).toMatchObject({
      contribution: '100',
      capped: { by: 'perEvent', limit: 100 },
    });
  });

  it('caps a bonus per member per month across a sequence of events', () => {
    const usage = new Map<string, bigint>();
    const earned: bigint[] = [];
    for (const day of ['03', '10', '17', '24']) {
      const at = `2026-11-${day}T12:00:00Z`;
      const program = capped;
      expect(program.capKeys('review', input(program, { type: 'review', at }).local)).toEqual([
        'review-bonus|2026-11',
      ]);
      const result = run(program, { type: 'review', at, capUsage: usage });
      earned.push(result.points);
      for (const increment of result.usage) {
        const key = `${increment.ruleId}|${increment.period}`;
        usage.set(key, (usage.get(key) ?? 0n) + increment.points);
      }
    }
    expect(earned).toEqual([50n, 50n, 50n, 0n]);
    expect(usage.get('review-bonus|2026-11')).toBe(150n);
    // A new month starts afresh.
    expect(
      run(capped, { type: 'review', at: '2026-12-01T12:00:00Z', capUsage: usage }).points,
    ).toBe(50n);
  });

  it('gives only what remains of a per-member cap and reports the cap', () => {
    const usage = new Map([['review-bonus|2026-11', 120n]]);
    const result = run(capped, { type: 'review', at: '2026-11-20T12:00:00Z', capUsage: usage });
    expect(result.points).toBe(30n);
    expect(result.usage).toEqual([{ ruleId: 'review-bonus', period: '2026-11', points: 30n }]);
    expect(result.trace.rules[2]).toMatchObject({
      capped: { by: 'perMember', limit: 150 },
      contribution: '30',
    });
  });

  it('records per-member usage of fractional earn points rounded up, so the cap is never passed', () => {
    const program = compile({
      ...programTemplate('empty'),
      rules: [
        {
          id: 'base',
          name: 'base',
          eventTypes: ['purchase'],
          effect: { type: 'earn', pointsPerUnit: '1' },
          caps: { perMember: { points: 10, period: 'day' } },
        },
      ],
    });
    const first = run(program, { at: MONDAY, amount: '4.50' });
    expect(first.points).toBe(4n);
    expect(first.usage).toEqual([{ ruleId: 'base', period: '2026-11-23', points: 5n }]);
    const second = run(program, {
      at: MONDAY,
      amount: '50.00',
      capUsage: new Map([['base|2026-11-23', 5n]]),
    });
    expect(second.points).toBe(5n);
  });

  it('caps the event total with settings.maxPointsPerEvent', () => {
    const document = programTemplate('retail');
    document.settings = { ...document.settings, maxPointsPerEvent: 500 };
    const result = run(compile(document), { at: MONDAY, amount: '1000.00' });
    expect(result.points).toBe(500n);
    expect(result.trace.capped).toEqual({ by: 'maxPointsPerEvent', limit: 500 });
  });

  it('lists no cap keys for event types without per-member caps', () => {
    expect(capped.capKeys('purchase', input(capped, { at: MONDAY }).local)).toEqual([]);
  });
});

describe('casino template', () => {
  const casino = compile(programTemplate('casino'));
  it.each([
    ['slots', 100n],
    ['table', 50n],
    ['live', 150n],
    ['exclusive', 200n],
  ])('weights 100 EUR of %s turnover', (gameType, points) => {
    expect(
      run(casino, { type: 'BetPlaced', at: MONDAY, amount: '100.00', attributes: { gameType } })
        .points,
    ).toBe(points);
  });

  it('applies the gold multiplier on top of the game weight', () => {
    const result = run(casino, {
      type: 'BetPlaced',
      at: MONDAY,
      amount: '100.00',
      attributes: { gameType: 'live' },
      tierId: 'gold',
    });
    expect(result.trace.combinedMultiplier).toBe('1.875');
    expect(result.points).toBe(187n);
  });
});
