// `npm run bench:rules`: Patron's rule engine against json-rules-engine, in one process, on
// the same 20 rules of a retail + e-shop program and the same seeded events and members.
//
// Each rule is written twice by hand, as Patron's CEL condition and as json-rules-engine
// conditions over three facts (event, member, local), so that neither engine runs a
// translation of the other. Both start from the same EvaluationInput, whose local time is
// computed beforehand: localTime() is the caller's job in production too, and its cost is
// shown on its own line. json-rules-engine only says which rules fired; its points come from
// the same arithmetic as Patron's (exact fractions, earn × multipliers × tier multiplier
// rounded down once, bonuses added, caps), and before anything is timed both engines must
// give the same points for every event, or the run stops at the first difference.
// json-rules-engine is measured as it comes (JSONPath paths: the headline figure) and with
// plain property paths through its pathResolver option, a much cheaper configuration.
//
// The verification pass doubles as the warm-up; then each engine runs ROUNDS passes over all
// events, alternating so that a noisy neighbour slows both alike, and the median counts.

import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { Engine, type EngineOptions, type TopLevelCondition } from 'json-rules-engine';
import { Fraction, parseAmount } from '../src/money/index.ts';
import {
  compileProgram,
  localTime,
  programTemplate,
  validateProgramDocument,
  type CompiledProgram,
  type EvaluationInput,
  type ProgramDocument,
  type Rule,
} from '../src/rules/index.ts';
import { median } from './report.ts';

const EVENTS_DEFAULT = 20_000;
const EVENTS_PER_MEMBER = 10;
const ROUNDS = 5;
const SEED = 20_260_302;
const CURRENCY = 'EUR';
const TIME_ZONE = 'Europe/Prague';
/** Monday 2 March 2026, 00:00 UTC; four weeks from here include the switch to summer time. */
const PERIOD_START_MS = Date.UTC(2026, 2, 2);
const PERIOD_DAYS = 28;
const HOUR_MS = 3_600_000;

type Conditions = Extract<TopLevelCondition, { all: unknown }>['all'];

interface BenchRule {
  rule: Rule;
  /** The rule's condition for json-rules-engine; event types and "has an amount" are added. */
  baseline: Conditions;
}

const category = (value: string) =>
  ({ fact: 'event', path: '$.attributes.category', operator: 'equal', value }) as const;
const channelIn = (values: string[]) =>
  ({ fact: 'event', path: '$.attributes.channel', operator: 'in', value: values }) as const;
const amountAtLeast = (value: number) =>
  ({ fact: 'event', path: '$.amount', operator: 'greaterThanInclusive', value }) as const;

