import { describe, expect, it } from 'vitest';
import {
  compileProgram,
  programTemplate,
  ProgramDocumentSchema,
  RETAIL_EXAMPLE,
  TEMPLATE_NAMES,
  validateProgramDocument,
  type DocumentError,
} from '../../src/rules/index.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests break documents on purpose
type Loose = any;

function retail(): Loose {
  return structuredClone(RETAIL_EXAMPLE);
}

function errorsOf(document: unknown): DocumentError[] {
  const result = validateProgramDocument(document);
  if (result.ok) throw new Error('expected the document to be invalid');
  return result.errors;
}

describe('templates and the schema example', () => {
  it.each(TEMPLATE_NAMES)('the %s template is a valid program', (name) => {
    const result = validateProgramDocument(programTemplate(name));
    expect(result.ok ? [] : result.errors).toEqual([]);
  });

  it('the schema example is the retail reference program and is valid', () => {
    expect((ProgramDocumentSchema as { examples?: unknown }).examples).toEqual([RETAIL_EXAMPLE]);
    expect(validateProgramDocument(RETAIL_EXAMPLE).ok).toBe(true);
  });

  it('the retail template is the reference program without the review rule', () => {
    const template = programTemplate('retail');
    expect(template.timeZone).toBe('Europe/Prague');
    expect(template.rules.map((rule) => rule.id)).toEqual(['base', 'weekend', 'electronics']);
    expect(Object.keys(template.eventTypes)).toEqual(['purchase', 'refund']);
    expect(template.tiers).toEqual(RETAIL_EXAMPLE.tiers);
  });

  it('the empty template has no rules and no tiers, in UTC', () => {
    const template = programTemplate('empty');
    expect(template).toMatchObject({ timeZone: 'UTC', currencies: ['EUR'], rules: [] });
    expect(template.tiers).toBeUndefined();
  });

  it('hands out a fresh copy each time', () => {
    programTemplate('retail').rules.pop();
    expect(programTemplate('retail').rules).toHaveLength(3);
  });
});

describe('defaults', () => {
  it('fills in every default', () => {
    const minimal = {
      name: 'Minimal',
      timeZone: 'UTC',
      currencies: ['EUR'],
      eventTypes: { purchase: { kind: 'purchase' }, visit: { kind: 'custom' } },
      rules: [
        {
          id: 'base',
          name: 'base',
          eventTypes: ['purchase'],
          effect: { type: 'earn', pointsPerUnit: '1' },
        },
      ],
      tiers: {
        metric: { type: 'points' },
        window: { type: 'rolling', days: 365 },
        levels: [{ id: 'member', name: 'Member', threshold: 0 }],
      },
    };
    const result = validateProgramDocument(minimal);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    const document = result.document;
    expect(document.settings).toEqual({
      backdatingWindowDays: 90,
      createMembersOnEvent: true,
      negativeBalance: 'allow',
      redemption: { holdTtl: 'PT15M' },
      expiry: { policy: { type: 'none' }, warningDays: 30 },
    });
    expect(document.eventTypes['visit']).toEqual({ kind: 'custom', amount: 'optional' });
    expect(document.rules[0]?.enabled).toBe(true);
    expect(document.tiers?.levels[0]?.multiplier).toBe('1');
    expect(document.tiers?.retentionWindow).toEqual({ type: 'rolling', days: 365 });
    // The input is not modified.
    expect(minimal.rules[0]).not.toHaveProperty('enabled');
  });
});

