// Who may do what: bearer tokens (missing, garbage, expired, tampered, foreign key), scopes,
// program isolation (another program's resources do not exist for you), and the public
// endpoints. Real: the database of this file, the signing keys in it, jose, Fastify
// (inject). Fake: the clock.
import type { LightMyRequestResponse } from 'fastify';
import {
  SignJWT,
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  generateKeyPair,
  jwtVerify,
  type JSONWebKeySet,
} from 'jose';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, createClient } from '../src/auth/index.ts';
import { purchase, startTestApp, type TestApp } from './support/app.ts';

const NOW = '2026-06-15T10:00:00Z';
const AN_HOUR_AGO = '2026-06-15T09:00:00Z';
const TOKEN_TTL_MS = 15 * 60 * 1000;

let t: TestApp;
let tokenA: string;
let tokenB: string;

beforeAll(async () => {
  t = await startTestApp({ now: NOW });
  tokenA = await t.program('program-a', 'retail');
  tokenB = await t.program('program-b', 'retail');
});
afterAll(() => t.close());
// Tests that move the clock put it back, so every other test's tokens stay fresh.
afterEach(() => t.clock.set(NOW));

function expectProblem(response: LightMyRequestResponse, status: number, code: string): void {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json\b/);
  expect(response.json()).toMatchObject({
    type: `/problems/${code}`,
    status,
    title: expect.any(String),
    detail: expect.any(String),
  });
}

function withAuthorization(method: string, url: string, authorization: string, body?: unknown) {
  return t.app.inject({
    method: method as 'GET',
    url,
    headers: { authorization },
    ...(body === undefined ? {} : { payload: body as object }),
  });
}

async function eventCount(): Promise<bigint> {
  const { rows } = await sql<{ n: bigint }>`SELECT count(*) AS n FROM events`.execute(t.handle.db);
  return (rows[0] as { n: bigint }).n;
}

/** Every protected operation, the scope it needs, and a body it accepts. */
const PROTECTED: {
  method: string;
  url: string;
  scope: (typeof SCOPES)[number];
  body?: () => unknown;
}[] = [
  {
    method: 'POST',
    url: '/v1/events',
    scope: 'events:write',
    body: () => purchase('scoped-member', '10.00', AN_HOUR_AGO),
  },
  {
    method: 'POST',
    url: '/v1/events:batch',
    scope: 'events:write',
    body: () => ({ events: [purchase('scoped-member', '10.00', AN_HOUR_AGO)] }),
  },
  { method: 'GET', url: '/v1/events/any-event/explain', scope: 'events:read' },
  { method: 'GET', url: '/v1/members/any-member', scope: 'members:read' },
  {
    method: 'PUT',
    url: '/v1/members/any-member',
    scope: 'members:write',
    body: () => ({ attributes: {} }),
  },
  { method: 'GET', url: '/v1/members/any-member/ledger', scope: 'members:read' },
  { method: 'GET', url: '/v1/program', scope: 'program:read' },
  { method: 'PUT', url: '/v1/program', scope: 'program:write', body: () => ({}) },
  { method: 'GET', url: '/v1/program/versions/1', scope: 'program:read' },
];

