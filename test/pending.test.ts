// Pending points: a program whose purchases earn points that wait 14 days (a return window)
// before they are available. A refund within the window voids them; a review releases or
// voids them early; the release pass makes them available when the window is over.
// Real: database, HTTP stack, ledger. Faked: the clock only. `verify` runs at the end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseDuePending } from '../src/pending/index.ts';
import { ProgramCache } from '../src/programs/index.ts';
import { programTemplate, type ProgramDocument } from '../src/rules/index.ts';
import { purchase, refund, startTestApp, type TestApp } from './support/app.ts';

/** Monday 15 June 2026, 12:00 in Prague; purchases an hour earlier earn 1 point per EUR. */
const NOW = '2026-06-15T10:00:00Z';
const AT = '2026-06-15T09:00:00Z';
/** Fourteen days after AT: the window of a purchase at AT ends then. */
const WINDOW_END = new Date('2026-06-29T09:00:00Z');

type Balance = { available: number; pending: number; held: number };

let t: TestApp;
let token: string;

function program(): ProgramDocument {
  const doc = programTemplate('retail');
  doc.settings = {
    ...doc.settings,
    pending: { days: 14, eventTypes: ['purchase'] },
    redemption: {
      holdTtl: 'PT10M',
      pointValue: { points: 100, value: { value: '1.00', currency: 'EUR' } },
    },
  };
  return doc;
}

beforeAll(async () => {
  t = await startTestApp({ now: NOW });
  token = await t.program('returns', program());
});
afterAll(() => t.close());

async function send(body: Record<string, unknown>) {
  const res = await t.request('POST', '/v1/events', token, body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { pointsEarned: number; balance: Balance };
}

async function balance(memberId: string): Promise<Balance> {
  const res = await t.request('GET', `/v1/members/${memberId}`, token);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { balance: Balance }).balance;
}

/**
 * The balance row itself: the release pass called directly (as the job runner does, which
 * then evicts the members it returns from the view cache) leaves the test app's cache alone.
 */
async function stored(memberId: string): Promise<Balance> {
  const row = await t.handle.db
    .selectFrom('members')
    .select(['available', 'pending', 'held'])
    .where('program_id', '=', 'returns')
    .where('id', '=', memberId)
    .executeTakeFirstOrThrow();
  return { available: Number(row.available), pending: Number(row.pending), held: Number(row.held) };
}

async function outboxTypes(memberId: string): Promise<string[]> {
  const rows = await t.handle.db
    .selectFrom('outbox')
    .select('type')
    .where('program_id', '=', 'returns')
    .where('member_id', '=', memberId)
    .where('type', 'like', 'points.%')
    .orderBy('id')
    .execute();
  return rows.map((r) => r.type);
}