describe('validation errors point into the document', () => {
  it('rejects a typo in a variable with the rule id and position', () => {
    const document = retail();
    document.rules[1].condition = 'lcoal.weekday >= 6';
    expect(errorsOf(document)).toEqual([
      { pointer: '/rules/1/condition', detail: `rule "weekend": unknown variable 'lcoal' at 1:1` },
    ]);
  });

  it('rejects a typo in a field of local, on the right line and column', () => {
    const document = retail();
    document.rules[1].condition = 'true &&\n  local.wekday >= 6';
    expect(errorsOf(document)).toEqual([
      { pointer: '/rules/1/condition', detail: `rule "weekend": unknown field 'wekday' at 2:9` },
    ]);
  });

  it('rejects a condition that is not a bool', () => {
    const document = retail();
    document.rules[1].condition = 'local.weekday + 1';
    const [error] = errorsOf(document);
    expect(error?.pointer).toBe('/rules/1/condition');
    expect(error?.detail).toMatch(/^rule "weekend": .*int, not bool at 1:1$/);
  });

  it('rejects comparing a string with a number at save time', () => {
    const document = retail();
    document.rules[1].condition = 'local.date == 1';
    expect(errorsOf(document)[0]?.detail).toMatch(
      /^rule "weekend": no such overload: string == int at 1:1$/,
    );
  });

  it('rejects a syntax error with its position', () => {
    const document = retail();
    document.rules[1].condition = 'local.weekday >= ';
    expect(errorsOf(document)[0]).toMatchObject({
      pointer: '/rules/1/condition',
      detail: expect.stringMatching(/at 1:\d+$/),
    });
  });

  it('rejects a rule on an unknown event type and on the refund type', () => {
    const document = retail();
    document.rules[0].eventTypes = ['purchse', 'refund'];
    expect(errorsOf(document)).toEqual([
      { pointer: '/rules/0/eventTypes/0', detail: 'unknown event type "purchse"' },
      {
        pointer: '/rules/0/eventTypes/1',
        detail: 'rules cannot apply to the refund type "refund"',
      },
    ]);
  });

  it('rejects unsorted tier thresholds and a first threshold above 0', () => {
    const document = retail();
    document.tiers.levels[0].threshold = 10;
    document.tiers.levels[2].threshold = 900;
    expect(errorsOf(document)).toEqual([
      { pointer: '/tiers/levels/0/threshold', detail: 'the first level must have threshold 0' },
      {
        pointer: '/tiers/levels/2/threshold',
        detail: 'thresholds must ascend strictly: 900 is not above 1000 (level "silver")',
      },
    ]);
  });

  it('rejects an unknown time zone', () => {
    expect(errorsOf({ ...retail(), timeZone: 'Europe/Prag' })).toEqual([
      { pointer: '/timeZone', detail: 'unknown time zone "Europe/Prag"' },
    ]);
  });

  it('rejects unknown and repeated currencies', () => {
    expect(errorsOf({ ...retail(), currencies: ['EUR', 'XYZ', 'EUR'] })).toEqual([
      { pointer: '/currencies/1', detail: 'unknown currency "XYZ"' },
      { pointer: '/currencies/2', detail: 'duplicate currency "EUR"' },
    ]);
  });

  it('rejects duplicate rule ids', () => {
    const document = retail();
    document.rules[2].id = 'base';
    expect(errorsOf(document)).toEqual([
      { pointer: '/rules/2/id', detail: 'duplicate rule id "base" (also /rules/0)' },
    ]);
  });

  it('rejects an earn rule whose event types carry no amount, and caps on a multiplier', () => {
    const document = retail();
    document.rules.push({
      id: 'review-earn',
      name: 'x',
      eventTypes: ['review'],
      effect: { type: 'earn', pointsPerUnit: '1' },
    });
    document.rules[1].caps = { perEvent: 10 };
    expect(errorsOf(document)).toEqual([
      {
        pointer: '/rules/1/caps',
        detail: 'rule "weekend": caps apply to earn and bonus rules only',
      },
      {
        pointer: '/rules/4/effect',
        detail: 'rule "review-earn": an earn rule needs event types that carry an amount',
      },
    ]);
  });

  it('rejects a second refund type and a zero multiplier factor', () => {
    const document = retail();
    document.eventTypes.chargeback = { kind: 'refund' };
    document.rules[1].effect.factor = '0.0';
    expect(errorsOf(document)).toEqual([
      {
        pointer: '/eventTypes/chargeback',
        detail: 'at most one refund type may exist (already "refund")',
      },
      {
        pointer: '/rules/1/effect/factor',
        detail: 'rule "weekend": factor must be greater than 0',
      },
    ]);
  });

  it('reports every schema error at once, in every section', () => {
    const document = retail();
    document.extra = true;
    document.eventTypes.review.kind = 'comment';
    document.rules[0].effect = { type: 'earn', pointsPerUnit: '1.5e3' };
    document.rules[3].effect = { type: 'gift', points: 5 };
    document.tiers.window = { type: 'rolling' };
    document.settings.negativeBalance = 'sometimes';
    document.settings.backdatingWindowDays = 5000;
    document.timeZone = 'Mars/Olympus';
    const pointers = errorsOf(document).map((error) => error.pointer);
    expect(pointers).toEqual(
      expect.arrayContaining([
        '/extra',
        '/eventTypes/review/kind',
        '/rules/0/effect/pointsPerUnit',
        '/rules/3/effect/type',
        '/tiers/window/days',
        '/settings/negativeBalance',
        '/settings/backdatingWindowDays',
        '/timeZone',
      ]),
    );
    expect(errorsOf(document)).toContainEqual({
      pointer: '/rules/3/effect/type',
      detail: 'must be one of "earn", "multiplier", "bonus"',
    });
  });

  it('rejects points beyond 2^53 − 1 and malformed decimals', () => {
    const document = retail();
    document.rules[3].effect.points = 2 ** 53;
    document.tiers.levels[1].multiplier = '1,1';
    const pointers = errorsOf(document).map((error) => error.pointer);
    expect(pointers).toEqual(['/rules/3/effect/points', '/tiers/levels/1/multiplier']);
  });

  it('rejects bad names for event types and rule ids', () => {
    const document = retail();
    document.eventTypes['9lives'] = { kind: 'custom' };
    document.rules[0].id = 'Base Rule';
    expect(errorsOf(document).map((error) => error.pointer)).toEqual([
      '/eventTypes/9lives',
      '/rules/0/id',
    ]);
  });

  it('rejects what is not an object, and names missing sections', () => {
    expect(errorsOf(null)).toEqual([{ pointer: '', detail: 'must be an object' }]);
    expect(errorsOf({ name: 'x' }).map((error) => error.pointer)).toEqual([
      '/timeZone',
      '/currencies',
      '/eventTypes',
      '/rules',
    ]);
  });

  it('rejects more rules than the limit', () => {
    const document = retail();
    document.rules = Array.from({ length: 501 }, (_, index) => ({
      id: `r${index}`,
      name: 'r',
      eventTypes: ['purchase'],
      effect: { type: 'bonus', points: 1 },
    }));
    expect(errorsOf(document)).toEqual([
      { pointer: '/rules', detail: expect.stringContaining('500') },
    ]);
  });
});

