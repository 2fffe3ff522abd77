// Rule traces are stored with every event, so they are kept small: what is fixed by the
// program version (rule names, effects, time zone) is left out and put back from that
// immutable version when the event is explained, and rules that do not apply to the event's
// type are not listed at all.
import type { ProgramDocument } from '../rules/index.ts';

type Json = Record<string, unknown>;

const STATIC_RULE_FIELDS = ['name', 'type', 'factor', 'pointsPerUnit', 'points'];

function notForType(reason: unknown): boolean {
  return typeof reason === 'string' && reason.startsWith('event type ');
}

export function compactTrace(trace: Json): Json {
  const rules = Array.isArray(trace.rules) ? (trace.rules as Json[]) : undefined;
  if (!rules) return trace;
  const compact: Json = { ...trace };
  compact.rules = rules
    .filter((r) => !(r.fired === false && notForType(r.reason)))
    .map((r) => {
      // A rule an experiment swapped in or added is not in the version's rules: kept whole.
      if (r.source !== undefined) return r;
      const kept: Json = {};
      for (const [key, value] of Object.entries(r))
        if (!STATIC_RULE_FIELDS.includes(key)) kept[key] = value;
      return kept;
    });
  if (trace.local && typeof trace.local === 'object') {
    const { timeZone: _zone, ...local } = trace.local as Json;
    compact.local = local;
  }
  return compact;
}

export function expandTrace(stored: Json, document: ProgramDocument, eventType: string): Json {
  const rules = Array.isArray(stored.rules) ? (stored.rules as Json[]) : undefined;
  if (!rules) return stored;
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
    if (facts) return { ...fixed, ...facts };
    return {
      ...fixed,
      fired: false,
      reason: `event type "${eventType}" is not one of [${rule.eventTypes.map((t) => `"${t}"`).join(', ')}]`,
    };
  });
  const known = new Set(document.rules.map((rule) => rule.id));
  const added = rules.filter((r) => !known.has(r.id as string));
  return {
    ...stored,
    ...(stored.local ? { local: { ...(stored.local as Json), timeZone: document.timeZone } } : {}),
    rules: [...expanded, ...added],
  };
}
