// Money is a decimal string with an ISO 4217 currency. Patron computes in integer minor
// units (bigint), never in floats, and exact ratios (Fraction) where rates and multipliers
// meet amounts.

const minorDigitsCache = new Map<string, number>();
const KNOWN_CURRENCIES = new Set(Intl.supportedValuesOf('currency'));
/** The longest amount string accepted, so that parsing and arithmetic stay bounded. */
export const AMOUNT_DIGITS_MAX = 18;

export function isKnownCurrency(code: string): boolean {
  return /^[A-Z]{3}$/.test(code) && KNOWN_CURRENCIES.has(code);
}

/** Digits after the decimal point in the currency's minor unit (EUR 2, JPY 0, BHD 3). */
export function minorDigits(currency: string): number {
  let digits = minorDigitsCache.get(currency);
  if (digits === undefined) {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions()
      .maximumFractionDigits as number;
    minorDigitsCache.set(currency, digits);
  }
  return digits;
}

export type ParsedAmount =
  | { ok: true; minor: bigint }
  | { ok: false; reason: 'not-a-decimal' | 'negative' | 'too-precise' | 'too-large' };

/** Parses `"12.50"` in EUR to 1250n. Rejects signs, exponents, and more decimals than the currency has. */
export function parseAmount(value: string, currency: string): ParsedAmount {
  if (/^-\d/.test(value)) return { ok: false, reason: 'negative' };
  const match = /^(\d+)(?:\.(\d+))?$/.exec(value);
  if (!match) return { ok: false, reason: 'not-a-decimal' };
  const whole = match[1] as string;
  const fraction = match[2] ?? '';
  const digits = minorDigits(currency);
  if (fraction.length > digits) {
    // "12.500" is still exact in EUR: only non-zero digits beyond the minor unit are refused.
    if (/[^0]/.test(fraction.slice(digits))) return { ok: false, reason: 'too-precise' };
  }
  const wholeDigits = whole.replace(/^0+(?=\d)/, '');
  if (wholeDigits.length + digits > AMOUNT_DIGITS_MAX) return { ok: false, reason: 'too-large' };
  return { ok: true, minor: BigInt(wholeDigits + fraction.slice(0, digits).padEnd(digits, '0')) };
}

/** Formats minor units back to the decimal string (1250n EUR → "12.50"). */
export function formatAmount(minor: bigint, currency: string): string {
  const digits = minorDigits(currency);
  const negative = minor < 0n;
  const text = (negative ? -minor : minor).toString().padStart(digits + 1, '0');
  const body = digits === 0 ? text : `${text.slice(0, -digits)}.${text.slice(-digits)}`;
  return negative ? `-${body}` : body;
}

/** An exact non-negative-denominator ratio of bigints, for points before rounding. */
export class Fraction {
  readonly num: bigint;
  readonly den: bigint;

  constructor(num: bigint, den = 1n) {
    if (den === 0n) throw new RangeError('Fraction with a zero denominator');
    if (den < 0n) {
      num = -num;
      den = -den;
    }
    const divisor = gcd(num < 0n ? -num : num, den);
    this.num = divisor > 1n ? num / divisor : num;
    this.den = divisor > 1n ? den / divisor : den;
  }

  static readonly ZERO = new Fraction(0n);
  static readonly ONE = new Fraction(1n);

  /** Parses a non-negative decimal string such as "1.25" exactly. */
  static fromDecimal(text: string): Fraction {
    const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
    if (!match) throw new RangeError(`not a decimal: ${text}`);
    const fraction = match[2] ?? '';
    return new Fraction(BigInt((match[1] as string) + fraction), 10n ** BigInt(fraction.length));
  }

  add(other: Fraction): Fraction {
    return new Fraction(this.num * other.den + other.num * this.den, this.den * other.den);
  }

  mul(other: Fraction): Fraction {
    return new Fraction(this.num * other.num, this.den * other.den);
  }

  compare(other: Fraction): number {
    const left = this.num * other.den;
    const right = other.num * this.den;
    return left < right ? -1 : left > right ? 1 : 0;
  }

  /** Rounds toward negative infinity. */
  floor(): bigint {
    const quotient = this.num / this.den;
    return this.num < 0n && quotient * this.den !== this.num ? quotient - 1n : quotient;
  }

  /** Rounds toward positive infinity. */
  ceil(): bigint {
    return -new Fraction(-this.num, this.den).floor();
  }

  /** A decimal string, exact when the denominator divides a power of ten, else 6 places. */
  toDecimal(): string {
    const negative = this.num < 0n;
    const num = negative ? -this.num : this.num;
    let places = 0;
    let scale = 1n;
    while ((num * scale) % this.den !== 0n && places < 6) {
      places += 1;
      scale *= 10n;
    }
    const scaled = (num * scale) / this.den;
    const text = scaled.toString().padStart(places + 1, '0');
    const body = places === 0 ? text : `${text.slice(0, -places)}.${text.slice(-places)}`;
    return (negative && scaled !== 0n ? '-' : '') + body;
  }
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a === 0n ? 1n : a;
}
