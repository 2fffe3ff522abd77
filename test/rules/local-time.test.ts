import { describe, expect, it } from 'vitest';
import { isValidTimeZone, localTime, periodKey } from '../../src/rules/index.ts';

describe('local time in the program time zone', () => {
  it('Saturday 22:30 UTC is Saturday 23:30 in Prague', () => {
    expect(localTime(new Date('2026-11-21T22:30:00Z'), 'Europe/Prague')).toEqual({
      date: '2026-11-21',
      weekday: 6,
      hour: 23,
      minute: 30,
      month: 11,
      day: 21,
      year: 2026,
    });
  });

  it('Sunday 23:30 UTC is already Monday 00:30 in Prague', () => {
    const local = localTime(new Date('2026-11-22T23:30:00Z'), 'Europe/Prague');
    expect(local).toMatchObject({ date: '2026-11-23', weekday: 1, hour: 0, minute: 30 });
  });

  it('follows the daylight-saving change (Prague springs forward on 2026-03-29 at 01:00 UTC)', () => {
    expect(localTime(new Date('2026-03-29T00:30:00Z'), 'Europe/Prague')).toMatchObject({
      hour: 1,
      minute: 30,
    });
    expect(localTime(new Date('2026-03-29T01:30:00Z'), 'Europe/Prague')).toMatchObject({
      date: '2026-03-29',
      weekday: 7,
      hour: 3,
      minute: 30,
    });
    // …and falls back on 2026-10-25 at 01:00 UTC: 00:30 and 01:30 UTC both read 02:30.
    expect(localTime(new Date('2026-10-25T00:30:00Z'), 'Europe/Prague').hour).toBe(2);
    expect(localTime(new Date('2026-10-25T01:30:00Z'), 'Europe/Prague').hour).toBe(2);
  });

  it('reads midnight as hour 0, not 24', () => {
    expect(localTime(new Date('2026-01-01T00:00:00Z'), 'UTC')).toMatchObject({
      date: '2026-01-01',
      hour: 0,
      weekday: 4,
    });
  });

  it('names the cap periods by day, ISO week, month and year', () => {
    const local = localTime(new Date('2026-11-23T10:00:00Z'), 'Europe/Prague');
    expect(periodKey(local, 'day')).toBe('2026-11-23');
    expect(periodKey(local, 'week')).toBe('2026-W48');
    expect(periodKey(local, 'month')).toBe('2026-11');
    expect(periodKey(local, 'year')).toBe('2026');
  });

  it('puts the first days of a year into the previous ISO week-year when the week started there', () => {
    const newYear = localTime(new Date('2027-01-01T12:00:00Z'), 'UTC');
    expect(periodKey(newYear, 'week')).toBe('2026-W53');
    const firstMonday = localTime(new Date('2027-01-04T12:00:00Z'), 'UTC');
    expect(periodKey(firstMonday, 'week')).toBe('2027-W01');
    const lateDecember = localTime(new Date('2025-12-29T12:00:00Z'), 'UTC');
    expect(periodKey(lateDecember, 'week')).toBe('2026-W01');
  });

  it('knows valid and invalid time zones', () => {
    expect(isValidTimeZone('Europe/Prague')).toBe(true);
    expect(isValidTimeZone('UTC')).toBe(true);
    expect(isValidTimeZone('Europe/Prag')).toBe(false);
    expect(isValidTimeZone('')).toBe(false);
  });
});
