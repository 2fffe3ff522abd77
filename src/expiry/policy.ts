// When points expire, by the program's expiry policy (settings.expiry), as pure functions of
// the document and instants. All calendar arithmetic happens in the program's time zone:
// "12 months after earning" and "the end of 31 December" are local wall-clock notions, so an
// instant is turned into local fields, moved on the calendar, and turned back into an instant
// with the zone's offset at that moment (DST-correct).
//
// - lot:         the lot expires at the same local time `months` calendar months after it was
//                earned; a day the target month lacks becomes its last day (31 January + 1
//                month = 28 or 29 February, same time).
// - endOfPeriod: periods end on month/day every year; a lot earned in the period ending in
//                year Y expires at the end of month/day (local) of year Y + afterYears.
// - inactivity:  lots have no expiry of their own; all of a member's available points expire
//                at the end of the local day `months` months after the member's last active
//                day (the last local day with an event that earned points). Whole days, so a
//                member always gets at least the full `months`.
// - none:        nothing expires.
//
// A local time that does not exist (the hour skipped when DST starts) moves forward by the
// gap; one that exists twice (DST ends) is the earlier instant — the `compatible` choice of
// Temporal and of most calendars.
import assert from 'node:assert/strict';
import {
  EXPIRY_WARNING_DAYS_DEFAULT,
  type ExpiryPolicy,
  type ProgramDocument,
} from '../rules/index.ts';
import { formatterFor } from '../rules/local-time.ts';

const DAY_MS = 86_400_000;

export function expiryPolicy(document: ProgramDocument): ExpiryPolicy {
  return document.settings?.expiry?.policy ?? { type: 'none' };
}

export function expiryWarningDays(document: ProgramDocument): number {
  return document.settings?.expiry?.warningDays ?? EXPIRY_WARNING_DAYS_DEFAULT;
}

/**
 * The expiry of a lot earned at the start of each UTC minute, per program version's
 * document (the event path passes the same compiled document for every event). Offsets
 * change only on whole minutes, so every instant of one minute expires at the minute's
 * expiry plus its own offset into the minute (policy lot) or at the same instant (end of
 * period): one Intl call per minute instead of three per event.
 */
const EXPIRY_MINUTES_CACHED_MAX = 4096;
const expiryByMinute = new WeakMap<ProgramDocument, Map<number, number | null>>();

/**
 * The instant a lot earned at `earnedAt` expires under the program's policy, or null when
 * the lot has no expiry of its own (policies none and inactivity).
 */
export function lotExpiresAt(document: ProgramDocument, earnedAt: Date): Date | null {
  const policy = expiryPolicy(document);
  if (policy.type === 'none' || policy.type === 'inactivity') return null;
  const minuteStart = Math.floor(earnedAt.getTime() / 60_000) * 60_000;
  let cache = expiryByMinute.get(document);
  if (cache === undefined) {
    cache = new Map();
    expiryByMinute.set(document, cache);
  }
  let base = cache.get(minuteStart);
  if (base === undefined) {
    base = computeLotExpiresAt(document, new Date(minuteStart))?.getTime() ?? null;
    if (cache.size >= EXPIRY_MINUTES_CACHED_MAX) cache.clear();
    cache.set(minuteStart, base);
  }
  if (base === null) return null;
  return new Date(policy.type === 'lot' ? base + (earnedAt.getTime() - minuteStart) : base);
}

function computeLotExpiresAt(document: ProgramDocument, earnedAt: Date): Date | null {
  const policy = expiryPolicy(document);
  const zone = document.timeZone;
  switch (policy.type) {
    case 'none':
    case 'inactivity':
      return null;
    case 'lot': {
      const local = localFields(earnedAt, zone);
      const date = addMonths(local, policy.months);
      return instantOf({ ...local, ...date }, zone);
    }
    case 'endOfPeriod': {
      const local = localFields(earnedAt, zone);
      const inThisYear =
        local.month < policy.month || (local.month === policy.month && local.day <= policy.day);
      const periodEndYear = local.year + (inThisYear ? 0 : 1);
      return endOfLocalDay(
        { year: periodEndYear + policy.afterYears, month: policy.month, day: policy.day },
        zone,
      );
    }
  }
}

/**
 * Inactivity: when a member whose last active day (local, 'YYYY-MM-DD') is `lastActiveDay`
 * loses their points — the end of the local day `months` months later; null for other
 * policies.
 */
