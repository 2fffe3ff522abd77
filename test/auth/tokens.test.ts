// Real: embedded PostgreSQL (PGlite), jose, scrypt. Faked: the clock (injected).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import type { Db } from '../../src/db/connect.ts';
import {
  AuthService,
  createClient,
  ensureSigningKey,
  getJwks,
  rotateSigningKey,
} from '../../src/auth/index.ts';
import { DB_SETUP_TIMEOUT_MS, freshDatabase, manualClock } from './db.ts';

const ISSUER = 'http://patron.test';
const TTL_SECONDS = 900;

let handle: Db;
beforeAll(async () => {
  handle = await freshDatabase();
  await createClient(handle.db, {
    programId: 'p1',
    clientId: 'c1',
    secret: 's1',
    scopes: ['events:write', 'members:read', 'program:read'],
  });
}, DB_SETUP_TIMEOUT_MS);
afterAll(() => handle?.close());

function service(now?: () => Date) {
  return new AuthService({
    db: handle.db,
    issuer: ISSUER,
    audience: 'patron',
    tokenTtlSeconds: TTL_SECONDS,
    ...(now ? { now } : {}),
  });
}

async function issue(auth: AuthService, scope?: string): Promise<string> {
  const outcome = await auth.issueToken({
    clientId: 'c1',
    clientSecret: 's1',
    ...(scope !== undefined ? { scope } : {}),
  });
  if (outcome.status !== 'issued') throw new Error(`expected a token, got ${outcome.status}`);
  return outcome.accessToken;
}

describe('issueToken', () => {
  it('issues an RFC 9068 JWT with all of the client’s scopes when none is asked', async () => {
    const clock = manualClock();
    const outcome = await service(clock.now).issueToken({ clientId: 'c1', clientSecret: 's1' });
    expect(outcome).toMatchObject({
      status: 'issued',
      tokenType: 'Bearer',
      expiresIn: TTL_SECONDS,
      scope: 'events:write members:read program:read',
    });
    if (outcome.status !== 'issued') return;
    const header = decodeProtectedHeader(outcome.accessToken);
    expect(header).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' });
    expect(typeof header.kid).toBe('string');
    const claims = decodeJwt(outcome.accessToken);
    const iat = Math.floor(clock.now().getTime() / 1000);
    expect(claims).toMatchObject({
      iss: ISSUER,
      sub: 'c1',
      client_id: 'c1',
      aud: 'patron',
      iat,
      exp: iat + TTL_SECONDS,
      scope: 'events:write members:read program:read',
      program: 'p1',
    });
    expect(claims.jti).toMatch(/^[A-Za-z0-9_-]{16,}$/);
  });

  it('grants a requested subset and refuses a scope the client does not hold', async () => {
    const auth = service();
    expect(
      await auth.issueToken({ clientId: 'c1', clientSecret: 's1', scope: 'members:read' }),
    ).toMatchObject({
      status: 'issued',
      scope: 'members:read',
    });
    for (const scope of ['members:read rewards:write', 'nonsense', '', '   ']) {
      expect(await auth.issueToken({ clientId: 'c1', clientSecret: 's1', scope })).toEqual({
        status: 'invalid_scope',
      });
    }
  });

  it('refuses a wrong secret and an unknown client alike', async () => {
    const auth = service();
    expect(await auth.issueToken({ clientId: 'c1', clientSecret: 's2' })).toEqual({
      status: 'invalid_client',
    });
    expect(await auth.issueToken({ clientId: 'nobody', clientSecret: 's1' })).toEqual({
      status: 'invalid_client',
    });
  });
});