const RULES: BenchRule[] = [
  {
    rule: {
      id: 'base',
      name: '1 point per EUR',
      eventTypes: ['purchase'],
      effect: { type: 'earn', pointsPerUnit: '1' },
    },
    baseline: [],
  },
  {
    rule: {
      id: 'electronics',
      name: 'Double points on electronics',
      eventTypes: ['purchase'],
      condition: "event.attributes.?category.orValue('') == 'electronics'",
      effect: { type: 'multiplier', factor: '2' },
    },
    baseline: [category('electronics')],
  },
  {
    rule: {
      id: 'groceries',
      name: 'Half points on groceries (thin margins)',
      eventTypes: ['purchase'],
      condition: "event.attributes.?category.orValue('') == 'groceries'",
      effect: { type: 'multiplier', factor: '0.5' },
    },
    baseline: [category('groceries')],
  },
  {
    rule: {
      id: 'home-garden',
      name: '1.5× on home and garden',
      eventTypes: ['purchase'],
      condition: "event.attributes.?category.orValue('') in ['home', 'garden']",
      effect: { type: 'multiplier', factor: '1.5' },
    },
    baseline: [
      { fact: 'event', path: '$.attributes.category', operator: 'in', value: ['home', 'garden'] },
    ],
  },
  {
    rule: {
      id: 'weekend',
      name: 'Double points at weekends',
      eventTypes: ['purchase'],
      condition: 'local.weekday >= 6',
      effect: { type: 'multiplier', factor: '2' },
    },
    baseline: [{ fact: 'local', path: '$.weekday', operator: 'greaterThanInclusive', value: 6 }],
  },
  {
    rule: {
      id: 'happy-hour',
      name: '1.5× on weekdays from 17:00 to 19:00',
      eventTypes: ['purchase'],
      condition: 'local.weekday <= 5 && local.hour >= 17 && local.hour < 19',
      effect: { type: 'multiplier', factor: '1.5' },
    },
    baseline: [
      { fact: 'local', path: '$.weekday', operator: 'lessThanInclusive', value: 5 },
      { fact: 'local', path: '$.hour', operator: 'greaterThanInclusive', value: 17 },
      { fact: 'local', path: '$.hour', operator: 'lessThan', value: 19 },
    ],
  },
  {
    rule: {
      id: 'app-orders',
      name: '1.2× on orders in the app',
      eventTypes: ['purchase'],
      condition: "event.attributes.?channel.orValue('') == 'app'",
      effect: { type: 'multiplier', factor: '1.2' },
    },
    baseline: [channelIn(['app'])],
  },
  {
    rule: {
      id: 'online-extra',
      name: 'Half a point more per EUR online, at most 100 per order',
      eventTypes: ['purchase'],
      condition: "event.attributes.?channel.orValue('') in ['web', 'app']",
      effect: { type: 'earn', pointsPerUnit: '0.5' },
      caps: { perEvent: 100 },
    },
    baseline: [channelIn(['web', 'app'])],
  },
  {
    rule: {
      id: 'fuel-partner',
      name: '2 more points per EUR of fuel at FuelCo, at most 300 per fill-up',
      eventTypes: ['purchase'],
      condition: "event.partnerId == 'fuelco'",
      effect: { type: 'earn', pointsPerUnit: '2' },
      caps: { perEvent: 300 },
    },
    baseline: [{ fact: 'event', path: '$.partnerId', operator: 'equal', value: 'fuelco' }],
  },
  {
    rule: {
      id: 'airline-partner',
      name: 'Triple points on SkyAir tickets from 200 EUR',
      eventTypes: ['purchase'],
      condition: "event.partnerId == 'skyair' && event.amount >= 200",
      effect: { type: 'multiplier', factor: '3' },
    },
    baseline: [
      { fact: 'event', path: '$.partnerId', operator: 'equal', value: 'skyair' },
      amountAtLeast(200),
    ],
  },
  {
    rule: {
      id: 'flagship-stores',
      name: '25 points for 20 EUR or more in a flagship store',
      eventTypes: ['purchase'],
      condition:
        "event.attributes.?storeId.orValue('') in ['prague-1', 'brno-1'] && event.amount >= 20",
      effect: { type: 'bonus', points: 25 },
    },
    baseline: [
      {
        fact: 'event',
        path: '$.attributes.storeId',
        operator: 'in',
        value: ['prague-1', 'brno-1'],
      },
      amountAtLeast(20),
    ],
  },
  {
    rule: {
      id: 'home-store',
      name: "10 points in the member's home store",
      eventTypes: ['purchase'],
      condition:
        "event.attributes.?channel.orValue('') == 'store' && " +
        "member.attributes.?homeStore.orValue('') == event.attributes.?storeId.orValue('')",
      effect: { type: 'bonus', points: 10 },
    },
    baseline: [
      channelIn(['store']),
      {
        fact: 'member',
        path: '$.attributes.homeStore',
        operator: 'equal',
        value: { fact: 'event', path: '$.attributes.storeId' },
      },
    ],
  },
  {
    rule: {
      id: 'basket-100',
      name: '50 points for a basket of 100 EUR or more',
      eventTypes: ['purchase'],
      condition: 'event.amount >= 100',
      effect: { type: 'bonus', points: 50 },
    },
    baseline: [amountAtLeast(100)],
  },
  {
    rule: {
      id: 'basket-500',
      name: '200 more points for a basket of 500 EUR or more',
      eventTypes: ['purchase'],
      condition: 'event.amount >= 500',
      effect: { type: 'bonus', points: 200 },
    },
    baseline: [amountAtLeast(500)],
  },
  {
    rule: {
      id: 'gold-electronics',
      name: 'Gold and platinum: 1 more point per EUR on electronics, at most 250 per order',
      eventTypes: ['purchase'],
      condition:
        "member.tier in ['gold', 'platinum'] && " +
        "event.attributes.?category.orValue('') == 'electronics'",
      effect: { type: 'earn', pointsPerUnit: '1' },
      caps: { perEvent: 250 },
    },
    baseline: [
      { fact: 'member', path: '$.tier', operator: 'in', value: ['gold', 'platinum'] },
      category('electronics'),
    ],
  },
  {
    rule: {
      id: 'students-app',
      name: '1.25× for students in the app',
      eventTypes: ['purchase'],
      condition:
        "'student' in member.attributes.?segments.orValue([]) && " +
        "event.attributes.?channel.orValue('') == 'app'",
      effect: { type: 'multiplier', factor: '1.25' },
    },
    baseline: [
      { fact: 'member', path: '$.attributes.segments', operator: 'contains', value: 'student' },
      channelIn(['app']),
    ],
  },
  {
    rule: {
      id: 'welcome',
      name: "100 points on a new member's first purchase",
      eventTypes: ['purchase'],
      condition: 'member.isNew',
      effect: { type: 'bonus', points: 100 },
    },
    baseline: [{ fact: 'member', path: '$.isNew', operator: 'equal', value: true }],
  },
  {
    rule: {
      id: 'review',
      name: '20 points per review',
      eventTypes: ['review'],
      effect: { type: 'bonus', points: 20 },
    },
    baseline: [],
  },
  {
    // Rarely fires: one day of the four weeks, one category.
    rule: {
      id: 'launch-day',
      name: 'Triple points on electronics on launch day',
      eventTypes: ['purchase'],
      condition:
        "local.date == '2026-03-14' && event.attributes.?category.orValue('') == 'electronics'",
      effect: { type: 'multiplier', factor: '3' },
    },
    baseline: [
      { fact: 'local', path: '$.date', operator: 'equal', value: '2026-03-14' },
      category('electronics'),
    ],
  },
  {
    // A disabled rule stays in the document (Patron skips it); in json-rules-engine it is
    // simply not added, which is how one switches a rule off there.
    rule: {
      id: 'kiosk-promo',
      name: 'Five times the points at the self-service kiosks (ended)',
      eventTypes: ['purchase'],
      condition: "event.attributes.?channel.orValue('') == 'kiosk'",
      effect: { type: 'multiplier', factor: '5' },
      enabled: false,
    },
    baseline: [channelIn(['kiosk'])],
  },
];

