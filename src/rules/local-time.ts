// The event's wall-clock time in the program's time zone, computed once per event so that
// rule conditions read plain integers (`local.weekday >= 6`) instead of calling time-zone
// getters, which build an Intl formatter per call (~150 µs each in cel-js).

export interface LocalTime {
  /** 'YYYY-MM-DD' in the program's time zone. */
  date: string;
  /** ISO weekday: 1 = Monday … 7 = Sunday. */
  weekday: number;
  /** 0..23. */
  hour: number;
  minute: number;
  /** 1..12. */
  month: number;
  /** Day of the month, 1..31. */
  day: number;
  year: number;
}

export type CapPeriod = 'day' | 'week' | 'month' | 'year';

const DAY_MS = 86_400_000;

// One formatter per zone: constructing Intl.DateTimeFormat is the expensive part. The number
// of IANA zones is finite (~600), so the cache is bounded by construction. Shared with the
// expiry policies (src/expiry/policy.ts), which need the seconds too.
const formatters = new Map<string, Intl.DateTimeFormat>();

export function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** True when `timeZone` names a zone this runtime knows (IANA names, "UTC"). */
export function isValidTimeZone(timeZone: string): boolean {
  if (timeZone.length === 0 || timeZone.length > 64) return false;
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/**
 * Local times by zone and UTC minute: every zone in use today is offset by whole minutes,
 * so all instants of one UTC minute share their local date, weekday, hour and minute. Events
 * mostly arrive near "now", so this spares Intl's formatToParts (the costly part) per event.
 */
const MINUTES_CACHED_MAX = 4096;
const byMinute = new Map<string, LocalTime>();

export function localTime(instant: Date, timeZone: string): LocalTime {
  const key = `${timeZone}|${Math.floor(instant.getTime() / 60_000)}`;
  const hit = byMinute.get(key);
  if (hit) return hit;
  const computed = Object.freeze(computeLocalTime(instant, timeZone));
  if (byMinute.size >= MINUTES_CACHED_MAX) byMinute.clear();
  byMinute.set(key, computed);
  return computed;
}

function computeLocalTime(instant: Date, timeZone: string): LocalTime {
  const fields = { year: 0, month: 0, day: 0, hour: 0, minute: 0 };
  for (const part of formatterFor(timeZone).formatToParts(instant)) {
    if (part.type in fields) fields[part.type as keyof typeof fields] = Number(part.value);
  }
  const { year, month, day, hour, minute } = fields;
  return {
    date: isoDate(year, month, day),
    weekday: isoWeekday(year, month, day),
    hour,
    minute,
    month,
    day,
    year,
  };
}

/** The key of the cap period containing `local`: '2026-11-23', '2026-W48', '2026-11', '2026'. */
export function periodKey(local: LocalTime, period: CapPeriod): string {
  switch (period) {
    case 'day':
      return local.date;
    case 'week': {
      // ISO 8601: the week belongs to the year of its Thursday.
      const thursday = new Date(
        Date.UTC(local.year, local.month - 1, local.day + 4 - local.weekday),
      );
      const weekYear = thursday.getUTCFullYear();
      const week = Math.floor((thursday.getTime() - Date.UTC(weekYear, 0, 1)) / DAY_MS / 7) + 1;
      return `${weekYear}-W${String(week).padStart(2, '0')}`;
    }
    case 'month':
      return `${local.year}-${String(local.month).padStart(2, '0')}`;
    case 'year':
      return String(local.year);
  }
}

function isoWeekday(year: number, month: number, day: number): number {
  const sundayZero = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
  return sundayZero === 0 ? 7 : sundayZero;
}

function isoDate(year: number, month: number, day: number): string {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}
