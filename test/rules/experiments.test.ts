// Experiments in the program document and the engine: validation, deterministic assignment
// by hash, a balanced split, and the rules a variant swaps, adds or disables. Pure: no
// database.
import { describe, expect, it } from 'vitest';
import {
  BUCKETS,
  CONTROL_GROUP,
  compileProgram,
  experimentBucket,
  groupOf,
  programTemplate,
  validateProgramDocument,
  type Experiment,
  type ProgramDocument,
} from '../../src/rules/index.ts';
import { input } from './helpers.ts';

/** Monday 2026-06-15 10:00 in Prague: a plain weekday (1×). */
const WEEKDAY = '2026-06-15T08:00:00Z';

const experiment = (overrides: Partial<Experiment> = {}): Experiment => ({
  id: 'summer-boost',
  name: 'Summer boost',
  controlPercent: 50,
  variants: [
    {
      id: 'double',
      name: 'Two points per EUR',
      percent: 25,
      rules: [
        {
          id: 'base',
          name: '2 points per EUR',
          eventTypes: ['purchase'],
          effect: { type: 'earn', pointsPerUnit: '2' },
        },
      ],
    },
    {
      id: 'bonus-no-weekend',
      name: 'A 7-point bonus, no weekend multiplier',
      percent: 25,
      rules: [
        {
          id: 'visit-bonus',
          name: '7 points per purchase',
          eventTypes: ['purchase'],
          effect: { type: 'bonus', points: 7 },
        },
      ],
      disable: ['weekend'],
    },
  ],
  ...overrides,
});

function withExperiments(...experiments: Experiment[]): ProgramDocument {
  return { ...programTemplate('retail'), experiments };
}

function errorsOf(document: unknown) {
  const result = validateProgramDocument(document);
  return result.ok ? [] : result.errors;
}

describe('assignment', () => {
  it('is deterministic: the same program, experiment and member always land in the same bucket', () => {
    const first = experimentBucket('shop', 'summer-boost', 'alice');
    for (let i = 0; i < 5; i += 1)
      expect(experimentBucket('shop', 'summer-boost', 'alice')).toBe(first);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(first).toBeLessThan(BUCKETS);
  });

  it('differs between experiments and programs, so groups are independent', () => {
    let sameAcrossExperiments = 0;
    let sameAcrossPrograms = 0;
    for (let i = 0; i < 1_000; i += 1) {
      const member = `m-${i}`;
      const a = experimentBucket('shop', 'one', member) < 5_000;
      if (a === experimentBucket('shop', 'two', member) < 5_000) sameAcrossExperiments += 1;
      if (a === experimentBucket('other', 'one', member) < 5_000) sameAcrossPrograms += 1;
    }
    // Independent halves agree about half the time.
    expect(sameAcrossExperiments).toBeGreaterThan(430);
    expect(sameAcrossExperiments).toBeLessThan(570);
    expect(sameAcrossPrograms).toBeGreaterThan(430);
    expect(sameAcrossPrograms).toBeLessThan(570);
  });

  it('splits 100,000 member ids by the percents within ±2 %', () => {
    const split = experiment();
    const counts = new Map<string, number>();
    for (let i = 0; i < 100_000; i += 1) {
      const group = groupOf(split, experimentBucket('shop', split.id, `member-${i}`));
      counts.set(group, (counts.get(group) ?? 0) + 1);
    }
    const expected = { [CONTROL_GROUP]: 50_000, double: 25_000, 'bonus-no-weekend': 25_000 };
    for (const [group, count] of Object.entries(expected)) {
      const got = counts.get(group) ?? 0;
      expect(Math.abs(got - count) / count, `${group}: ${got}`).toBeLessThanOrEqual(0.02);
    }
  });
});

