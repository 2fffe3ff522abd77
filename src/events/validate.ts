// Validation of incoming events: first the shape (any program), then against the program
// version in force (event type, currency, amount rules, backdating window). Every error
// names its field with a JSON Pointer into the request; an invalid event writes nothing.
import { hash } from 'node:crypto';
import { isKnownCurrency, parseAmount } from '../money/index.ts';
import type { CompiledProgram } from '../rules/index.ts';

export const ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const EVENT_FIELDS = new Set([
  'id',
  'type',
  'memberId',
  'occurredAt',
  'amount',
  'attributes',
  'refundOf',
]);
export const ATTRIBUTES_MAX = 64;
export const ATTRIBUTE_KEY_LENGTH_MAX = 64;
export const ATTRIBUTE_STRING_LENGTH_MAX = 1024;
/** How far in the future `occurredAt` may be: clocks of partners' tills drift. */
export const FUTURE_SKEW_MS_MAX = 5 * 60 * 1000;

export interface FieldError {
  pointer: string;
  detail: string;
}

export interface ParsedEvent {
  id: string;
  type: string;
  memberId: string;
  occurredAt: Date;
  amount?: { value: string; currency: string };
  attributes: Record<string, string | number | boolean | null>;
  refundOf?: string;
  /** sha256 of the canonical body: JSON with sorted keys, values as sent. */
  bodyHash: string;
  /** The canonical body itself, as stored: the text that was hashed, so it is built once. */
  bodyText: string;
}

export interface ValidEvent extends ParsedEvent {
  amountMinor?: bigint;
}

/** JSON with object keys sorted at every depth and values as sent. */
export function canonicalJson(value: unknown): string {
  // Loops and concatenation rather than map and join: every event's body is hashed.
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    out += `${i === 0 ? '' : ','}${JSON.stringify(key)}:${canonicalJson(object[key])}`;
  }
  return `${out}}`;
}

