// The expiry policies as pure functions of the program document and instants: no database.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inactivityCutoffDay, inactivityDeadline, lotExpiresAt } from '../../src/expiry/policy.ts';
import { programTemplate, type ExpiryPolicy, type ProgramDocument } from '../../src/rules/index.ts';

function program(policy: ExpiryPolicy, timeZone = 'Europe/Prague'): ProgramDocument {
  const document = programTemplate('empty');
  return { ...document, timeZone, settings: { ...document.settings, expiry: { policy } } };
}

const expiresAt = (document: ProgramDocument, earned: string) =>
  lotExpiresAt(document, new Date(earned))?.toISOString() ?? null;

describe('per-lot term: the same local time N calendar months after earning', () => {
  const months = (n: number, timeZone?: string) => program({ type: 'lot', months: n }, timeZone);

  it('a lot earned on 29 February 2028 expires on 28 February 2029, same local time', () => {
    expect(expiresAt(months(12), '2028-02-29T09:00:00Z')).toBe('2029-02-28T09:00:00.000Z');
  });

  it('31 January + 1 month is the last day of February: 28 in 2026, 29 in the leap year 2028', () => {
    expect(expiresAt(months(1), '2026-01-31T14:30:00Z')).toBe('2026-02-28T14:30:00.000Z');
    expect(expiresAt(months(1), '2028-01-31T14:30:00Z')).toBe('2028-02-29T14:30:00.000Z');
  });

  it('keeps the local time across a DST change in Prague (12:00 CET → 12:00 CEST)', () => {
    expect(expiresAt(months(2), '2026-02-28T11:00:00Z')).toBe('2026-04-28T10:00:00.000Z');
  });

  it('a local time skipped by DST moves forward by the gap (02:30 → 03:30 CEST)', () => {
    // Earned Saturday 2025-03-29 02:30 CET; 2026-03-29 02:30 does not exist in Prague.
    expect(expiresAt(months(12), '2025-03-29T01:30:00Z')).toBe('2026-03-29T01:30:00.000Z');
  });

  it('a local time that happens twice (DST ends) is the earlier one', () => {
    // Earned 2025-10-25 02:30 CEST; 2026-10-25 02:30 is first CEST (00:30Z), then CET (01:30Z).
    expect(expiresAt(months(12), '2025-10-25T00:30:00Z')).toBe('2026-10-25T00:30:00.000Z');
  });

  it('keeps milliseconds, and months cross the end of the year', () => {
    expect(expiresAt(months(3), '2026-11-30T10:15:30.123Z')).toBe('2027-02-28T10:15:30.123Z');
  });

  it('keeps seconds across a DST change and a skipped hour, and two instants of one minute apart', () => {
    const twoMonths = months(2);
    expect(expiresAt(twoMonths, '2026-02-28T11:00:00.000Z')).toBe('2026-04-28T10:00:00.000Z');
    expect(expiresAt(twoMonths, '2026-02-28T11:00:59.999Z')).toBe('2026-04-28T10:00:59.999Z');
    expect(expiresAt(months(12), '2025-03-29T01:30:42.250Z')).toBe('2026-03-29T01:30:42.250Z');
  });

  it('in Pacific/Auckland (+13 in summer, +12 in winter) noon stays noon', () => {
    // 2026-03-15 12:00 NZDT → 2026-09-15 12:00 NZST.
    expect(expiresAt(months(6, 'Pacific/Auckland'), '2026-03-14T23:00:00Z')).toBe(
      '2026-09-15T00:00:00.000Z',
    );
  });
});