describe('validation', () => {
  it('accepts an experiment and fills in its defaults', () => {
    const result = validateProgramDocument(withExperiments(experiment()));
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.document.experiments?.[0]?.enabled).toBe(true);
  });

  it('refuses percents that do not add up to 100, a variant named control, and three decimals', () => {
    const bad = experiment({
      controlPercent: 40.125,
      variants: [
        { id: 'control', name: 'x', percent: 25 },
        { id: 'b', name: 'y', percent: 25 },
      ],
    });
    expect(errorsOf(withExperiments(bad))).toEqual(
      expect.arrayContaining([
        { pointer: '/experiments/0/controlPercent', detail: '40.125 has more than two decimals' },
        { pointer: '/experiments/0/variants/0/id', detail: '"control" is the control group\'s id' },
        {
          pointer: '/experiments/0/controlPercent',
          detail: expect.stringContaining('add up to 90.13, not 100'),
        },
      ]),
    );
  });

  it('names the variant rule and the position of a bad condition', () => {
    const bad = experiment();
    const rule = bad.variants[0]?.rules?.[0];
    if (!rule) throw new Error('fixture changed');
    rule.condition = 'event.amount >= "x"';
    expect(errorsOf(withExperiments(bad))).toEqual([
      {
        pointer: '/experiments/0/variants/0/rules/0/condition',
        detail: expect.stringMatching(/^rule "base": .* at 1:\d+$/),
      },
    ]);
  });

  it('refuses a rule changed by two experiments, and disabling a rule that does not exist', () => {
    const second = experiment({
      id: 'other',
      variants: [{ id: 'v', name: 'v', percent: 50, disable: ['base', 'nope'] }],
    });
    expect(errorsOf(withExperiments(experiment(), second))).toEqual(
      expect.arrayContaining([
        { pointer: '/experiments/1/variants/0/disable/1', detail: 'no program rule "nope"' },
        {
          pointer: '/experiments/1/variants',
          detail: expect.stringContaining(
            'rule "base" is changed by experiments "summer-boost" and "other"',
          ),
        },
      ]),
    );
  });

  it('refuses an end before the start', () => {
    const bad = experiment({ start: '2026-07-01T00:00:00Z', end: '2026-06-01T00:00:00Z' });
    expect(errorsOf(withExperiments(bad))).toEqual([
      {
        pointer: '/experiments/0/end',
        detail: 'experiment "summer-boost": end must be after start',
      },
    ]);
  });
});

describe('evaluation', () => {
  const document = validateProgramDocument(withExperiments(experiment()));
  if (!document.ok) throw new Error('fixture invalid');
  const program = compileProgram(document.document, 1, 'shop');

  /** A member id that lands in `group`. */
  function memberIn(group: string): string {
    for (let i = 0; ; i += 1) {
      const id = `m-${group}-${i}`;
      if (groupOf(experiment(), experimentBucket('shop', 'summer-boost', id)) === group) return id;
    }
  }

  function earn(memberId: string, at = WEEKDAY) {
    const base = input(program, { at, amount: '10.00' });
    return program.evaluate({
      ...base,
      event: { ...base.event, memberId },
      member: { ...base.member, id: memberId },
    });
  }

  it('control keeps the published rules, and the trace names the group', () => {
    const result = earn(memberIn(CONTROL_GROUP));
    expect(result.points).toBe(10n);
    expect(result.trace.experiments).toEqual({ 'summer-boost': { variant: 'control' } });
    expect(result.trace.rules.some((r) => r.source !== undefined)).toBe(false);
  });

  it('a variant swaps a rule in its place, marked with its source', () => {
    const result = earn(memberIn('double'));
    expect(result.points).toBe(20n);
    expect(result.trace.experiments).toEqual({ 'summer-boost': { variant: 'double' } });
    expect(result.trace.rules[0]).toMatchObject({
      id: 'base',
      fired: true,
      pointsPerUnit: '2',
      source: 'experiment:summer-boost/double',
    });
  });

  it('a variant adds a rule and disables another, and says so', () => {
    // Saturday 2026-06-20: the weekend multiplier would double the 10 points.
    const result = earn(memberIn('bonus-no-weekend'), '2026-06-20T08:00:00Z');
    expect(result.points).toBe(17n);
    expect(result.trace.rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          id: 'weekend',
          fired: false,
          reason: 'disabled by experiment "summer-boost", variant "bonus-no-weekend"',
        }),
        expect.objectContaining({
          id: 'visit-bonus',
          fired: true,
          source: 'experiment:summer-boost/bonus-no-weekend',
        }),
      ]),
    );
  });

  it('outside its window the experiment does not apply and is not in the trace', () => {
    const windowed = validateProgramDocument(
      withExperiments(experiment({ start: '2026-07-01T00:00:00Z' })),
    );
    if (!windowed.ok) throw new Error('fixture invalid');
    const early = compileProgram(windowed.document, 1, 'shop');
    const member = memberIn('double');
    const base = input(early, { at: WEEKDAY, amount: '10.00' });
    const result = early.evaluate({
      ...base,
      event: { ...base.event, memberId: member },
      member: { ...base.member, id: member },
    });
    expect(result.points).toBe(10n);
    expect(result.trace.experiments).toBeUndefined();
  });
});
