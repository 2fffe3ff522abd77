// A Patron server for one test file on its own fresh database, driven in-process with
// Fastify's inject (real HTTP semantics, no sockets). The clock is the one fake: tests set
// it. Closing the app re-checks the whole ledger (`patron verify`) and fails the file on
// any violation.
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { SCOPES, createClient } from '../../src/auth/index.ts';
import type { App } from '../../src/http/app.ts';
import { verifyLedger } from '../../src/ledger/index.ts';
import { createProgram } from '../../src/programs/index.ts';
import { programTemplate, type ProgramDocument } from '../../src/rules/index.ts';
import { createServer } from '../../src/server.ts';
import { freshDatabase, type TestDatabase } from './db.ts';

export class TestClock {
  constructor(public current: Date) {}
  now = (): Date => new Date(this.current.getTime());
  set(iso: string): void {
    this.current = new Date(iso);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

export interface TestApp {
  app: App;
  handle: TestDatabase;
  clock: TestClock;
  /** Creates a program (template name or document) and a client with the given scopes; answers a token. */
  program(
    id: string,
    document?: 'retail' | 'casino' | 'empty' | ProgramDocument,
    scopes?: string[],
  ): Promise<string>;
  token(clientId: string, secret: string, scope?: string): Promise<string>;
  request(
    method: string,
    url: string,
    token: string | null,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** Monday 2026-06-15 12:00 in Prague: a plain weekday for tests that do not care. */
export const DEFAULT_NOW = '2026-06-15T10:00:00Z';

export async function startTestApp(options: { now?: string } = {}): Promise<TestApp> {
  const handle = await freshDatabase();
  const clock = new TestClock(new Date(options.now ?? DEFAULT_NOW));
  const { app, events, stop } = await createServer({
    handle,
    issuer: 'urn:patron',
    tokenTtlSeconds: 900,
    now: clock.now,
    // No job runner: tests release expired holds themselves, at the instants they choose.
    jobs: false,
  });
  await app.ready();
  let clients = 0;
  const request: TestApp['request'] = (method, url, token, body, headers = {}) =>
    app.inject({
      method: method as 'GET',
      url,
      headers: token ? { ...headers, authorization: `Bearer ${token}` } : headers,
      ...(body === undefined ? {} : { payload: body as object }),
    });
  const token: TestApp['token'] = async (clientId, secret, scope) => {
    const response = await app.inject({
      method: 'POST',
      url: '/oauth/token',
      payload: {
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: secret,
        ...(scope ? { scope } : {}),
      },
    });
    expect(response.statusCode, response.body).toBe(200);
    return (response.json() as { access_token: string }).access_token;
  };
  return {
    app,
    handle,
    clock,
    request,
    token,
    async program(id, document = 'retail', scopes = [...SCOPES]) {
      const doc = typeof document === 'string' ? programTemplate(document) : document;
      const created = await createProgram(handle.db, id, doc, 'test');
      expect(created.status, JSON.stringify(created)).toBe('created');
      clients += 1;
      const secret = `secret-${id}-${clients}-0123456789`;
      const client = await createClient(handle.db, {
        programId: id,
        clientId: `client-${id}-${clients}`,
        secret,
        scopes: scopes as never,
      });
      expect(client.status).toBe('created');
      return token(`client-${id}-${clients}`, secret);
    },
    async close() {
      await app.close();
      await events.drain();
      await stop();
      const violations = await verifyLedger(handle.db);
      await handle.close();
      expect(violations).toEqual([]);
    },
  };
}

let eventCounter = 0;

/** A purchase body; `at` is an instant (RFC 3339), `value` a decimal string. */
export function purchase(
  memberId: string,
  value: string,
  at: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  eventCounter += 1;
  return {
    id: `evt-${process.pid}-${eventCounter}`,
    type: 'purchase',
    memberId,
    occurredAt: at,
    amount: { value, currency: 'EUR' },
    ...extra,
  };
}

export function refund(
  memberId: string,
  of: string,
  value: string,
  at: string,
): Record<string, unknown> {
  eventCounter += 1;
  return {
    id: `rfd-${process.pid}-${eventCounter}`,
    type: 'refund',
    memberId,
    refundOf: of,
    occurredAt: at,
    amount: { value, currency: 'EUR' },
  };
}
