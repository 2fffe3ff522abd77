import { parseAmount } from '../../src/money/index.ts';
import {
  compileProgram,
  localTime,
  validateProgramDocument,
  type CompiledProgram,
  type Evaluation,
  type EvaluationInput,
} from '../../src/rules/index.ts';

/** Validates (so defaults apply) and compiles a document, failing loudly if it is invalid. */
export function compile(document: unknown, version = 1): CompiledProgram {
  const result = validateProgramDocument(document);
  if (!result.ok) throw new Error(`invalid test program: ${JSON.stringify(result.errors)}`);
  return compileProgram(result.document, version);
}

export interface EventSpec {
  type?: string;
  at: string;
  amount?: string;
  currency?: string;
  attributes?: Record<string, unknown>;
  tierId?: string | null;
  capUsage?: Map<string, bigint>;
}

export function input(program: CompiledProgram, spec: EventSpec): EvaluationInput {
  const occurredAt = new Date(spec.at);
  const currency = spec.currency ?? 'EUR';
  let amount: EvaluationInput['event']['amount'];
  if (spec.amount !== undefined) {
    const parsed = parseAmount(spec.amount, currency);
    if (!parsed.ok) throw new Error(`bad test amount ${spec.amount}`);
    amount = { minor: parsed.minor, currency, value: spec.amount };
  }
  return {
    event: {
      id: 'evt-1',
      type: spec.type ?? 'purchase',
      memberId: 'm-1',
      occurredAt,
      ...(amount ? { amount } : {}),
      attributes: spec.attributes ?? {},
    },
    member: { id: 'm-1', tierId: spec.tierId ?? null, isNew: false, attributes: {} },
    local: localTime(occurredAt, program.document.timeZone),
    capUsage: spec.capUsage ?? new Map(),
  };
}

export function run(program: CompiledProgram, spec: EventSpec): Evaluation {
  return program.evaluate(input(program, spec));
}
