// The release of expired holds as the scheduled job it runs as in every Patron process: a
// server with its job runner on releases a hold whose time to live is over, and its member
// view answers the points as available again. Real: database, pg-boss, HTTP stack (inject).
// Faked: the clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { programTemplate } from '../src/rules/index.ts';
import { createServer, type Server } from '../src/server.ts';
import { purchase, startTestApp, type TestApp } from './support/app.ts';

let t: TestApp;
let token: string;
let server: Server | undefined;

beforeAll(async () => {
  t = await startTestApp({ now: '2026-06-15T10:00:00Z' });
  const doc = programTemplate('retail');
  doc.settings = {
    ...doc.settings,
    redemption: {
      holdTtl: 'PT10M',
      pointValue: { points: 1000, value: { value: '10.00', currency: 'EUR' } },
    },
  };
  token = await t.program('shop', doc);
});
afterAll(async () => {
  await server?.app.close();
  await server?.stop();
  await t.close();
});

describe('the scheduled release of expired holds', () => {
  it('gives an expired hold back to its member, whose view then shows the points available', async () => {
    const earned = await t.request(
      'POST',
      '/v1/events',
      token,
      purchase('alice', '50.00', '2026-06-15T09:00:00Z'),
    );
    expect(earned.statusCode, earned.body).toBe(201);
    const hold = await t.request(
      'POST',
      '/v1/redemptions',
      token,
      { memberId: 'alice', points: 20 },
      { 'idempotency-key': 'hold-1' },
    );
    expect(hold.statusCode, hold.body).toBe(201);
    const id = (hold.json() as { id: string }).id;
    t.clock.advance(11 * 60_000);

    // A server with the runner on: the job is sent when it starts and worked within a poll.
    server = await createServer({
      handle: t.handle,
      issuer: 'urn:patron',
      tokenTtlSeconds: 900,
      now: t.clock.now,
    });
    const get = (url: string) =>
      server!.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
    // Possibly read (and cached) before the release: the job must evict it.
    expect((await get('/v1/members/alice')).statusCode).toBe(200);
    const deadline = Date.now() + 20_000;
    let status = 'held';
    while (status === 'held' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = ((await get(`/v1/redemptions/${id}`)).json() as { status: string }).status;
    }
    expect(status).toBe('expired');
    const member = (await get('/v1/members/alice')).json() as {
      balance: { available: number; held: number };
    };
    expect(member.balance).toMatchObject({ available: 50, held: 0 });
  });
});