describe('compiling', () => {
  it('compiles a valid program and exposes its event types', () => {
    const result = validateProgramDocument(RETAIL_EXAMPLE);
    if (!result.ok) throw new Error('invalid');
    const program = compileProgram(result.document, 7);
    expect(program.version).toBe(7);
    expect(program.eventType('review')).toEqual({ kind: 'custom', amount: 'forbidden' });
    expect(program.eventType('nope')).toBeUndefined();
  });
});

describe('redemption settings', () => {
  function withRedemption(redemption: unknown) {
    const doc = programTemplate('retail') as unknown as Record<string, unknown>;
    doc['settings'] = { ...(doc['settings'] as object), redemption };
    return validateProgramDocument(doc);
  }

  it('accepts a hold time to live and a point value in one of the program currencies', () => {
    const result = withRedemption({
      holdTtl: 'PT5M',
      pointValue: { points: 1000, value: { value: '10.00', currency: 'EUR' } },
    });
    expect(result.ok, JSON.stringify(result)).toBe(true);
  });

  it.each([
    [{ holdTtl: 'PT30S' }, '/settings/redemption/holdTtl'],
    [{ holdTtl: 'P8D' }, '/settings/redemption/holdTtl'],
    [{ holdTtl: '15 minutes' }, '/settings/redemption/holdTtl'],
    [
      { pointValue: { points: 1000, value: { value: '10.00', currency: 'USD' } } },
      '/settings/redemption/pointValue/value/currency',
    ],
    [
      { pointValue: { points: 1000, value: { value: '0.00', currency: 'EUR' } } },
      '/settings/redemption/pointValue/value/value',
    ],
    [
      { pointValue: { points: 0, value: { value: '1.00', currency: 'EUR' } } },
      '/settings/redemption/pointValue/points',
    ],
  ])('refuses %j naming %s', (redemption, pointer) => {
    const result = withRedemption(redemption);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => e.pointer)).toContain(pointer);
  });
});