describe('points of a purchase in its return window', () => {
  it('are pending, not available, and cannot be spent', async () => {
    const answer = await send(purchase('p-new', '120.00', AT));
    expect(answer.pointsEarned).toBe(120);
    expect(answer.balance).toEqual({ available: 0, pending: 120, held: 0 });
    const hold = await t.request(
      'POST',
      '/v1/redemptions',
      token,
      { memberId: 'p-new', points: 1 },
      { 'idempotency-key': 'p-new-1' },
    );
    expect(hold.statusCode, hold.body).toBe(422);
    expect(hold.json()).toMatchObject({ type: '/problems/insufficient-points' });
  });

  it('are voided first by a refund within the window', async () => {
    const p = purchase('p-refund', '100.00', AT);
    await send(p);
    const r = await send(refund('p-refund', p['id'] as string, '40.00', AT));
    expect(r.pointsEarned).toBe(-40);
    expect(r.balance).toEqual({ available: 0, pending: 60, held: 0 });
    const explain = await t.request('GET', `/v1/events/${p['id'] as string}/explain`, token);
    expect(explain.statusCode).toBe(200);
    expect(JSON.stringify(explain.json())).toContain(
      '"pending":{"until":"2026-06-29T09:00:00.000Z","days":14}',
    );
    const rest = await send(refund('p-refund', p['id'] as string, '60.00', AT));
    expect(rest.balance).toEqual({ available: 0, pending: 0, held: 0 });
  });

  it('become available when the window is over, once, however many release passes run', async () => {
    await send(purchase('p-due', '50.00', AT));
    await send(purchase('p-due', '30.00', '2026-06-15T09:30:00Z'));
    const before = await releaseDuePending(
      t.handle.db,
      new ProgramCache(),
      new Date(WINDOW_END.getTime() - 1),
    );
    expect(before.memberIds.get('returns') ?? []).not.toContain('p-due');
    const [one, two] = await Promise.all([
      releaseDuePending(t.handle.db, new ProgramCache(), WINDOW_END),
      releaseDuePending(t.handle.db, new ProgramCache(), WINDOW_END),
    ]);
    const released = [
      ...(one.memberIds.get('returns') ?? []),
      ...(two.memberIds.get('returns') ?? []),
    ];
    expect(released.filter((m) => m === 'p-due')).toHaveLength(1);
    expect(await stored('p-due')).toEqual({ available: 50, pending: 30, held: 0 });
    await releaseDuePending(t.handle.db, new ProgramCache(), new Date('2026-06-29T09:30:00Z'));
    expect(await stored('p-due')).toEqual({ available: 80, pending: 0, held: 0 });
    expect(await outboxTypes('p-due')).toEqual([
      'points.earned',
      'points.earned',
      'points.released',
      'points.released',
    ]);
  });

  it('after release, a refund takes the points back from available', async () => {
    const p = purchase('p-late', '70.00', AT);
    await send(p);
    await releaseDuePending(t.handle.db, new ProgramCache(), WINDOW_END);
    expect(await stored('p-late')).toEqual({ available: 70, pending: 0, held: 0 });
    const r = await send(refund('p-late', p['id'] as string, '70.00', AT));
    expect(r.balance).toEqual({ available: 0, pending: 0, held: 0 });
  });

  it('of a purchase older than the window are available at once', async () => {
    const answer = await send(purchase('p-old', '25.00', '2026-05-01T09:00:00Z'));
    expect(answer.balance).toEqual({ available: 25, pending: 0, held: 0 });
  });
});

describe('a review', () => {
  it('releases pending points early; a second release is 409 no-pending-points', async () => {
    const p = purchase('r-ok', '90.00', AT);
    await send(p);
    const res = await t.request('POST', `/v1/events/${p['id'] as string}:release`, token);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      eventId: p['id'],
      memberId: 'r-ok',
      points: 90,
      balance: { available: 90, pending: 0, held: 0 },
    });
    const again = await t.request('POST', `/v1/events/${p['id'] as string}:release`, token);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ type: '/problems/no-pending-points' });
    expect(await outboxTypes('r-ok')).toEqual(['points.earned', 'points.released']);
  });

  it('voids pending points: they go back to the program and the event still says what it earned', async () => {
    const p = purchase('r-no', '45.00', AT);
    await send(p);
    const res = await t.request('POST', `/v1/events/${p['id'] as string}:void`, token);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      points: 45,
      balance: { available: 0, pending: 0, held: 0 },
    });
    expect(await balance('r-no')).toEqual({ available: 0, pending: 0, held: 0 });
    expect(await outboxTypes('r-no')).toEqual(['points.earned', 'points.voided']);
    // Nothing left to release when the window ends.
    await releaseDuePending(t.handle.db, new ProgramCache(), WINDOW_END);
    expect(await stored('r-no')).toEqual({ available: 0, pending: 0, held: 0 });
  });

  it('answers 404 for an unknown event', async () => {
    const res = await t.request('POST', '/v1/events/no-such-event:release', token);
    expect(res.statusCode).toBe(404);
  });
});