describe('end of period: everything earned in a period expires together', () => {
  const yearEnd = (timeZone?: string) =>
    program({ type: 'endOfPeriod', month: 12, day: 31, afterYears: 1 }, timeZone);

  it('points earned any time in 2026 expire at the end of 31 December 2027, Prague time', () => {
    expect(expiresAt(yearEnd(), '2026-01-01T00:00:00Z')).toBe('2027-12-31T23:00:00.000Z');
    expect(expiresAt(yearEnd(), '2026-07-01T12:00:00Z')).toBe('2027-12-31T23:00:00.000Z');
  });

  it('the year is the local one: 23:30 UTC on 31 December is already next year in Prague', () => {
    expect(expiresAt(yearEnd(), '2026-12-31T22:30:00Z')).toBe('2027-12-31T23:00:00.000Z');
    expect(expiresAt(yearEnd(), '2026-12-31T23:30:00Z')).toBe('2028-12-31T23:00:00.000Z');
  });

  it('in Pacific/Auckland the new year starts 13 hours before UTC', () => {
    expect(expiresAt(yearEnd('Pacific/Auckland'), '2026-12-31T10:30:00Z')).toBe(
      '2027-12-31T11:00:00.000Z',
    );
    expect(expiresAt(yearEnd('Pacific/Auckland'), '2026-12-31T11:30:00Z')).toBe(
      '2028-12-31T11:00:00.000Z',
    );
  });

  it('a period ending 30 June with afterYears 0 ends on that day (summer time)', () => {
    const june = program({ type: 'endOfPeriod', month: 6, day: 30, afterYears: 0 });
    expect(expiresAt(june, '2026-06-30T21:59:59Z')).toBe('2026-06-30T22:00:00.000Z');
    expect(expiresAt(june, '2026-06-30T22:00:00Z')).toBe('2027-06-30T22:00:00.000Z');
  });

  it('a period ending 28 February ends on the 28th in leap years too', () => {
    const february = program({ type: 'endOfPeriod', month: 2, day: 28, afterYears: 1 });
    // 29 February 2028 is after the period that ends on 28 February 2028.
    expect(expiresAt(february, '2028-02-29T12:00:00Z')).toBe('2030-02-28T23:00:00.000Z');
    expect(expiresAt(february, '2028-02-28T12:00:00Z')).toBe('2029-02-28T23:00:00.000Z');
  });
});

describe('policies without a per-lot expiry', () => {
  it('none and inactivity give lots no expiry of their own', () => {
    expect(expiresAt(program({ type: 'none' }), '2026-06-15T10:00:00Z')).toBeNull();
    expect(
      expiresAt(program({ type: 'inactivity', months: 6 }), '2026-06-15T10:00:00Z'),
    ).toBeNull();
  });
});

describe('inactivity: the end of the local day N months after the last active day', () => {
  const casino = program({ type: 'inactivity', months: 6 }, 'Europe/Malta');

  it('last active 15 January → points expire at the end of 15 July, Malta summer time', () => {
    expect(inactivityDeadline(casino, '2026-01-15')?.toISOString()).toBe(
      '2026-07-15T22:00:00.000Z',
    );
  });

  it('last active 31 August → the end of 28 February (winter time); in 2028 of the 29th', () => {
    expect(inactivityDeadline(casino, '2025-08-31')?.toISOString()).toBe(
      '2026-02-28T23:00:00.000Z',
    );
    expect(inactivityDeadline(casino, '2027-08-31')?.toISOString()).toBe(
      '2028-02-29T23:00:00.000Z',
    );
  });

  it('the cutoff day is the last active day whose deadline has passed by the start of today', () => {
    expect(inactivityCutoffDay('2026-03-01', 1)).toBe('2026-01-31');
    expect(inactivityCutoffDay('2026-02-28', 1)).toBe('2026-01-27');
    expect(inactivityCutoffDay('2026-07-16', 6)).toBe('2026-01-15');
  });

  it('cutoff and deadline agree on every day and term', () => {
    const day = fc
      .date({
        min: new Date('2020-01-01T00:00:00Z'),
        max: new Date('2035-12-31T00:00:00Z'),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString().slice(0, 10));
    fc.assert(
      fc.property(day, day, fc.integer({ min: 1, max: 120 }), (lastActive, today, months) => {
        const utc = program({ type: 'inactivity', months }, 'UTC');
        const deadline = inactivityDeadline(utc, lastActive) as Date;
        const passed = deadline.getTime() <= Date.parse(`${today}T00:00:00Z`);
        expect(passed).toBe(lastActive <= inactivityCutoffDay(today, months));
      }),
      { numRuns: 500 },
    );
  });
});
