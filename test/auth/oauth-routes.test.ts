// Real: embedded PostgreSQL (PGlite), Fastify with @fastify/formbody (app.inject), jose.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import type { Db } from '../../src/db/connect.ts';
import { AuthService, createClient } from '../../src/auth/index.ts';
import { registerOAuthRoutes } from '../../src/http/oauth-routes.ts';
import { DB_SETUP_TIMEOUT_MS, freshDatabase } from './db.ts';

const ISSUER = 'http://patron.test';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

let handle: Db;
let auth: AuthService;
let app: FastifyInstance;

beforeAll(async () => {
  handle = await freshDatabase();
  await createClient(handle.db, {
    programId: 'p1',
    clientId: 'c1',
    secret: 's:1 +&é',
    scopes: ['events:write', 'members:read'],
  });
  auth = new AuthService({
    db: handle.db,
    issuer: ISSUER,
    audience: 'patron',
    tokenTtlSeconds: 900,
  });
  app = Fastify();
  await app.register(formbody);
  registerOAuthRoutes(app, auth);
  await app.ready();
}, DB_SETUP_TIMEOUT_MS);
afterAll(async () => {
  await app?.close();
  await handle?.close();
});

function form(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}

function basic(id: string, secret: string): string {
  const encode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}`;
}

function token(payload: string | object, headers: Record<string, string> = FORM) {
  return app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers,
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
}

function expectTokenResponse(response: Awaited<ReturnType<typeof token>>, scope: string) {
  expect(response.statusCode).toBe(200);
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.headers['pragma']).toBe('no-cache');
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = response.json();
  expect(body).toEqual({
    access_token: expect.any(String),
    token_type: 'Bearer',
    expires_in: 900,
    scope,
  });
  return body.access_token as string;
}

function expectError(response: Awaited<ReturnType<typeof token>>, status: number, error: string) {
  expect(response.statusCode).toBe(status);
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.json()).toMatchObject({ error });
}

describe('POST /oauth/token', () => {
  it('issues a token for client credentials in a form body', async () => {
    const response = await token(
      form({ grant_type: 'client_credentials', client_id: 'c1', client_secret: 's:1 +&é' }),
    );
    const accessToken = expectTokenResponse(response, 'events:write members:read');
    expect((await auth.verifyAccessToken(accessToken)).status).toBe('valid');
  });

  it('issues a token for a JSON body', async () => {
    const response = await token(
      {
        grant_type: 'client_credentials',
        client_id: 'c1',
        client_secret: 's:1 +&é',
        scope: 'members:read',
      },
      { 'content-type': 'application/json' },
    );
    expectTokenResponse(response, 'members:read');
  });

  it('issues a token for HTTP Basic with form-urlencoded credentials', async () => {
    const response = await token(form({ grant_type: 'client_credentials' }), {
      ...FORM,
      authorization: basic('c1', 's:1 +&é'),
    });
    const accessToken = expectTokenResponse(response, 'events:write members:read');
    const outcome = await auth.verifyAccessToken(accessToken);
    expect(outcome.status === 'valid' && outcome.principal.clientId).toBe('c1');
  });

  it('answers invalid_request without grant_type, unsupported_grant_type for another', async () => {
    expectError(
      await token(form({ client_id: 'c1', client_secret: 's:1 +&é' })),
      400,
      'invalid_request',
    );
    expectError(await token(''), 400, 'invalid_request');
    expectError(
      await token(form({ grant_type: 'password', client_id: 'c1', client_secret: 's:1 +&é' })),
      400,
      'unsupported_grant_type',
    );
  });

  it('answers 401 invalid_client for a wrong secret or an unknown client', async () => {
    const wrong = await token(
      form({ grant_type: 'client_credentials', client_id: 'c1', client_secret: 'nope' }),
    );
    expectError(wrong, 401, 'invalid_client');
    expect(wrong.headers['www-authenticate']).toBeUndefined();
    expectError(
      await token(
        form({ grant_type: 'client_credentials', client_id: 'ghost', client_secret: 'x' }),
      ),
      401,
      'invalid_client',
    );
    expectError(await token(form({ grant_type: 'client_credentials' })), 401, 'invalid_client');
  });

  it('challenges with WWW-Authenticate when Basic authentication fails', async () => {
    for (const authorization of [
      basic('c1', 'nope'),
      basic('ghost', 'x'),
      'Basic !!!',
      'Basic Zm9v',
    ]) {
      const response = await token(form({ grant_type: 'client_credentials' }), {
        ...FORM,
        authorization,
      });
      expectError(response, 401, 'invalid_client');
      expect(response.headers['www-authenticate']).toBe('Basic realm="patron"');
    }
  });

  it('refuses two client authentication methods at once', async () => {
    const response = await token(
      form({ grant_type: 'client_credentials', client_id: 'c1', client_secret: 's:1 +&é' }),
      {
        ...FORM,
        authorization: basic('c1', 's:1 +&é'),
      },
    );
    expectError(response, 400, 'invalid_request');
  });

  it('grants a scope subset and refuses a superset with invalid_scope', async () => {
    const credentials = {
      grant_type: 'client_credentials',
      client_id: 'c1',
      client_secret: 's:1 +&é',
    };
    expectTokenResponse(
      await token(form({ ...credentials, scope: 'events:write' })),
      'events:write',
    );
    expectError(
      await token(form({ ...credentials, scope: 'events:write program:write' })),
      400,
      'invalid_scope',
    );
  });

  it('answers RFC 6749 errors, not Fastify’s, for malformed requests', async () => {
    // A repeated parameter, a non-string value, and a body that is not JSON.
    expectError(
      await token(
        'grant_type=client_credentials&grant_type=client_credentials&client_id=c1&client_secret=x',
      ),
      400,
      'invalid_request',
    );
    expectError(
      await token(
        { grant_type: 'client_credentials', client_id: ['c1'], client_secret: 'x' },
        {
          'content-type': 'application/json',
        },
      ),
      400,
      'invalid_request',
    );
    expectError(
      await token('{not json', { 'content-type': 'application/json' }),
      400,
      'invalid_request',
    );
    expectError(await token('[]', { 'content-type': 'application/json' }), 400, 'invalid_request');
  });
});

describe('GET /.well-known/jwks.json', () => {
  it('publishes the signing key, and jose verifies an issued token with it', async () => {
    const issued = await token(
      form({ grant_type: 'client_credentials', client_id: 'c1', client_secret: 's:1 +&é' }),
    );
    const accessToken = expectTokenResponse(issued, 'events:write members:read');
    const response = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('public, max-age=300');
    const jwks = response.json() as JSONWebKeySet;
    expect(jwks.keys.length).toBeGreaterThanOrEqual(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    expect(jwks.keys[0]).not.toHaveProperty('d');
    const { payload, protectedHeader } = await jwtVerify(accessToken, createLocalJWKSet(jwks), {
      issuer: ISSUER,
      audience: 'patron',
      typ: 'at+jwt',
    });
    expect(protectedHeader.kid).toBe(jwks.keys[0]?.kid);
    expect(payload).toMatchObject({ sub: 'c1', client_id: 'c1', program: 'p1' });
  });
});

describe('OpenAPI', () => {
  it('documents both routes as public, tagged auth, with examples', async () => {
    const docs = Fastify();
    await docs.register(swagger, {
      openapi: { openapi: '3.1.0', info: { title: 't', version: '1' } },
    });
    await docs.register(formbody);
    registerOAuthRoutes(docs, auth);
    await docs.ready();
    const spec = docs.swagger() as unknown as {
      paths: Record<
        string,
        Record<
          string,
          {
            tags: string[];
            security: unknown[];
            requestBody?: unknown;
            responses: Record<string, unknown>;
          }
        >
      >;
    };
    const tokenOp = spec.paths['/oauth/token']?.post;
    expect(tokenOp?.tags).toEqual(['auth']);
    expect(tokenOp?.security).toEqual([]);
    expect(Object.keys(tokenOp?.responses ?? {})).toEqual(['200', '400', '401']);
    expect(JSON.stringify(tokenOp?.requestBody)).toContain('application/x-www-form-urlencoded');
    expect(JSON.stringify(tokenOp)).toContain('client_credentials');
    expect(spec.paths['/.well-known/jwks.json']?.get?.security).toEqual([]);
    await docs.close();
  });
});
