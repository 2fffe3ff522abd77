// A publish reaches every running process, without a restart: two Patron processes of this
// build on one PostgreSQL database (this file's own), a version published through one, events
// evaluated by the other. Real: both processes, HTTP over sockets, LISTEN/NOTIFY, the poll.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, createClient } from '../src/auth/index.ts';
import { createProgram } from '../src/programs/index.ts';
import { programTemplate } from '../src/rules/index.ts';
import { freshDatabase, type TestDatabase } from './support/db.ts';
import { spawnOnDatabase, type PatronProcess } from './support/process.ts';

let database: TestDatabase;
const started: PatronProcess[] = [];
const SECRET = 'propagation-secret-0123456789abcdef';

beforeAll(async () => {
  database = await freshDatabase();
  expect((await createProgram(database.db, 'shop', programTemplate('retail'), 'test')).status).toBe(
    'created',
  );
  expect(
    (
      await createClient(database.db, {
        programId: 'shop',
        clientId: 'shop-client',
        secret: SECRET,
        scopes: [...SCOPES],
      })
    ).status,
  ).toBe('created');
});
afterAll(async () => {
  await Promise.all(started.map((p) => p.stop()));
  await database.close();
});

async function start(): Promise<string> {
  const patron = spawnOnDatabase(database.url);
  started.push(patron);
  await patron.waitFor(/"msg":"listening"/);
  const port = /"port":(\d+)/.exec(patron.output())?.[1];
  return `http://127.0.0.1:${port}`;
}

async function call(base: string, method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

let events = 0;
function purchase(value: string) {
  events += 1;
  return {
    id: `prop-${events}`,
    type: 'purchase',
    memberId: 'alice',
    occurredAt: new Date().toISOString(),
    amount: { value, currency: 'EUR' },
  };
}

describe('publishing with two processes on one database', () => {
  it('the second process evaluates the next event with the version the first published', async () => {
    const [first, second] = await Promise.all([start(), start()]);
    const tokenRes = await fetch(`${first}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credentials&client_id=shop-client&client_secret=${SECRET}`,
    });
    const token = ((await tokenRes.json()) as { access_token: string }).access_token;

    // The second process has served (and compiled) version 1.
    const before = await call(second, 'POST', '/v1/events', token, purchase('10.00'));
    expect(before.status).toBe(201);
    expect(before.body.programVersion).toBe(1);

    const draft = await call(first, 'POST', '/v1/program/drafts', token, { name: 'x5' });
    expect(draft.status).toBe(201);
    const document = draft.body.document as ReturnType<typeof programTemplate>;
    for (const rule of document.rules)
      if (rule.effect.type === 'earn') rule.effect.pointsPerUnit = '5';
    expect(
      (
        await call(first, 'PATCH', `/v1/program/drafts/${draft.body.id as string}`, token, {
          document,
        })
      ).status,
    ).toBe(200);
    const published = await call(
      first,
      'POST',
      `/v1/program/drafts/${draft.body.id as string}:publish`,
      token,
      { reason: 'five points per euro' },
    );
    expect(published.status).toBe(200);
    expect(published.body.version).toBe(2);

    // No wait: the event reads the version in force in its own transaction, and names it.
    const after = await call(second, 'POST', '/v1/events', token, purchase('10.00'));
    expect(after.status).toBe(201);
    expect(after.body).toMatchObject({ programVersion: 2, pointsEarned: 50 });
    const program = await call(second, 'GET', '/v1/program', token);
    expect(program.body).toMatchObject({
      version: 2,
      origin: 'draft',
      reason: 'five points per euro',
    });

    // A rollback through the second process reaches the first the same way.
    const rolled = await call(second, 'POST', '/v1/program/versions/1:rollback', token, {
      reason: 'back to one point',
    });
    expect(rolled.body.version).toBe(3);
    const back = await call(first, 'POST', '/v1/events', token, purchase('10.00'));
    expect(back.body).toMatchObject({ programVersion: 3, pointsEarned: 10 });
  });
});