describe('verifyAccessToken', () => {
  it('accepts its own token and answers the principal', async () => {
    const auth = service();
    const token = await issue(auth, 'events:write members:read');
    const outcome = await auth.verifyAccessToken(token);
    expect(outcome.status).toBe('valid');
    if (outcome.status !== 'valid') return;
    expect(outcome.principal.programId).toBe('p1');
    expect(outcome.principal.clientId).toBe('c1');
    expect([...outcome.principal.scopes]).toEqual(['events:write', 'members:read']);
    expect(outcome.principal.tokenId).toBe(decodeJwt(token).jti);
  });

  it('refuses an expired token', async () => {
    const clock = manualClock();
    const auth = service(clock.now);
    const token = await issue(auth);
    clock.advanceSeconds(TTL_SECONDS);
    expect(await service(clock.now).verifyAccessToken(token)).toEqual({ status: 'expired' });
  });

  it('refuses a token past its exp even after it was verified and cached', async () => {
    const clock = manualClock();
    const auth = service(clock.now);
    const token = await issue(auth);
    expect((await auth.verifyAccessToken(token)).status).toBe('valid');
    clock.advanceSeconds(TTL_SECONDS - 1);
    expect((await auth.verifyAccessToken(token)).status).toBe('valid');
    clock.advanceSeconds(1);
    expect(await auth.verifyAccessToken(token)).toEqual({ status: 'expired' });
    expect(await auth.verifyAccessToken(token)).toEqual({ status: 'expired' });
  });

  it('refuses a token with a flipped signature character', async () => {
    const auth = service();
    const token = await issue(auth);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    // Flip a character in the middle (the last one only carries padding bits in part).
    const i = Math.floor(signature.length / 2);
    const flipped =
      signature.slice(0, i) + (signature[i] === 'A' ? 'B' : 'A') + signature.slice(i + 1);
    const outcome = await auth.verifyAccessToken(`${header}.${payload}.${flipped}`);
    expect(outcome.status).toBe('invalid');
  });

  it('refuses a token whose payload was changed, even after the original was cached', async () => {
    const auth = service();
    const token = await issue(auth, 'members:read');
    expect((await auth.verifyAccessToken(token)).status).toBe('valid');
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    for (const change of [{ scope: 'members:read program:write' }, { program: 'p2' }]) {
      const forged = Buffer.from(JSON.stringify({ ...claims, ...change })).toString('base64url');
      expect(await auth.verifyAccessToken(`${header}.${forged}.${signature}`)).toMatchObject({
        status: 'invalid',
      });
    }
  });

  it('refuses junk, another issuer or audience, and a token without at+jwt', async () => {
    const auth = service();
    const token = await issue(auth);
    expect((await auth.verifyAccessToken('not-a-jwt')).status).toBe('invalid');
    expect((await auth.verifyAccessToken('')).status).toBe('invalid');
    expect((await auth.verifyAccessToken('x'.repeat(10_000))).status).toBe('invalid');
    const other = new AuthService({
      db: handle.db,
      issuer: 'http://other',
      audience: 'patron',
      tokenTtlSeconds: 60,
    });
    expect((await other.verifyAccessToken(token)).status).toBe('invalid');
    const otherAud = new AuthService({
      db: handle.db,
      issuer: ISSUER,
      audience: 'else',
      tokenTtlSeconds: 60,
    });
    expect((await otherAud.verifyAccessToken(token)).status).toBe('invalid');
  });

  it('a second instance on the same database (a restart) accepts the first one’s token', async () => {
    const token = await issue(service());
    expect((await service().verifyAccessToken(token)).status).toBe('valid');
  });

  it('picks up a key another process created (unknown kid reloads the keys)', async () => {
    const verifier = service();
    const before = await issue(verifier);
    expect((await verifier.verifyAccessToken(before)).status).toBe('valid');
    // Another process rotates; the verifier has the old key set cached.
    const { kid } = await rotateSigningKey(handle.db);
    const after = await issue(service());
    expect(decodeProtectedHeader(after).kid).toBe(kid);
    expect((await verifier.verifyAccessToken(after)).status).toBe('valid');
    // Tokens signed by the retired key still verify, on a fresh instance too.
    expect((await service().verifyAccessToken(before)).status).toBe('valid');
  });
});

describe('signing keys and JWKS', () => {
  it('ensureSigningKey is idempotent, also when called concurrently', async () => {
    const kids = await Promise.all([1, 2, 3, 4].map(() => ensureSigningKey(handle.db)));
    expect(new Set(kids.map((k) => k.kid)).size).toBe(1);
    const unretired = await handle.db
      .selectFrom('signing_keys')
      .select('kid')
      .where('retired_at', 'is', null)
      .execute();
    expect(unretired).toHaveLength(1);
  });

  it('JWKS lists public keys only, and jose verifies a token with it', async () => {
    const auth = service();
    const token = await issue(auth);
    const jwks = await getJwks(handle.db);
    const { kid } = decodeProtectedHeader(token);
    expect(jwks.keys.map((k) => k.kid)).toContain(kid);
    for (const key of jwks.keys) {
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(key).not.toHaveProperty('d');
    }
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
      issuer: ISSUER,
      audience: 'patron',
      typ: 'at+jwt',
    });
    expect(payload.program).toBe('p1');
  });

  it('drops keys retired more than a day ago from the JWKS', async () => {
    const [oldest] = await handle.db
      .selectFrom('signing_keys')
      .select('kid')
      .orderBy('created_at')
      .limit(1)
      .execute();
    const retired = await getJwks(handle.db, new Date(Date.now() + 2 * 24 * 3600 * 1000));
    expect(retired.keys.map((k) => k.kid)).not.toContain(oldest?.kid);
    expect(retired.keys.length).toBeGreaterThanOrEqual(1);
  });
});