const PROGRAM = {
  name: 'Retail and e-shop (rule bench)',
  timeZone: TIME_ZONE,
  currencies: [CURRENCY],
  eventTypes: {
    purchase: { kind: 'purchase' },
    refund: { kind: 'refund' },
    review: { kind: 'custom', amount: 'forbidden' },
  },
  rules: RULES.map((r) => r.rule),
  // The retail reference program's tiers, so both engines see its tier multipliers.
  tiers: programTemplate('retail').tiers,
  settings: { maxPointsPerEvent: 4000 },
};

// ---------------------------------------------------------------------------------------
// Events and members.

/** mulberry32: small, fast and the same on every machine, so every run sees the same events. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function weighted<T>(random: () => number, choices: readonly (readonly [T, number])[]): T {
  const total = choices.reduce((sum, [, weight]) => sum + weight, 0);
  let left = random() * total;
  for (const [value, weight] of choices) {
    left -= weight;
    if (left < 0) return value;
  }
  return (choices[choices.length - 1] as readonly [T, number])[0];
}

function integerBetween(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

const STORES = ['prague-1', 'prague-2', 'prague-3', 'brno-1', 'brno-2', 'ostrava-1', 'plzen-1'];
const CATEGORIES = [
  ['groceries', 40],
  ['electronics', 10],
  ['fashion', 15],
  ['home', 10],
  ['garden', 5],
  ['beauty', 10],
  ['toys', 10],
] as const;

interface MemberVariants {
  regular: EvaluationInput['member'];
  /** The same member at their first event, when they joined during the period. */
  first: EvaluationInput['member'];
  seen: boolean;
}