describe('requests without a valid token are refused with 401 and a WWW-Authenticate challenge', () => {
  it.each(PROTECTED)('$method $url without a token', async ({ method, url, body }) => {
    const before = await eventCount();
    const res = await t.request(method, url, null, body?.());
    expectProblem(res, 401, 'unauthorized');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer\b/);
    expect(await eventCount()).toBe(before);
  });

  it.each([
    ['a garbage bearer token', 'Bearer garbage'],
    ['three garbage segments', 'Bearer aaaa.bbbb.cccc'],
    ['an empty bearer token', 'Bearer '],
    ['another scheme', 'Basic ZGVtbzpkZW1vLXNlY3JldA=='],
    ['a token without a scheme', 'just-a-token'],
  ])('%s', async (_name, authorization) => {
    const before = await eventCount();
    const res = await withAuthorization(
      'POST',
      '/v1/events',
      authorization,
      purchase('garbage-member', '10.00', AN_HOUR_AGO),
    );
    expectProblem(res, 401, 'unauthorized');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer\b/);
    expect(await eventCount()).toBe(before);
  });

  it('refuses an expired token, whether or not it was used before it expired', async () => {
    const used = await t.program('expiring', 'retail');
    // Never presented before it expires, so no verified-token cache can answer for it.
    const unused = await t.program('expiring-2', 'retail');
    t.clock.advance(TOKEN_TTL_MS - 1000);
    expect((await t.request('GET', '/v1/members/nobody', used)).statusCode).toBe(404);

    t.clock.advance(2000);
    for (const token of [used, unused]) {
      const before = await eventCount();
      const res = await t.request(
        'POST',
        '/v1/events',
        token,
        purchase('late-member', '10.00', AN_HOUR_AGO),
      );
      expectProblem(res, 401, 'unauthorized');
      expect(res.headers['www-authenticate']).toMatch(/^Bearer\b.*error="invalid_token"/);
      expect(await eventCount()).toBe(before);
      expectProblem(await t.request('GET', '/v1/members/nobody', token), 401, 'unauthorized');
    }
  });

  it('refuses a token whose signature was altered', async () => {
    const [header, payload, signature] = tokenA.split('.') as [string, string, string];
    const i = Math.floor(signature.length / 2);
    const flipped =
      signature.slice(0, i) + (signature[i] === 'A' ? 'B' : 'A') + signature.slice(i + 1);
    const res = await t.request('GET', '/v1/members/nobody', `${header}.${payload}.${flipped}`);
    expectProblem(res, 401, 'unauthorized');
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
  });

  it('refuses a token whose payload was altered to name another program or more scopes', async () => {
    const limited = await t.program('tamper-limited', 'retail', ['members:read']);
    const [header, payload, signature] = limited.split('.') as [string, string, string];
    const claims = decodeJwt(limited);
    for (const change of [
      { program: 'program-a' },
      { scope: SCOPES.join(' ') },
      { exp: (claims.exp as number) + 3600 },
    ]) {
      const forged = Buffer.from(JSON.stringify({ ...claims, ...change })).toString('base64url');
      expect(forged).not.toBe(payload);
      const before = await eventCount();
      const res = await t.request(
        'POST',
        '/v1/events',
        `${header}.${forged}.${signature}`,
        purchase('forged', '10.00', AN_HOUR_AGO),
      );
      expectProblem(res, 401, 'unauthorized');
      expect(await eventCount()).toBe(before);
    }
    // The untouched token still works: the refusals above are the tampering's doing.
    expect((await t.request('GET', '/v1/members/nobody', limited)).statusCode).toBe(404);
  });

  it('refuses a token signed by a key Patron does not hold, even under a known kid', async () => {
    const { privateKey } = await generateKeyPair('EdDSA');
    const kid = decodeProtectedHeader(tokenA).kid as string;
    const claims = decodeJwt(tokenA);
    for (const headerKid of [kid, 'unknown-kid']) {
      const forged = await new SignJWT({ ...claims })
        .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: headerKid })
        .sign(privateKey);
      expectProblem(await t.request('GET', '/v1/members/nobody', forged), 401, 'unauthorized');
    }
  });

  it('refuses an unsigned token (alg none)', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString(
      'base64url',
    );
    const payload = tokenA.split('.')[1] as string;
    expectProblem(
      await t.request('GET', '/v1/members/nobody', `${header}.${payload}.`),
      401,
      'unauthorized',
    );
  });
});

