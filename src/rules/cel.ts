// The CEL environment rule conditions are written in. Variables are declared as typed
// objects, so a typo (`local.wekday`, `lcoal.weekday`) or a type error (`local.date == 1`)
// is rejected when the program is saved, with its position, not when an event arrives.
// Integers are CEL `int` (bigint at run time); amounts are `double` and serve comparisons
// only — points are computed from the exact decimal amount by the engine.

import { Environment, type ParseResult } from '@marcbachmann/cel-js';
import type { LocalTime } from './local-time.ts';

/** Longest condition accepted, so parsing stays bounded. */
export const CONDITION_LENGTH_MAX = 2000;

const env = new Environment({
  enableOptionalTypes: true,
  limits: {
    maxAstNodes: 1000,
    maxDepth: 50,
    maxListElements: 200,
    maxMapEntries: 200,
    maxCallArguments: 8,
  },
})
  .registerVariable({
    name: 'event',
    description: 'The event being evaluated',
    schema: {
      id: 'string',
      type: 'string',
      memberId: 'string',
      amount: 'double',
      currency: 'string',
      hasAmount: 'bool',
      attributes: 'map<string, dyn>',
      partnerId: 'string',
    },
  })
  .registerVariable({
    name: 'member',
    description: 'The member the event belongs to, as before the event',
    schema: {
      id: 'string',
      tier: 'string',
      isNew: 'bool',
      attributes: 'map<string, dyn>',
      metrics: {
        lifetimeSpend: 'double',
        points: 'int',
        events: 'int',
        daysSinceLastEvent: 'int',
        recency: 'int',
        frequency: 'int',
        monetary: 'int',
        counters: 'map<string, int>',
      },
      segments: 'list<string>',
    },
  })
  .registerVariable({
    name: 'local',
    description: "The event's local time in the program's time zone",
    schema: {
      date: 'string',
      weekday: 'int',
      hour: 'int',
      minute: 'int',
      month: 'int',
      day: 'int',
      year: 'int',
    },
  });

export interface CelError {
  /** A short human description, e.g. "unknown variable 'lcoal'". */
  message: string;
  /** 0-based offset into the source. */
  offset: number;
  /** 1-based line and column. */
  line: number;
  column: number;
}

export type CompiledCondition = ParseResult;

export type ConditionCompileResult =
  { ok: true; condition: CompiledCondition } | { ok: false; error: CelError };

/** Parses and type-checks a condition; it must be a `bool` expression. */
export function compileCondition(source: string): ConditionCompileResult {
  if (source.length > CONDITION_LENGTH_MAX) {
    return { ok: false, error: at(source, 0, `longer than ${CONDITION_LENGTH_MAX} characters`) };
  }
  let condition: ParseResult;
  try {
    condition = env.parse(source);
  } catch (error) {
    return { ok: false, error: describe(source, error) };
  }
  const check = condition.check();
  if (!check.valid) return { ok: false, error: describe(source, check.error) };
  if (check.type !== 'bool') {
    return { ok: false, error: at(source, 0, `the condition is of type ${check.type}, not bool`) };
  }
  return { ok: true, condition };
}

export interface ConditionInput {
  event: {
    id: string;
    type: string;
    memberId: string;
    /** The amount as a double, for comparisons only; 0 when the event has none. */
    amount: number;
    currency: string;
    hasAmount: boolean;
    attributes: Record<string, unknown>;
    partnerId: string;
  };
  member: {
    id: string;
    tier: string;
    isNew: boolean;
    attributes: Record<string, unknown>;
    metrics?: MemberMetrics;
    segments?: readonly string[];
  };
  local: LocalTime;
}

/** A member's computed metrics as rules see them (see src/segments). */
export interface MemberMetrics {
  /** Purchases minus refunds in the program's first currency, in whole units. */
  lifetimeSpend: number;
  points: bigint;
  events: bigint;
  /** Days from the member's previous event to this one (or to now); -1 before any event. */
  daysSinceLastEvent: bigint;
  /** RFM scores 1-5; 0 when the program sets no RFM thresholds. */
  recency: bigint;
  frequency: bigint;
  monetary: bigint;
  counters: Record<string, bigint>;
}

const NO_METRICS: MemberMetrics = {
  lifetimeSpend: 0,
  points: 0n,
  events: 0n,
  daysSinceLastEvent: -1n,
  recency: 0n,
  frequency: 0n,
  monetary: 0n,
  counters: {},
};

/** The activation (variables) for one event; build it once and share it across rules. */
export function celActivation(input: ConditionInput): Record<string, unknown> {
  const { local } = input;
  return {
    event: input.event,
    member: {
      ...input.member,
      metrics: input.member.metrics ?? NO_METRICS,
      segments: input.member.segments ?? [],
    },
    local: {
      date: local.date,
      weekday: BigInt(local.weekday),
      hour: BigInt(local.hour),
      minute: BigInt(local.minute),
      month: BigInt(local.month),
      day: BigInt(local.day),
      year: BigInt(local.year),
    },
  };
}

export type ConditionOutcome = { ok: true; value: boolean } | { ok: false; message: string };

/** Runs a compiled condition; a CEL run-time error is an outcome, never an exception. */
export function runCondition(
  condition: CompiledCondition,
  activation: Record<string, unknown>,
): ConditionOutcome {
  try {
    const value: unknown = condition(activation);
    if (typeof value !== 'boolean') return { ok: false, message: `result is not a bool` };
    return { ok: true, value };
  } catch (error) {
    return { ok: false, message: summaryOf(error) };
  }
}

function summaryOf(error: unknown): string {
  if (error && typeof error === 'object') {
    const summary = (error as { summary?: unknown }).summary;
    if (typeof summary === 'string') return summary;
  }
  return error instanceof Error ? (error.message.split('\n')[0] ?? error.message) : String(error);
}

function describe(source: string, error: unknown): CelError {
  const details = (error ?? {}) as { code?: string; range?: { start: number } };
  const summary = summaryOf(error);
  let message = summary;
  const subject = /:\s*(.+)$/.exec(summary)?.[1];
  if (details.code === 'unknown_variable' && subject) message = `unknown variable '${subject}'`;
  if (details.code === 'no_such_key' && subject) message = `unknown field '${subject}'`;
  return at(source, details.range?.start ?? 0, message);
}

function at(source: string, offset: number, message: string): CelError {
  const before = source.slice(0, offset).split('\n');
  const line = before.length;
  const column = (before[before.length - 1] ?? '').length + 1;
  return { message, offset, line, column };
}
