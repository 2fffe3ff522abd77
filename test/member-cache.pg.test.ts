// Two Patron processes on one PostgreSQL database (two servers here, each with its own
// caches and its own LISTEN connection): a write through one is visible in reads through
// the other once the commit's notification arrives.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, createClient } from '../src/auth/index.ts';
import { createProgram } from '../src/programs/index.ts';
import { programTemplate } from '../src/rules/index.ts';
import { createServer, type Server } from '../src/server.ts';
import { freshDatabase, type TestDatabase } from './support/db.ts';

const POLL_ATTEMPTS_MAX = 200;
const POLL_INTERVAL_MS = 10;

let database: TestDatabase;
let a: Server;
let b: Server;
let token: string;

beforeAll(async () => {
  database = await freshDatabase();
  await createProgram(database.db, 'two', programTemplate('retail'), 'test');
  await createClient(database.db, {
    programId: 'two',
    clientId: 'two',
    secret: 'two-secret-0123456789',
    scopes: [...SCOPES],
  });
  const options = { handle: database, issuer: 'urn:patron', tokenTtlSeconds: 900 };
  a = await createServer(options);
  b = await createServer(options);
  const response = await a.app.inject({
    method: 'POST',
    url: '/oauth/token',
    payload: {
      grant_type: 'client_credentials',
      client_id: 'two',
      client_secret: 'two-secret-0123456789',
    },
  });
  token = response.json().access_token;
});

afterAll(async () => {
  for (const server of [a, b]) {
    await server.app.close();
    await server.stop();
  }
  await database.close();
});

async function balanceThrough(server: Server, member: string): Promise<number> {
  const response = await server.app.inject({
    method: 'GET',
    url: `/v1/members/${member}`,
    headers: { authorization: `Bearer ${token}` },
  });
  return response.json().balance.available;
}

describe('the member cache across processes', () => {
  it('shows in process B a balance changed through process A', async () => {
    const send = (id: string, value: string) =>
      a.app.inject({
        method: 'POST',
        url: '/v1/events',
        headers: { authorization: `Bearer ${token}` },
        payload: {
          id,
          type: 'purchase',
          memberId: 'x',
          occurredAt: new Date().toISOString(),
          amount: { value, currency: 'EUR' },
        },
      });
    expect((await send('x-1', '10.00')).statusCode).toBe(201);
    const first = await balanceThrough(b, 'x');
    expect(first).toBeGreaterThanOrEqual(10);
    expect(await balanceThrough(b, 'x')).toBe(first); // B now holds it in its cache
    const second = await send('x-2', '10.00');
    const expected = second.json().balance.available;
    let seen = -1;
    for (let i = 0; i < POLL_ATTEMPTS_MAX && seen !== expected; i += 1) {
      seen = await balanceThrough(b, 'x');
      if (seen !== expected) await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
    }
    expect(seen).toBe(expected);
  });
});
