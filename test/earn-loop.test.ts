import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchase, startTestApp, type TestApp } from './support/app.ts';

let t: TestApp;
let token: string;

beforeAll(async () => {
  t = await startTestApp({ now: '2026-11-23T12:00:00Z' });
  token = await t.program('retail-a', 'retail');
});
afterAll(() => t.close());

describe('the earn loop', () => {
  it('credits a weekday purchase at 1 point per whole EUR and shows it on the member', async () => {
    const res = await t.request(
      'POST',
      '/v1/events',
      token,
      purchase('m1', '12.50', '2026-11-23T11:00:00Z'),
    );
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({
      eventId: expect.any(String),
      memberId: 'm1',
      pointsEarned: 12,
      replayed: false,
      balance: { available: 12, pending: 0, held: 0 },
      tier: { id: 'bronze', name: 'Bronze' },
      programVersion: 1,
    });
    const member = await t.request('GET', '/v1/members/m1', token);
    expect(member.statusCode).toBe(200);
    expect(member.json()).toMatchObject({
      id: 'm1',
      balance: { available: 12, pending: 0, held: 0 },
      tier: { id: 'bronze', name: 'Bronze' },
      progress: {
        nextTier: { id: 'silver', name: 'Silver' },
        metric: 'points',
        current: 12,
        required: 1000,
        remaining: 988,
      },
    });
  });
});