export function inactivityDeadline(document: ProgramDocument, lastActiveDay: string): Date | null {
  const policy = expiryPolicy(document);
  if (policy.type !== 'inactivity') return null;
  return endOfLocalDay(addMonths(parseDate(lastActiveDay), policy.months), document.timeZone);
}

/**
 * The latest last-active day whose inactivity deadline has passed once the local date is
 * `today`: members active on this day or before have lost their points (deadline ≤ the start
 * of `today`). Month ends clamp, so several days can share a deadline; this answers the last.
 */
export function inactivityCutoffDay(today: string, months: number): string {
  const target = parseDate(today);
  // addMonths is monotonic in its day, so step from the naive answer to the exact one.
  let candidate = addMonths(target, -months);
  for (let i = 0; compareDates(addMonths(candidate, months), target) >= 0; i++) {
    assert.ok(i < 8, 'inactivityCutoffDay: no convergence');
    candidate = addDays(candidate, -1);
  }
  for (let i = 0; compareDates(addMonths(addDays(candidate, 1), months), target) < 0; i++) {
    assert.ok(i < 8, 'inactivityCutoffDay: no convergence');
    candidate = addDays(candidate, 1);
  }
  return formatDate(candidate);
}

/** The local date ('YYYY-MM-DD') of an instant in a zone. */
export function localDate(instant: Date, timeZone: string): string {
  return formatDate(localFields(instant, timeZone));
}

/** The instant the local day after `date` begins in `timeZone` (that day's end). */
export function endOfLocalDay(date: CalendarDate, timeZone: string): Date {
  const next = addDays(date, 1);
  return instantOf({ ...next, hour: 0, minute: 0, second: 0, millisecond: 0 }, timeZone);
}

/** The instant the local day `date` begins. */
export function startOfLocalDay(date: string, timeZone: string): Date {
  return instantOf({ ...parseDate(date), hour: 0, minute: 0, second: 0, millisecond: 0 }, timeZone);
}

export interface CalendarDate {
  year: number;
  /** 1..12 */
  month: number;
  day: number;
}

interface LocalDateTime extends CalendarDate {
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

export function parseDate(text: string): CalendarDate {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  assert.ok(match, `not a date: ${text}`);
  return { year: Number(match[1]), month: Number(match[2]), day: Number(match[3]) };
}

export function formatDate(date: CalendarDate): string {
  return `${String(date.year).padStart(4, '0')}-${String(date.month).padStart(2, '0')}-${String(date.day).padStart(2, '0')}`;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Calendar months later (or earlier, when negative); a day the month lacks becomes its last. */
export function addMonths(date: CalendarDate, months: number): CalendarDate {
  const index = date.year * 12 + (date.month - 1) + months;
  const year = Math.floor(index / 12);
  const month = index - year * 12 + 1;
  return { year, month, day: Math.min(date.day, daysInMonth(year, month)) };
}

function addDays(date: CalendarDate, days: number): CalendarDate {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day) + days * DAY_MS);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

function compareDates(a: CalendarDate, b: CalendarDate): number {
  return a.year - b.year || a.month - b.month || a.day - b.day;
}

function localFields(instant: Date, timeZone: string): LocalDateTime {
  const fields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const part of formatterFor(timeZone).formatToParts(instant)) {
    if (part.type in fields) fields[part.type as keyof typeof fields] = Number(part.value);
  }
  const ms = instant.getTime();
  return { ...fields, millisecond: ((ms % 1000) + 1000) % 1000 };
}

/** The zone's offset from UTC at an instant, in milliseconds (local − UTC). */
function offsetMs(instant: number, timeZone: string): number {
  const f = localFields(new Date(instant), timeZone);
  const wall = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second, f.millisecond);
  return wall - instant;
}

/** The instant a local wall-clock time happens in `timeZone` (see the top for gaps and overlaps). */
function instantOf(local: LocalDateTime, timeZone: string): Date {
  const wall = Date.UTC(
    local.year,
    local.month - 1,
    local.day,
    local.hour,
    local.minute,
    local.second,
    local.millisecond,
  );
  // The offsets in force a day either side cover any one transition near this time.
  const before = offsetMs(wall - DAY_MS, timeZone);
  const after = offsetMs(wall + DAY_MS, timeZone);
  const valid = [...new Set([before, after])]
    .map((offset) => wall - offset)
    .filter((instant) => offsetMs(instant, timeZone) === wall - instant)
    .sort((a, b) => a - b);
  // In a gap no offset fits: the offset before it moves the time forward by the gap.
  return new Date(valid[0] ?? wall - before);
}
