// Real: embedded PostgreSQL (PGlite), scrypt. Nothing faked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/connect.ts';
import { AuthService, createClient, ensureClient, SCOPES } from '../../src/auth/index.ts';
import { DB_SETUP_TIMEOUT_MS, freshDatabase } from './db.ts';

let handle: Db;
beforeAll(async () => {
  handle = await freshDatabase();
}, DB_SETUP_TIMEOUT_MS);
afterAll(() => handle?.close());

describe('clients', () => {
  it('generates an unguessable id and secret and stores only a salted scrypt hash', async () => {
    const outcome = await createClient(handle.db, { programId: 'p1', scopes: ['events:write'] });
    expect(outcome.status).toBe('created');
    if (outcome.status !== 'created') return;
    expect(outcome.clientId).toMatch(/^cli_[0-9a-z]{20}$/);
    expect(Buffer.from(outcome.secret, 'base64url')).toHaveLength(32);

    const row = await handle.db
      .selectFrom('clients')
      .selectAll()
      .where('id', '=', outcome.clientId)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(outcome.secret);
    expect(row.secret_hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]{43}$/);
    expect(row.scopes).toEqual(['events:write']);
    expect(row.program_id).toBe('p1');
  });

  it('salts each hash, so the same secret hashes differently', async () => {
    await createClient(handle.db, { programId: 'p1', clientId: 'same-a', secret: 's', scopes: [] });
    await createClient(handle.db, { programId: 'p1', clientId: 'same-b', secret: 's', scopes: [] });
    const rows = await handle.db
      .selectFrom('clients')
      .select('secret_hash')
      .where('id', 'in', ['same-a', 'same-b'])
      .execute();
    expect(rows[0]?.secret_hash).not.toBe(rows[1]?.secret_hash);
  });

  it('refuses unknown scopes and unknown programs, and an id taken twice', async () => {
    expect(
      await createClient(handle.db, { programId: 'p1', scopes: ['events:write', 'events:delete'] }),
    ).toEqual({ status: 'unknown_scope', scope: 'events:delete' });
    expect(await createClient(handle.db, { programId: 'nope', scopes: ['events:write'] })).toEqual({
      status: 'unknown_program',
    });
    const input = { programId: 'p1', clientId: 'twice', secret: 'x', scopes: ['events:read'] };
    expect((await createClient(handle.db, input)).status).toBe('created');
    expect(await createClient(handle.db, input)).toEqual({ status: 'exists' });
  });

  it('ensureClient seeds once and leaves an existing client (and its secret) alone', async () => {
    const seed = { programId: 'p1', clientId: 'demo', secret: 'demo-secret', scopes: [...SCOPES] };
    expect(await ensureClient(handle.db, seed)).toEqual({ status: 'created', clientId: 'demo' });
    expect(await ensureClient(handle.db, { ...seed, secret: 'other' })).toEqual({
      status: 'exists',
      clientId: 'demo',
    });
    const auth = new AuthService({
      db: handle.db,
      issuer: 'http://t',
      audience: 'patron',
      tokenTtlSeconds: 60,
    });
    expect((await auth.issueToken({ clientId: 'demo', clientSecret: 'demo-secret' })).status).toBe(
      'issued',
    );
    expect((await auth.issueToken({ clientId: 'demo', clientSecret: 'other' })).status).toBe(
      'invalid_client',
    );
  });

  it('a revoked client gets no token', async () => {
    await createClient(handle.db, {
      programId: 'p1',
      clientId: 'gone',
      secret: 'pw',
      scopes: ['events:read'],
    });
    await handle.db
      .updateTable('clients')
      .set({ revoked_at: new Date() })
      .where('id', '=', 'gone')
      .execute();
    const auth = new AuthService({
      db: handle.db,
      issuer: 'http://t',
      audience: 'patron',
      tokenTtlSeconds: 60,
    });
    expect(await auth.issueToken({ clientId: 'gone', clientSecret: 'pw' })).toEqual({
      status: 'invalid_client',
    });
  });
});