describe('scopes', () => {
  it('refuses POST /v1/events with 403 insufficient-scope to a token without events:write, writing nothing', async () => {
    const readOnly = await t.program('read-only', 'retail', ['members:read']);
    const before = await eventCount();
    const res = await t.request(
      'POST',
      '/v1/events',
      readOnly,
      purchase('read-only-member', '10.00', AN_HOUR_AGO),
    );
    expectProblem(res, 403, 'insufficient-scope');
    expect(res.headers['www-authenticate']).toMatch(/error="insufficient_scope"/);
    expect((res.json() as { detail: string }).detail).toContain('events:write');
    expect(await eventCount()).toBe(before);
    // The same token is good for what it does hold.
    expect((await t.request('GET', '/v1/members/read-only-member', readOnly)).statusCode).toBe(404);
  });

  describe('every protected operation needs exactly its own scope', () => {
    const clientId = 'scoped-client';
    const secret = 'scoped-client-secret-0123456789';

    beforeAll(async () => {
      expect(
        (
          await createClient(t.handle.db, {
            programId: 'program-a',
            clientId,
            secret,
            scopes: [...SCOPES],
          })
        ).status,
      ).toBe('created');
    });

    it.each(PROTECTED)('$method $url needs $scope', async ({ method, url, scope, body }) => {
      const others = SCOPES.filter((s) => s !== scope).join(' ');
      const without = await t.token(clientId, secret, others);
      const before = await eventCount();
      expectProblem(await t.request(method, url, without, body?.()), 403, 'insufficient-scope');
      expect(await eventCount()).toBe(before);

      const only = await t.token(clientId, secret, scope);
      const res = await t.request(method, url, only, body?.());
      expect([401, 403]).not.toContain(res.statusCode);
    });
  });
});

describe('program isolation: another program’s resources do not exist for you', () => {
  let event: Record<string, unknown>;

  beforeAll(async () => {
    event = purchase('alice-a', '100.00', AN_HOUR_AGO, { attributes: { category: 'electronics' } });
    const res = await t.request('POST', '/v1/events', tokenA, event);
    expect(res.statusCode, res.body).toBe(201);
    expect(
      (
        await t.request('PUT', '/v1/members/alice-a', tokenA, {
          attributes: { segment: 'program-a' },
        })
      ).statusCode,
    ).toBe(200);
  });

  it.each([
    ['the member', '/v1/members/alice-a', '/v1/members/nobody-anywhere'],
    ['the member ledger', '/v1/members/alice-a/ledger', '/v1/members/nobody-anywhere/ledger'],
    [
      'the explanation of an event',
      () => `/v1/events/${event.id as string}/explain`,
      '/v1/events/no-such-event/explain',
    ],
  ])(
    '%s of program A is 404 to a valid token of program B, exactly like a resource that does not exist',
    async (_name, url, missing) => {
      const path = typeof url === 'function' ? url() : url;
      expect((await t.request('GET', path, tokenA)).statusCode).toBe(200);
      const foreign = await t.request('GET', path, tokenB);
      expectProblem(foreign, 404, 'not-found');
      const absent = await t.request('GET', missing, tokenB);
      expectProblem(absent, 404, 'not-found');
      const { detail: _f, ...foreignRest } = foreign.json() as Record<string, unknown>;
      const { detail: _a, ...absentRest } = absent.json() as Record<string, unknown>;
      expect(foreignRest).toEqual(absentRest);
    },
  );

  it("refuses B's refund of A's event as an unknown event, without revealing it exists", async () => {
    const before = await eventCount();
    const res = await t.request('POST', '/v1/events', tokenB, {
      id: 'b-refund-of-a',
      type: 'refund',
      memberId: 'alice-a',
      refundOf: event.id,
      occurredAt: AN_HOUR_AGO,
      amount: { value: '10.00', currency: 'EUR' },
    });
    expectProblem(res, 422, 'refund-of-unknown-event');
    expect(await eventCount()).toBe(before);
  });

  it("an event with the same id in program B is B's own new event, not a replay of A's", async () => {
    const sameIdInB = { ...event, amount: { value: '20.00', currency: 'EUR' }, attributes: {} };
    const res = await t.request('POST', '/v1/events', tokenB, sameIdInB);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({
      eventId: event.id,
      memberId: 'alice-a',
      pointsEarned: 20,
      replayed: false,
      balance: { available: 20 },
    });

    // Exactly A's body sent to B is B's replay now, not A's answer.
    const replay = await t.request('POST', '/v1/events', tokenB, sameIdInB);
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toMatchObject({ pointsEarned: 20, replayed: true });

    // A's event and member are untouched.
    const explainA = await t.request('GET', `/v1/events/${event.id as string}/explain`, tokenA);
    expect(explainA.json()).toMatchObject({ memberId: 'alice-a', pointsEarned: 300 });
    const memberA = await t.request('GET', '/v1/members/alice-a', tokenA);
    expect(memberA.json()).toMatchObject({
      attributes: { segment: 'program-a' },
      balance: { available: 300 },
    });
    const memberB = await t.request('GET', '/v1/members/alice-a', tokenB);
    expect(memberB.json()).toMatchObject({ attributes: {}, balance: { available: 20 } });
  });

  it("PUT of a member id that exists in A creates B's own member and leaves A's alone", async () => {
    const res = await t.request('PUT', '/v1/members/shared-id', tokenA, {
      attributes: { from: 'a' },
    });
    expect(res.statusCode).toBe(201);
    const inB = await t.request('PUT', '/v1/members/shared-id', tokenB, {
      attributes: { from: 'b' },
    });
    expect(inB.statusCode).toBe(201);
    expect((await t.request('GET', '/v1/members/shared-id', tokenA)).json()).toMatchObject({
      attributes: { from: 'a' },
    });
    expect((await t.request('GET', '/v1/members/shared-id', tokenB)).json()).toMatchObject({
      attributes: { from: 'b' },
    });
  });

  it('reads only its own program document', async () => {
    const docA = await t.request('GET', '/v1/program', tokenA);
    const docB = await t.request('GET', '/v1/program', tokenB);
    expect(docA.json()).toMatchObject({ programId: 'program-a' });
    expect(docB.json()).toMatchObject({ programId: 'program-b' });
  });
});

