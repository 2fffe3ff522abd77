// Rule traces are stored with every event, so they are kept small: what is fixed by the
// program version (rule names, effects, time zone, the tier metric and window) or by the
// event's own row (its version, local time and amount) is left out and put back when the
// event is explained, as are rules that do not apply to the event's type, the most common
// reason a rule did not fire, the multipliers (the fired multiplier rules and the tier's, in
// order) and their product, the rounding (down, of beforeRounding, to its whole part), empty
// segment changes and the sentence that states the tier decision. Traces stored before a
// field was left out keep it, and explain leaves what a trace has as it is.
import { Fraction } from '../money/index.ts';
import { localTime, type ProgramDocument } from '../rules/index.ts';
import { windowDaysAt } from '../tiers/index.ts';

type Json = Record<string, unknown>;

const STATIC_RULE_FIELDS = new Set(['name', 'type', 'factor', 'pointsPerUnit', 'points']);
/** Why most rules that do not fire did not: left out of stored traces, put back by explain. */
const CONDITION_FALSE = 'condition is false';

function notForType(reason: unknown): boolean {
  return typeof reason === 'string' && reason.startsWith('event type ');
}

/**
 * The stored form of an engine trace, with `extra` (partner, segments, tier, …) added at its
 * end. Written as plain loops over the keys: it runs once per event, and the version with
 * spreads, `Object.entries` and a filter-map measured 9 µs per event against about 1 µs.
 * The multipliers and their product are left out only when explain derives the very same
 * list from the rules and the tier the event was evaluated at (checked here, per event).
 */
export function compactTrace(trace: Json, extra: Json, document: ProgramDocument): Json {
  const compact: Json = {};
  const derivable =
    Array.isArray(trace.rules) &&
    multipliersDerivable(
      trace.rules as Json[],
      trace.multipliers,
      tierMultiplier(document, extra.tier),
    );
  const roundingDerivable =
    Array.isArray(trace.rules) && isDerivedRounding(trace.rounding, trace.beforeRounding);
  for (const key in trace) {
    if (FROM_THE_EVENT.has(key)) continue;
    if (derivable && DERIVED.has(key)) continue;
    if (roundingDerivable && key === 'rounding') continue;
    const value = trace[key];
    if (key === 'rules' && Array.isArray(value)) compact.rules = compactRules(value as Json[]);
    else compact[key] = value;
  }
  for (const key in extra) compact[key] = extra[key];
  return compact;
}

/** Put back from the trace's rules and tier: the multipliers and their product. */
const DERIVED = new Set(['multipliers', 'combinedMultiplier']);

interface Multiplier {
  source: string;
  factor: string;
}

/** The multiplier of the tier an event was evaluated at, as the engine applies it. */
function tierMultiplier(document: ProgramDocument, tier: unknown): Multiplier | undefined {
  if (tier === null || typeof tier !== 'object') return undefined;
  const before = (tier as Partial<StoredTierTrace>).before;
  if (typeof before !== 'string') return undefined;
  const level = document.tiers?.levels.find((l) => l.id === before);
  return level ? { source: `tier:${before}`, factor: level.multiplier ?? '1' } : undefined;
}

/** Is `multipliers` exactly the fired multiplier rules' factors, in order, then the tier's? */
function multipliersDerivable(
  rules: Json[],
  multipliers: unknown,
  tier: Multiplier | undefined,
): boolean {
  if (!Array.isArray(multipliers)) return false;
  let at = 0;
  for (const rule of rules) {
    if (rule.fired !== true || rule.type !== 'multiplier') continue;
    const m = multipliers[at] as Multiplier | undefined;
    if (m?.source !== `rule:${String(rule.id)}` || m.factor !== rule.factor) return false;
    at += 1;
  }
  if (tier !== undefined) {
    const m = multipliers[at] as Multiplier | undefined;
    if (m?.source !== tier.source || m.factor !== tier.factor) return false;
    at += 1;
  }
  return at === multipliers.length;
}

/**
 * The engine rounds the exact earned points down once: from beforeRounding (exact, or cut at
 * six decimal places, which never crosses a whole number) to its whole part.
 */
function derivedRounding(beforeRounding: string) {
  return { mode: 'down', from: beforeRounding, to: Number(beforeRounding.split('.')[0]) };
}

function isDerivedRounding(rounding: unknown, beforeRounding: unknown): boolean {
  if (typeof beforeRounding !== 'string' || rounding === null || typeof rounding !== 'object')
    return false;
  const r = rounding as Json;
  const d = derivedRounding(beforeRounding);
  return Object.keys(r).length === 3 && r.mode === d.mode && r.from === d.from && r.to === d.to;
}

/** The multipliers and their product, as the engine computed them (see engine.ts, step 2). */
function derivedMultipliers(rules: Json[], tier: Multiplier | undefined): Json {
  const multipliers: Multiplier[] = [];
  let combined = Fraction.ONE;
  for (const rule of rules) {
    if (rule.fired !== true || rule.type !== 'multiplier') continue;
    const factor = String(rule.factor);
    multipliers.push({ source: `rule:${String(rule.id)}`, factor });
    combined = combined.mul(Fraction.fromDecimal(factor));
  }
  if (tier !== undefined) {
    multipliers.push(tier);
    combined = combined.mul(Fraction.fromDecimal(tier.factor));
  }
  return { multipliers, combinedMultiplier: combined.toDecimal() };
}