export function bodyHash(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

function sha256Hex(text: string): string {
  // The one-shot form: no Hash object per event.
  return hash('sha256', text, 'hex');
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export function parseInstant(text: string): Date | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  // Each field read once, and the month's length from a table: every event's instant is
  // checked here.
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  if (mo < 1 || mo > 12 || d < 1 || Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59)
    return undefined;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (d > (mo === 2 && leap ? 29 : (DAYS_IN_MONTH[mo - 1] as number))) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Checks the shape every event has, whatever its program. */
export function parseEvent(
  raw: unknown,
  at: string,
): { ok: true; event: ParsedEvent } | { ok: false; errors: FieldError[] } {
  const errors: FieldError[] = [];
  if (!isObject(raw))
    return { ok: false, errors: [{ pointer: at || '/', detail: 'an event is a JSON object' }] };
  for (const key of Object.keys(raw)) {
    if (!EVENT_FIELDS.has(key))
      errors.push({ pointer: `${at}/${escapePointer(key)}`, detail: `unknown field "${key}"` });
  }
  const id = stringField(raw, 'id', at, errors, true);
  if (id !== undefined && !ID_PATTERN.test(id)) {
    errors.push({
      pointer: `${at}/id`,
      detail: 'an event id is 1-128 characters of [A-Za-z0-9._-]',
    });
  }
  const type = stringField(raw, 'type', at, errors, true);
  if (type !== undefined && (type.length === 0 || type.length > 64)) {
    errors.push({ pointer: `${at}/type`, detail: 'an event type is 1-64 characters' });
  }
  const memberId = stringField(raw, 'memberId', at, errors, true);
  if (memberId !== undefined && !ID_PATTERN.test(memberId)) {
    errors.push({
      pointer: `${at}/memberId`,
      detail: 'a member id is 1-128 characters of [A-Za-z0-9._-]',
    });
  }
  const occurredText = stringField(raw, 'occurredAt', at, errors, true);
  const occurredAt = occurredText === undefined ? undefined : parseInstant(occurredText);
  if (occurredText !== undefined && occurredAt === undefined) {
    errors.push({
      pointer: `${at}/occurredAt`,
      detail:
        'occurredAt must be an RFC 3339 date-time with an offset, such as 2026-11-21T23:30:00+01:00',
    });
  }
  const refundOf = stringField(raw, 'refundOf', at, errors, false);
  if (refundOf !== undefined && !ID_PATTERN.test(refundOf)) {
    errors.push({
      pointer: `${at}/refundOf`,
      detail: 'refundOf is an event id: 1-128 characters of [A-Za-z0-9._-]',
    });
  }

  let amount: ParsedEvent['amount'];
  if (raw.amount !== undefined) {
    if (!isObject(raw.amount)) {
      errors.push({
        pointer: `${at}/amount`,
        detail: 'amount is an object { "value": "12.50", "currency": "EUR" }',
      });
    } else {
      for (const key of Object.keys(raw.amount)) {
        if (key !== 'value' && key !== 'currency') {
          errors.push({
            pointer: `${at}/amount/${escapePointer(key)}`,
            detail: `unknown field "${key}"`,
          });
        }
      }
      const value = raw.amount.value;
      const currency = raw.amount.currency;
      if (typeof value !== 'string') {
        errors.push({
          pointer: `${at}/amount/value`,
          detail:
            value === undefined
              ? 'amount.value is required'
              : 'amount.value must be a decimal string such as "12.50", not a number',
        });
      }
      if (typeof currency !== 'string') {
        errors.push({
          pointer: `${at}/amount/currency`,
          detail: 'amount.currency is required: an ISO 4217 code such as "EUR"',
        });
      } else if (!isKnownCurrency(currency)) {
        errors.push({
          pointer: `${at}/amount/currency`,
          detail: `"${currency}" is not an ISO 4217 currency code`,
        });
      }
      if (typeof value === 'string' && typeof currency === 'string') amount = { value, currency };
    }
  }

  const attributes: ParsedEvent['attributes'] = {};
  if (raw.attributes !== undefined) {
    if (!isObject(raw.attributes)) {
      errors.push({
        pointer: `${at}/attributes`,
        detail: 'attributes is an object of strings, numbers and booleans',
      });
    } else {
      const entries = Object.entries(raw.attributes);
      if (entries.length > ATTRIBUTES_MAX) {
        errors.push({
          pointer: `${at}/attributes`,
          detail: `at most ${ATTRIBUTES_MAX} attributes`,
        });
      }
      for (const [key, value] of entries.slice(0, ATTRIBUTES_MAX)) {
        const pointer = `${at}/attributes/${escapePointer(key)}`;
        if (key.length === 0 || key.length > ATTRIBUTE_KEY_LENGTH_MAX) {
          errors.push({
            pointer,
            detail: `an attribute name is 1-${ATTRIBUTE_KEY_LENGTH_MAX} characters`,
          });
        } else if (typeof value === 'string') {
          if (value.length > ATTRIBUTE_STRING_LENGTH_MAX) {
            errors.push({
              pointer,
              detail: `an attribute string is at most ${ATTRIBUTE_STRING_LENGTH_MAX} characters`,
            });
          } else attributes[key] = value;
        } else if (typeof value === 'number' || typeof value === 'boolean' || value === null) {
          attributes[key] = value;
        } else {
          errors.push({ pointer, detail: 'an attribute is a string, number, boolean or null' });
        }
      }
    }
  }

  if (errors.length > 0) return { ok: false, errors };
  const text = canonicalJson(raw);
  return {
    ok: true,
    event: {
      id: id as string,
      type: type as string,
      memberId: memberId as string,
      occurredAt: occurredAt as Date,
      ...(amount ? { amount } : {}),
      attributes,
      ...(refundOf !== undefined ? { refundOf } : {}),
      bodyHash: sha256Hex(text),
      bodyText: text,
    },
  };
}

/** Checks an event against the program version that will evaluate it. */
export function validateForProgram(
  event: ParsedEvent,
  program: CompiledProgram,
  now: Date,
  at: string,
): { ok: true; event: ValidEvent } | { ok: false; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const document = program.document;
  const eventType = document.eventTypes[event.type];
  if (!eventType) {
    const known = Object.keys(document.eventTypes).join(', ');
    errors.push({
      pointer: `${at}/type`,
      detail: `unknown event type "${event.type}"; this program knows: ${known}`,
    });
    return { ok: false, errors };
  }
  const amountRule = eventType.kind === 'custom' ? (eventType.amount ?? 'optional') : 'required';
  let amountMinor: bigint | undefined;
  if (event.amount === undefined) {
    if (amountRule === 'required')
      errors.push({ pointer: `${at}/amount`, detail: `a ${event.type} event needs an amount` });
  } else if (amountRule === 'forbidden') {
    errors.push({ pointer: `${at}/amount`, detail: `a ${event.type} event has no amount` });
  } else if (!document.currencies.includes(event.amount.currency)) {
    errors.push({
      pointer: `${at}/amount/currency`,
      detail: `currency ${event.amount.currency} is not supported by this program (${document.currencies.join(', ')})`,
    });
  } else {
    const parsed = parseAmount(event.amount.value, event.amount.currency);
    if (parsed.ok) amountMinor = parsed.minor;
    else {
      const detail = {
        'not-a-decimal': `amount.value "${event.amount.value}" is not a decimal number such as "12.50"`,
        negative: 'amount.value must not be negative; send a refund event to give money back',
        'too-precise': `amount.value has more decimals than ${event.amount.currency} has`,
        'too-large': 'amount.value is too large',
      }[parsed.reason];
      errors.push({ pointer: `${at}/amount/value`, detail });
    }
  }
  if (eventType.kind === 'refund' && event.refundOf === undefined) {
    errors.push({
      pointer: `${at}/refundOf`,
      detail: 'a refund names the event it refunds in refundOf',
    });
  }
  if (eventType.kind !== 'refund' && event.refundOf !== undefined) {
    errors.push({
      pointer: `${at}/refundOf`,
      detail: `refundOf belongs only to refund events, not to ${event.type}`,
    });
  }
  const backdatingDays = document.settings?.backdatingWindowDays ?? 90;
  if (event.occurredAt.getTime() > now.getTime() + FUTURE_SKEW_MS_MAX) {
    errors.push({
      pointer: `${at}/occurredAt`,
      detail: 'occurredAt is more than 5 minutes in the future',
    });
  } else if (event.occurredAt.getTime() < now.getTime() - backdatingDays * 86_400_000) {
    errors.push({
      pointer: `${at}/occurredAt`,
      detail: `occurredAt is more than ${backdatingDays} days in the past (the program's backdating window)`,
    });
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, event: { ...event, ...(amountMinor !== undefined ? { amountMinor } : {}) } };
}

function stringField(
  raw: Record<string, unknown>,
  name: string,
  at: string,
  errors: FieldError[],
  required: boolean,
): string | undefined {
  const value = raw[name];
  if (value === undefined) {
    if (required) errors.push({ pointer: `${at}/${name}`, detail: `${name} is required` });
    return undefined;
  }
  if (typeof value !== 'string') {
    errors.push({ pointer: `${at}/${name}`, detail: `${name} must be a string` });
    return undefined;
  }
  return value;
}

export function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}