describe('public endpoints need no token', () => {
  it('GET /health', async () => {
    const res = await t.request('GET', '/health', null);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('GET /ready', async () => {
    const res = await t.request('GET', '/ready', null);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ready' });
  });

  it('GET /openapi.json', async () => {
    const res = await t.request('GET', '/openapi.json', null);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json\b/);
    expect((res.json() as { openapi: string }).openapi).toMatch(/^3\.1/);
  });

  it('GET /.well-known/jwks.json publishes the key that verifies issued tokens', async () => {
    const res = await t.request('GET', '/.well-known/jwks.json', null);
    expect(res.statusCode).toBe(200);
    const jwks = res.json() as JSONWebKeySet;
    expect(jwks.keys.length).toBeGreaterThan(0);
    for (const key of jwks.keys) expect(key).not.toHaveProperty('d');
    const { payload } = await jwtVerify(tokenA, createLocalJWKSet(jwks), {
      currentDate: new Date(NOW),
    });
    expect(payload).toMatchObject({ program: 'program-a' });
  });

  it('GET /problems/validation-failed is an HTML page by default and JSON on request', async () => {
    const html = await t.request('GET', '/problems/validation-failed', null);
    expect(html.statusCode).toBe(200);
    expect(html.headers['content-type']).toMatch(/^text\/html\b/);
    expect(html.body).toContain('/problems/validation-failed');

    const json = await t.app.inject({
      method: 'GET',
      url: '/problems/validation-failed',
      headers: { accept: 'application/json' },
    });
    expect(json.statusCode).toBe(200);
    expect(json.headers['content-type']).toMatch(/^application\/json\b/);
    expect(json.json()).toMatchObject({
      type: '/problems/validation-failed',
      status: 400,
      title: expect.any(String),
    });
  });

  it('GET /problems/{unknown code} is a 404 problem', async () => {
    expectProblem(await t.request('GET', '/problems/no-such-problem', null), 404, 'not-found');
    expectProblem(await t.request('GET', '/problems/constructor', null), 404, 'not-found');
  });

  it('public endpoints ignore a bad token rather than refusing it', async () => {
    expect((await withAuthorization('GET', '/health', 'Bearer garbage')).statusCode).toBe(200);
    expect(
      (await withAuthorization('GET', '/.well-known/jwks.json', 'Bearer garbage')).statusCode,
    ).toBe(200);
  });

  it('an unknown route is a 404 problem, with or without a token', async () => {
    expectProblem(await t.request('GET', '/v1/nothing-here', null), 404, 'not-found');
    expectProblem(await t.request('GET', '/v1/nothing-here', tokenA), 404, 'not-found');
  });
});