function makeMembers(random: () => number, count: number): MemberVariants[] {
  return Array.from({ length: count }, (_, index) => {
    const tierId = weighted<string | null>(random, [
      [null, 5],
      ['bronze', 50],
      ['silver', 25],
      ['gold', 15],
      ['platinum', 5],
    ]);
    const attributes: Record<string, unknown> = {
      segments: weighted(random, [
        [[], 60],
        [['student'], 12],
        [['family'], 20],
        [['family', 'student'], 3],
        [['senior'], 5],
      ]),
      newsletter: random() < 0.4,
    };
    // Online-only members have no home store.
    if (random() < 0.75) attributes['homeStore'] = STORES[integerBetween(random, 0, 6)];
    const regular = { id: `m${index}`, tierId, isNew: false, attributes };
    const joinsNow = random() < 0.1;
    return { regular, first: { ...regular, isNew: joinsNow }, seen: false };
  });
}

/** Cents in three bands: everyday baskets, bigger shops, the occasional large order. */
function amountCents(random: () => number): number {
  const band = random();
  if (band < 0.7) return integerBetween(random, 150, 8_000);
  if (band < 0.95) return integerBetween(random, 8_000, 40_000);
  return integerBetween(random, 40_000, 200_000);
}

function decimal(cents: number): string {
  return `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
}

/** Shop opening hours in UTC, busiest in the evening; online orders come at any hour. */
const STORE_HOURS_UTC = Array.from({ length: 13 }, (_, i) => [i + 6, i >= 9 ? 3 : 2] as const);
const ANY_HOUR_UTC = Array.from({ length: 24 }, (_, i) => [i, i >= 5 && i <= 21 ? 3 : 1] as const);

interface GeneratedEvents {
  inputs: EvaluationInput[];
  members: number;
}

function makeEvents(count: number, document: ProgramDocument): GeneratedEvents {
  const random = seededRandom(SEED);
  const members = makeMembers(random, Math.max(1, Math.ceil(count / EVENTS_PER_MEMBER)));
  const inputs: EvaluationInput[] = [];
  for (let index = 0; index < count; index += 1) {
    const variants = members[integerBetween(random, 0, members.length - 1)] as MemberVariants;
    const member = variants.seen ? variants.regular : variants.first;
    variants.seen = true;
    const isReview = random() < 0.08;
    const channel = isReview
      ? 'web'
      : weighted(random, [
          ['store', 55],
          ['web', 22],
          ['app', 15],
          ['partner', 8],
        ]);
    const hourUtc = weighted(random, channel === 'store' ? STORE_HOURS_UTC : ANY_HOUR_UTC);
    const occurredAt = new Date(
      PERIOD_START_MS +
        integerBetween(random, 0, PERIOD_DAYS - 1) * 24 * HOUR_MS +
        hourUtc * HOUR_MS +
        integerBetween(random, 0, HOUR_MS - 1),
    );
    const attributes: Record<string, unknown> = { channel };
    let partnerId: string | undefined;
    if (isReview) {
      attributes['rating'] = integerBetween(random, 1, 5);
    } else if (channel === 'partner') {
      partnerId = random() < 0.7 ? 'fuelco' : 'skyair';
      attributes['category'] = partnerId === 'fuelco' ? 'fuel' : 'travel';
    } else {
      attributes['category'] = weighted(random, CATEGORIES);
      if (channel === 'store') attributes['storeId'] = STORES[integerBetween(random, 0, 6)];
    }
    let amount: NonNullable<EvaluationInput['event']['amount']> | undefined;
    if (!isReview) {
      const value = decimal(
        partnerId === 'skyair' ? integerBetween(random, 5_000, 90_000) : amountCents(random),
      );
      const parsed = parseAmount(value, CURRENCY);
      assert(parsed.ok, `generated amount ${value} must parse`);
      amount = { minor: parsed.minor, currency: CURRENCY, value };
    }
    inputs.push({
      event: {
        id: `e${index}`,
        type: isReview ? 'review' : 'purchase',
        memberId: member.id,
        occurredAt,
        ...(amount ? { amount } : {}),
        attributes,
        ...(partnerId ? { partnerId } : {}),
      },
      member,
      local: localTime(occurredAt, document.timeZone),
      capUsage: new Map(),
    });
  }
  return { inputs, members: members.length };
}

// ---------------------------------------------------------------------------------------
// json-rules-engine: the same rules, and points computed from the rules it says fired.

type Effect =
  | { type: 'earn'; pointsPerUnit: Fraction; perEvent: Fraction | null }
  | { type: 'multiplier'; factor: Fraction }
  | { type: 'bonus'; points: bigint };

interface PointsModel {
  effects: Map<string, Effect>;
  tierFactors: Map<string, Fraction>;
  pointsCap: bigint;
}

function pointsModel(document: ProgramDocument): PointsModel {
  const effects = new Map<string, Effect>();
  for (const rule of document.rules) {
    // The bench's own arithmetic has no cap usage to consult, so it must not meet one.
    assert(rule.caps?.perMember === undefined, `rule "${rule.id}": perMember caps not modelled`);
    const perEvent = rule.caps?.perEvent;
    const effect = rule.effect;
    if (effect.type === 'earn') {
      effects.set(rule.id, {
        type: 'earn',
        pointsPerUnit: Fraction.fromDecimal(effect.pointsPerUnit),
        perEvent: perEvent === undefined ? null : new Fraction(BigInt(perEvent)),
      });
    } else if (effect.type === 'multiplier') {
      effects.set(rule.id, { type: 'multiplier', factor: Fraction.fromDecimal(effect.factor) });
    } else {
      const points = BigInt(effect.points);
      const capped =
        perEvent !== undefined && BigInt(perEvent) < points ? BigInt(perEvent) : points;
      effects.set(rule.id, { type: 'bonus', points: capped });
    }
  }
  const tierFactors = new Map(
    (document.tiers?.levels ?? []).map((l) => [l.id, Fraction.fromDecimal(l.multiplier ?? '1')]),
  );
  const pointsCap = BigInt(document.settings?.maxPointsPerEvent ?? Number.MAX_SAFE_INTEGER);
  return { effects, tierFactors, pointsCap };
}

function pointsFromFired(model: PointsModel, input: EvaluationInput, fired: string[]): bigint {
  let combined = Fraction.ONE;
  for (const id of fired) {
    const effect = model.effects.get(id);
    if (effect?.type === 'multiplier') combined = combined.mul(effect.factor);
  }
  const tierId = input.member.tierId;
  const tierFactor = tierId === null ? undefined : model.tierFactors.get(tierId);
  if (tierFactor !== undefined) combined = combined.mul(tierFactor);
  const amount = input.event.amount;
  const units = amount ? new Fraction(amount.minor, 100n) : Fraction.ZERO;
  let earned = Fraction.ZERO;
  let bonus = 0n;
  for (const id of fired) {
    const effect = model.effects.get(id);
    if (effect?.type === 'earn') {
      let points = units.mul(effect.pointsPerUnit).mul(combined);
      if (effect.perEvent !== null && points.compare(effect.perEvent) > 0) points = effect.perEvent;
      earned = earned.add(points);
    } else if (effect?.type === 'bonus') {
      bonus += effect.points;
    }
  }
  const total = earned.floor() + bonus;
  return total > model.pointsCap ? model.pointsCap : total;
}

function baselineEngine(document: ProgramDocument, options: EngineOptions): Engine {
  const engine = new Engine([], options);
  for (const { rule, baseline } of RULES) {
    if (rule.enabled === false) continue;
    const all: Conditions = [
      { fact: 'event', path: '$.type', operator: 'in', value: rule.eventTypes },
      // Patron never fires an earn rule on an event without an amount.
      ...(rule.effect.type === 'earn'
        ? [{ fact: 'event', path: '$.hasAmount', operator: 'equal', value: true }]
        : []),
      ...baseline,
    ];
    engine.addRule({ name: rule.id, conditions: { all }, event: { type: rule.id } });
  }
  assert(
    document.rules.length === RULES.length,
    'the document and the baseline hold the same rules',
  );
  return engine;
}

/**
 * Plain `$.a.b` property paths through json-rules-engine's pathResolver option: every path
 * here is one, and a tuned deployment would skip JSONPath, so the ratio is also shown
 * against that stronger baseline.
 */
function plainPathResolver(): EngineOptions['pathResolver'] {
  const cache = new Map<string, string[]>();
  return (value, path) => {
    let keys = cache.get(path);
    if (keys === undefined) {
      keys = path.split('.').slice(1);
      cache.set(path, keys);
    }
    let current: unknown = value;
    for (const key of keys) {
      if (current === null || typeof current !== 'object') return undefined;
      current = (current as Record<string, unknown>)[key];
    }
    return current;
  };
}

async function baselineFired(engine: Engine, input: EvaluationInput): Promise<string[]> {
  const { event, member, local } = input;
  const result = await engine.run({
    event: {
      type: event.type,
      amount: event.amount ? Number(event.amount.value) : 0,
      hasAmount: event.amount !== undefined,
      attributes: event.attributes,
      partnerId: event.partnerId ?? '',
    },
    member: { tier: member.tierId ?? '', isNew: member.isNew, attributes: member.attributes },
    local,
  });
  return result.events.map((e) => e.type);
}

// ---------------------------------------------------------------------------------------
// Verification and timing.

function describeInput(input: EvaluationInput): string {
  return JSON.stringify(
    { event: input.event, member: input.member, local: input.local },
    (_key, value: unknown) => (typeof value === 'bigint' ? `${value}n` : value),
  );
}

interface Verification {
  firedPerEvent: number;
  firesByRule: Map<string, number>;
  pointsTotal: bigint;
  /** Events on which a rule's perEvent cap, or the program's maxPointsPerEvent, bound. */
  cappedPerEvent: number;
  cappedTotal: number;
}

async function verify(
  program: CompiledProgram,
  engines: { name: string; engine: Engine }[],
  model: PointsModel,
  inputs: EvaluationInput[],
): Promise<Verification> {
  const firesByRule = new Map(RULES.map((r) => [r.rule.id, 0]));
  let fired = 0;
  let pointsTotal = 0n;
  let cappedPerEvent = 0;
  let cappedTotal = 0;
  for (const input of inputs) {
    const evaluation = program.evaluate(input);
    const patronFired = evaluation.trace.rules.filter((r) => r.fired).map((r) => r.id);
    if (evaluation.trace.rules.some((r) => r.capped?.by === 'perEvent')) cappedPerEvent += 1;
    if (evaluation.trace.capped !== undefined) cappedTotal += 1;
    for (const id of patronFired) firesByRule.set(id, (firesByRule.get(id) ?? 0) + 1);
    fired += patronFired.length;
    pointsTotal += evaluation.points;
    for (const { name, engine } of engines) {
      const baselineRules = await baselineFired(engine, input);
      const points = pointsFromFired(model, input, baselineRules);
      if (points !== evaluation.points) {
        throw new Error(
          `${name} and Patron disagree on event ${input.event.id}: ` +
            `Patron ${evaluation.points} points (fired: ${patronFired.join(', ')}), ` +
            `${name} ${points} points (fired: ${baselineRules.sort().join(', ')})\n` +
            `  input: ${describeInput(input)}`,
        );
      }
    }
  }
  return {
    firedPerEvent: fired / inputs.length,
    firesByRule,
    pointsTotal,
    cappedPerEvent,
    cappedTotal,
  };
}

function timePatron(program: CompiledProgram, inputs: EvaluationInput[]): number {
  let sink = 0n;
  const started = performance.now();
  for (const input of inputs) sink += program.evaluate(input).points;
  const seconds = (performance.now() - started) / 1000;
  // Using the result keeps the loop from being optimised into nothing.
  assert(sink >= 0n);
  return inputs.length / seconds;
}

async function timeBaseline(
  engine: Engine,
  model: PointsModel,
  inputs: EvaluationInput[],
): Promise<number> {
  let sink = 0n;
  const started = performance.now();
  for (const input of inputs)
    sink += pointsFromFired(model, input, await baselineFired(engine, input));
  const seconds = (performance.now() - started) / 1000;
  assert(sink >= 0n);
  return inputs.length / seconds;
}

function timeLocalTime(inputs: EvaluationInput[], timeZone: string): number {
  // Shifted by a year so that localTime's per-minute cache, filled when the events were
  // made, does not answer: this is the cost of an event whose minute has not been seen.
  const instants = inputs.map((i) => new Date(i.event.occurredAt.getTime() + 365 * 24 * HOUR_MS));
  let sink = 0;
  const started = performance.now();
  for (const instant of instants) sink += localTime(instant, timeZone).hour;
  const seconds = (performance.now() - started) / 1000;
  assert(sink >= 0);
  return instants.length / seconds;
}

const rate = (perSecond: number) => String(Math.round(perSecond));

export interface RuleBenchResult {
  patronPerSecond: number;
  baselinePerSecond: number;
  ratio: number;
  rules: number;
  events: number;
}

export async function runRuleBench(
  options: { events?: number; log?: (line: string) => void } = {},
): Promise<RuleBenchResult> {
  const events = options.events ?? EVENTS_DEFAULT;
  const log = options.log ?? ((line: string) => console.log(line));
  assert(Number.isInteger(events) && events > 0, `events must be a positive integer: ${events}`);

  const validated = validateProgramDocument(PROGRAM);
  if (!validated.ok) {
    const errors = validated.errors.map((e) => `${e.pointer} ${e.detail}`).join('; ');
    throw new Error(`the bench program is invalid: ${errors}`);
  }
  const document = validated.document;
  const program = compileProgram(document, 1);
  const model = pointsModel(document);
  const jsonPath = baselineEngine(document, {});
  const plainPaths = baselineEngine(document, { pathResolver: plainPathResolver() });
  const { inputs, members } = makeEvents(events, document);
  const enabled = document.rules.filter((r) => r.enabled !== false).length;

  const checked = await verify(
    program,
    [
      { name: 'json-rules-engine', engine: jsonPath },
      { name: 'json-rules-engine (plain paths)', engine: plainPaths },
    ],
    model,
    inputs,
  );
  const neverFired = [...checked.firesByRule].filter(([, count]) => count === 0).map(([id]) => id);
  log(
    `rules: ${document.rules.length} rules (${enabled} enabled), ${events} events of ` +
      `${members} members over ${PERIOD_DAYS} days in ${document.timeZone}; ` +
      `${checked.firedPerEvent.toFixed(2)} rules fire per event, ${checked.pointsTotal} points, ` +
      `a perEvent cap bound on ${checked.cappedPerEvent} events, maxPointsPerEvent on ` +
      `${checked.cappedTotal}; ` +
      `points identical in both engines for every event` +
      (neverFired.length > 0 ? `; never fired: ${neverFired.join(', ')}` : ''),
  );
  log(
    `rules: fires per rule: ${[...checked.firesByRule].map(([id, n]) => `${id} ${n}`).join(', ')}`,
  );

  const patronRounds: number[] = [];
  const jsonPathRounds: number[] = [];
  const plainPathRounds: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    patronRounds.push(timePatron(program, inputs));
    jsonPathRounds.push(await timeBaseline(jsonPath, model, inputs));
    plainPathRounds.push(await timeBaseline(plainPaths, model, inputs));
  }
  const patronPerSecond = median(patronRounds);
  const baselinePerSecond = median(jsonPathRounds);
  const plainPerSecond = median(plainPathRounds);
  const ratio = patronPerSecond / baselinePerSecond;

  log(
    `rules: ${ROUNDS} rounds, ev/s — patron ${patronRounds.map(rate).join(' ')}; ` +
      `json-rules-engine ${jsonPathRounds.map(rate).join(' ')}; ` +
      `with plain paths ${plainPathRounds.map(rate).join(' ')}`,
  );
  log(
    `rules: json-rules-engine with a plain property-path resolver instead of JSONPath: ` +
      `${rate(plainPerSecond)} ev/s (patron ${(patronPerSecond / plainPerSecond).toFixed(1)}x); ` +
      `localTime() for an unseen minute, once per event before either engine: ` +
      `${rate(timeLocalTime(inputs, document.timeZone))} ev/s`,
  );
  log(
    `rules: patron ${rate(patronPerSecond)} ev/s, json-rules-engine ${rate(baselinePerSecond)} ev/s ` +
      `(${ratio.toFixed(1)}x), ${document.rules.length} rules, ${events} events`,
  );
  return { patronPerSecond, baselinePerSecond, ratio, rules: document.rules.length, events };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    await runRuleBench();
  } catch (error) {
    console.error(`\nRULE BENCH FAILED: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