/** Put back from the event's row and its version: its version, local time and amount. */
const FROM_THE_EVENT = new Set(['programVersion', 'local', 'amount']);

function compactRules(rules: Json[]): Json[] {
  const kept: Json[] = [];
  for (const rule of rules) {
    if (rule.fired === false && notForType(rule.reason)) continue;
    // A rule an experiment swapped in or added is not in the version's rules: kept whole.
    if (rule.source !== undefined) {
      kept.push(rule);
      continue;
    }
    const facts: Json = {};
    for (const key in rule) {
      if (STATIC_RULE_FIELDS.has(key)) continue;
      if (key === 'reason' && rule.fired === false && rule.reason === CONDITION_FALSE) continue;
      facts[key] = rule[key];
    }
    kept.push(facts);
  }
  return kept;
}

/** A tier decision as stored: the metric's value and the tier before and after the event. */
export interface StoredTierTrace {
  value: number;
  before: string | null;
  after: string | null;
}

/** What explain knows of the event besides its stored trace. */
export interface ExplainedEvent {
  type: string;
  programVersion: number;
  occurredAt: Date;
  /** When it was processed: the instant its tier window was evaluated at. */
  receivedAt: Date;
  /** As sent, when it had one. */
  amount: { value: string; currency: string } | null;
}

export function expandTrace(stored: Json, document: ProgramDocument, event: ExplainedEvent): Json {
  const rules = Array.isArray(stored.rules) ? (stored.rules as Json[]) : undefined;
  const out: Json = { programVersion: stored.programVersion ?? event.programVersion };
  if (rules) {
    const { date, weekday, hour } = stored.local
      ? (stored.local as { date: string; weekday: number; hour: number })
      : localTime(event.occurredAt, document.timeZone);
    out.local = { date, weekday, hour, timeZone: document.timeZone };
    if (stored.amount !== undefined) out.amount = stored.amount;
    else if (event.amount)
      out.amount = { value: event.amount.value, currency: event.amount.currency };
  }
  // Traces that left the multipliers and the rounding out get them back where the engine put
  // them: the multipliers after the rules and campaigns, the rounding after beforeRounding.
  const derive = rules !== undefined && stored.multipliers === undefined;
  for (const key in stored) {
    if (key in out) continue;
    if (derive && key === 'beforeRounding')
      Object.assign(
        out,
        derivedMultipliers(out.rules as Json[], tierMultiplier(document, stored.tier)),
      );
    if (key === 'beforeRounding' && rules && stored.rounding === undefined) {
      out.beforeRounding = stored.beforeRounding;
      out.rounding = derivedRounding(String(stored.beforeRounding));
    } else if (key === 'rules' && rules) out.rules = expandRules(rules, document, event.type);
    else if (key === 'tier') {
      if (stored.segments === undefined) out.segments = { in: [], entered: [], left: [] };
      out.tier = expandTier(stored.tier, document, event, stored.kind === 'refund');
    } else out[key] = stored[key];
  }
  return out;
}

function expandRules(rules: Json[], document: ProgramDocument, eventType: string): Json[] {
  const byId = new Map(rules.map((r) => [r.id as string, r]));
  const expanded = document.rules.map((rule) => {
    const effect = rule.effect as Json;
    const fixed: Json = {
      id: rule.id,
      name: rule.name,
      type: effect.type,
      ...(effect.type === 'multiplier' ? { factor: effect.factor } : {}),
      ...(effect.type === 'earn' ? { pointsPerUnit: effect.pointsPerUnit } : {}),
      ...(effect.type === 'bonus' ? { points: effect.points } : {}),
    };
    const facts = byId.get(rule.id);
    if (facts && facts.fired === false && facts.reason === undefined)
      return { ...fixed, ...facts, reason: CONDITION_FALSE };
    if (facts) return { ...fixed, ...facts };
    return {
      ...fixed,
      fired: false,
      reason: `event type "${eventType}" is not one of [${rule.eventTypes.map((t) => `"${t}"`).join(', ')}]`,
    };
  });
  const known = new Set(document.rules.map((rule) => rule.id));
  const added = rules.filter((r) => !known.has(r.id as string));
  return [...expanded, ...added];
}

/**
 * The tier decision in full: the version's metric and window (its days as of the instant the
 * event was processed), whether the tier changed, and why, in a sentence.
 */
function expandTier(
  stored: unknown,
  document: ProgramDocument,
  event: ExplainedEvent,
  refund: boolean,
): unknown {
  const tiers = document.tiers;
  if (!tiers || stored === null || typeof stored !== 'object' || 'decision' in stored)
    return stored;
  const { value, before, after } = stored as StoredTierTrace;
  const range = windowDaysAt(tiers.window, document.timeZone, event.receivedAt);
  const changed = before !== after;
  return {
    metric: tiers.metric.type,
    window: { ...tiers.window, from: range.from, to: range.to },
    value,
    before,
    after,
    changed,
    decision: changed
      ? `${refund ? 'refund moved' : 'threshold crossed: moved'} from ${before ?? 'none'} to ${after}; this event earned at ${before ?? 'no tier'}`
      : `stays ${after ?? 'without a tier'}`,
  };
}
