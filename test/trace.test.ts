// Stored rule traces leave out what explain derives again exactly (src/events/trace.ts): the
// multipliers and their product, the rounding, and the reason "condition is false". Explain must put back
// the very figures the engine computed, and a trace whose figures it could not derive keeps
// them. Real: the rule engine and the retail template. Nothing is faked.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compactTrace, expandTrace } from '../src/events/trace.ts';
import { programTemplate } from '../src/rules/index.ts';
import { compile, run, type EventSpec } from './rules/helpers.ts';

type Json = Record<string, unknown>;
type RuleFacts = { id: string; fired: boolean; reason?: string };

const retail = compile(programTemplate('retail'));
const document = retail.document;
const WEEKDAY = '2026-11-18T10:00:00Z';
const SATURDAY_2330_PRAGUE = '2026-11-21T22:30:00Z';

/** What explain makes of a stored trace of the event `spec` describes. */
function explain(stored: Json, spec: EventSpec): Json {
  return expandTrace(structuredClone(stored), document, {
    type: spec.type ?? 'purchase',
    programVersion: 1,
    occurredAt: new Date(spec.at),
    receivedAt: new Date(spec.at),
    amount: spec.amount ? { value: spec.amount, currency: 'EUR' } : null,
  });
}

function evaluated(spec: EventSpec) {
  const trace = run(retail, spec).trace as unknown as Json;
  const tier = { value: 0, before: spec.tierId ?? null, after: spec.tierId ?? null };
  const stored = compactTrace(trace, { tier }, document);
  return { trace, stored, explained: explain(stored, spec) };
}

const whyNot = (rules: unknown) =>
  Object.fromEntries((rules as RuleFacts[]).map((r) => [r.id, [r.fired, r.reason]]));

describe('a stored trace and its explanation', () => {
  const cases: [string, EventSpec][] = [
    ['a weekday purchase without a tier', { at: WEEKDAY, amount: '12.50' }],
    [
      'weekend electronics at Silver',
      {
        at: SATURDAY_2330_PRAGUE,
        amount: '12.34',
        attributes: { category: 'electronics' },
        tierId: 'silver',
      },
    ],
    ['a weekday purchase at Platinum', { at: WEEKDAY, amount: '999.99', tierId: 'platinum' }],
    ['an event of a type no multiplier applies to', { at: WEEKDAY, type: 'review' }],
  ];
  for (const [name, spec] of cases) {
    it(`leaves out the multipliers and puts back the engine's own figures: ${name}`, () => {
      const { trace, stored, explained } = evaluated(spec);
      expect(stored).not.toHaveProperty('multipliers');
      expect(stored).not.toHaveProperty('combinedMultiplier');
      expect(stored).not.toHaveProperty('rounding');
      for (const rule of stored.rules as RuleFacts[])
        expect(rule.reason).not.toBe('condition is false');
      expect(explained.multipliers).toEqual(trace.multipliers);
      expect(explained.combinedMultiplier).toBe(trace.combinedMultiplier);
      expect(explained.rounding).toEqual(trace.rounding);
      expect(whyNot(explained.rules)).toEqual(whyNot(trace.rules));
      // Where the engine put them: after the rules, before the rounding.
      const keys = Object.keys(explained);
      expect(keys.indexOf('multipliers')).toBeGreaterThan(keys.indexOf('rules'));
      expect(keys.indexOf('combinedMultiplier')).toBe(keys.indexOf('multipliers') + 1);
      expect(keys.indexOf('beforeRounding')).toBe(keys.indexOf('combinedMultiplier') + 1);
      expect(keys.indexOf('rounding')).toBe(keys.indexOf('beforeRounding') + 1);
    });
  }

  it('puts back exactly what the engine computed, for any amount, day, category and tier', () => {
    const days = [WEEKDAY, SATURDAY_2330_PRAGUE, '2026-11-22T23:30:00Z'];
    const tiers = [null, 'bronze', 'silver', 'gold', 'platinum', 'retired-level'];
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 10n }),
        fc.constantFrom(...days),
        fc.constantFrom(...tiers),
        fc.constantFrom(undefined, 'electronics', 'books'),
        (minor, at, tierId, category) => {
          const amount = `${minor / 100n}.${String(minor % 100n).padStart(2, '0')}`;
          const attributes = category ? { category } : {};
          const { trace, stored, explained } = evaluated({ at, amount, tierId, attributes });
          expect(JSON.stringify(stored).length).toBeLessThan(JSON.stringify(trace).length);
          for (const key of ['multipliers', 'combinedMultiplier', 'beforeRounding', 'rounding'])
            expect(explained[key]).toEqual(trace[key]);
          expect(whyNot(explained.rules)).toEqual(whyNot(trace.rules));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps multipliers it could not derive, as they were', () => {
    const spec = { at: WEEKDAY, amount: '10.00', tierId: 'gold' };
    const trace = run(retail, spec).trace as unknown as Json;
    // The tier the event was evaluated at is not the one the stored tier says.
    const stored = compactTrace(
      trace,
      { tier: { value: 0, before: 'silver', after: 'silver' } },
      document,
    );
    expect(stored.multipliers).toEqual([{ source: 'tier:gold', factor: '1.25' }]);
    expect(stored.combinedMultiplier).toBe('1.25');
    expect(explain(stored, spec).multipliers).toEqual([{ source: 'tier:gold', factor: '1.25' }]);
  });

  it('keeps a rounding that is not the whole part of beforeRounding', () => {
    const trace = run(retail, { at: WEEKDAY, amount: '10.50' }).trace as unknown as Json;
    const odd = { mode: 'down', from: '10.5', to: 9 };
    const stored = compactTrace({ ...trace, rounding: odd }, { tier: null }, document);
    expect(stored.rounding).toEqual(odd);
  });

  it('explains a trace stored whole as it was', () => {
    const spec = { at: WEEKDAY, amount: '12.50', tierId: 'bronze' };
    const { trace } = evaluated(spec);
    const whole = { ...trace, tier: { value: 0, before: 'bronze', after: 'bronze' } };
    const explained = explain(whole, spec);
    expect(explained.multipliers).toEqual(trace.multipliers);
    expect(whyNot(explained.rules)).toEqual(whyNot(trace.rules));
  });
});