describe('expiry settings', () => {
  function withExpiry(expiry: unknown) {
    const doc = programTemplate('empty') as unknown as Record<string, unknown>;
    doc['settings'] = { ...(doc['settings'] as object), expiry };
    return validateProgramDocument(doc);
  }

  it('the retail template expires points 12 months after earning, warning 30 days ahead', () => {
    const result = validateProgramDocument(programTemplate('retail'));
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.document.settings?.expiry).toEqual({
      policy: { type: 'lot', months: 12 },
      warningDays: 30,
    });
  });

  it('the casino template expires points after 12 months of inactivity, warning 14 days ahead', () => {
    const result = validateProgramDocument(programTemplate('casino'));
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.document.settings?.expiry).toEqual({
      policy: { type: 'inactivity', months: 12 },
      warningDays: 14,
    });
  });

  it('a policy without warningDays is warned 30 days ahead; warningDays alone expires nothing', () => {
    const lot = withExpiry({ policy: { type: 'lot', months: 12 } });
    expect(lot.ok && lot.document.settings?.expiry).toEqual({
      policy: { type: 'lot', months: 12 },
      warningDays: 30,
    });
    const none = withExpiry({ warningDays: 7 });
    expect(none.ok && none.document.settings?.expiry).toEqual({
      policy: { type: 'none' },
      warningDays: 7,
    });
  });

  it.each([
    [{ policy: { type: 'endOfPeriod', month: 2, day: 28, afterYears: 0 } }],
    [{ policy: { type: 'endOfPeriod', month: 4, day: 30, afterYears: 10 } }],
    [{ policy: { type: 'inactivity', months: 120 }, warningDays: 365 }],
    [{ policy: { type: 'lot', months: 1 }, warningDays: 0 }],
  ])('accepts %j', (expiry) => {
    const result = withExpiry(expiry);
    expect(result.ok, JSON.stringify(result)).toBe(true);
  });

  it.each([
    [
      { policy: { type: 'endOfPeriod', month: 2, day: 29, afterYears: 1 } },
      '/settings/expiry/policy/day',
    ],
    [
      { policy: { type: 'endOfPeriod', month: 4, day: 31, afterYears: 1 } },
      '/settings/expiry/policy/day',
    ],
    [
      { policy: { type: 'endOfPeriod', month: 13, day: 1, afterYears: 1 } },
      '/settings/expiry/policy/month',
    ],
    [
      { policy: { type: 'endOfPeriod', month: 12, day: 31, afterYears: 11 } },
      '/settings/expiry/policy/afterYears',
    ],
    [{ policy: { type: 'endOfPeriod', month: 12, day: 31 } }, '/settings/expiry/policy/afterYears'],
    [{ policy: { type: 'lot', months: 0 } }, '/settings/expiry/policy/months'],
    [{ policy: { type: 'inactivity', months: 121 } }, '/settings/expiry/policy/months'],
    [{ policy: { type: 'inactivity', months: 6, day: 1 } }, '/settings/expiry/policy/day'],
    [{ policy: { type: 'yearly' } }, '/settings/expiry/policy/type'],
    [{ warningDays: 366 }, '/settings/expiry/warningDays'],
    [{ warningDays: -1 }, '/settings/expiry/warningDays'],
  ])('refuses %j naming %s', (expiry, pointer) => {
    const result = withExpiry(expiry);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => e.pointer)).toContain(pointer);
  });
});

describe('pending settings', () => {
  function withPending(pending: unknown) {
    const doc = programTemplate('retail') as unknown as Record<string, unknown>;
    doc['settings'] = { ...(doc['settings'] as object), pending };
    return validateProgramDocument(doc);
  }

  it('accepts a return window for purchases', () => {
    const result = withPending({ days: 14, eventTypes: ['purchase'] });
    expect(result.ok, JSON.stringify(result)).toBe(true);
  });

  it.each([
    [{ days: 0, eventTypes: ['purchase'] }, '/settings/pending/days'],
    [{ days: 366, eventTypes: ['purchase'] }, '/settings/pending/days'],
    [{ days: 14, eventTypes: [] }, '/settings/pending/eventTypes'],
    [{ days: 14, eventTypes: ['visit'] }, '/settings/pending/eventTypes/0'],
    [{ days: 14, eventTypes: ['purchase', 'refund'] }, '/settings/pending/eventTypes/1'],
  ])('refuses %j naming %s', (pending, pointer) => {
    const result = withPending(pending);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => e.pointer)).toContain(pointer);
  });
});
