// The OpenAPI document that GET /openapi.json serves: OpenAPI 3.1, every problem code in the
// registry documented and served as a page, an example for every request and response,
// security declared on every protected operation (and enforced as declared), and clean
// under a standard OpenAPI linter. Real: the app and its database, Fastify's swagger
// generation, Redocly's linter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, createClient } from '../src/auth/index.ts';
import { PROBLEMS } from '../src/http/problems.ts';
import { startTestApp, type TestApp } from './support/app.ts';

interface MediaType {
  schema?: Record<string, unknown>;
  example?: unknown;
  examples?: Record<string, unknown>;
}
interface Operation {
  operationId?: string;
  security?: Record<string, string[]>[];
  requestBody?: { content?: Record<string, MediaType> };
  responses?: Record<string, { description?: string; content?: Record<string, MediaType> }>;
}
interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components?: {
    schemas?: Record<string, Record<string, unknown>>;
    securitySchemes?: Record<
      string,
      { type: string; flows?: { clientCredentials?: { scopes: Record<string, string> } } }
    >;
  };
  'x-problem-codes'?: Record<string, { type: string; status: number; title: string }>;
}

/** Operations the contract makes public (issue 3, API.md); everything else needs a token. */
const PUBLIC_OPERATIONS = new Set([
  'GET /health',
  'GET /ready',
  'GET /openapi.json',
  'GET /.well-known/jwks.json',
  'POST /oauth/token',
  'GET /problems/{code}',
]);
const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']);

let t: TestApp;
let doc: OpenApiDocument;
let source: string;

beforeAll(async () => {
  t = await startTestApp();
  await t.program('openapi', 'retail');
  const res = await t.request('GET', '/openapi.json', null);
  expect(res.statusCode).toBe(200);
  source = res.body;
  doc = res.json() as OpenApiDocument;
});
afterAll(() => t.close());

function operations(): { key: string; path: string; method: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.has(method))
      .map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, path, method, op })),
  );
}

/** Whether a media type carries an example: its own, or its schema's (also through a $ref). */
function hasExample(media: MediaType): boolean {
  if (media.example !== undefined || (media.examples && Object.keys(media.examples).length > 0))
    return true;
  let schema = media.schema;
  const ref = schema?.$ref;
  if (typeof ref === 'string')
    schema = doc.components?.schemas?.[ref.replace('#/components/schemas/', '')];
  if (!schema) return false;
  return (
    schema.example !== undefined || (Array.isArray(schema.examples) && schema.examples.length > 0)
  );
}

/** A concrete URL for a templated path. */
function concrete(path: string): string {
  return path.replace('{version}', '1').replace(/\{[^}]+\}/g, 'x1');
}

describe('GET /openapi.json', () => {
  it('is OpenAPI 3.1', () => {
    expect(doc.openapi).toMatch(/^3\.1(\.\d+)?$/);
    expect(Object.keys(doc.paths).length).toBeGreaterThan(0);
  });

  it('documents every operation of the contract', () => {
    const keys = operations().map((o) => o.key);
    for (const key of [
      'POST /v1/events',
      'POST /v1/events:batch',
      'GET /v1/events/{id}/explain',
      'GET /v1/members/{id}',
      'PUT /v1/members/{id}',
      'GET /v1/members/{id}/ledger',
      'GET /v1/program',
      'PUT /v1/program',
      'GET /v1/program/versions/{version}',
      'POST /oauth/token',
      'GET /.well-known/jwks.json',
      'GET /health',
      'GET /ready',
      'GET /problems/{code}',
    ]) {
      expect(keys).toContain(key);
    }
  });
});

describe('problem codes', () => {
  const codes = Object.keys(PROBLEMS) as (keyof typeof PROBLEMS)[];

  it.each(codes)('%s is documented under x-problem-codes with its status and title', (code) => {
    expect(
      doc['x-problem-codes'],
      'the document lists problem codes under x-problem-codes',
    ).toBeDefined();
    expect(doc['x-problem-codes']?.[code]).toMatchObject({
      type: `/problems/${code}`,
      status: PROBLEMS[code].status,
      title: PROBLEMS[code].title,
    });
  });

  it('documents no code that the registry does not have', () => {
    expect(Object.keys(doc['x-problem-codes'] ?? {}).sort()).toEqual([...codes].sort());
  });

  it.each(codes)('%s is served under /problems/, as a page and as JSON', async (code) => {
    const page = await t.request('GET', `/problems/${code}`, null);
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html\b/);
    expect(page.body).toContain(PROBLEMS[code].title);

    const json = await t.app.inject({
      method: 'GET',
      url: `/problems/${code}`,
      headers: { accept: 'application/json' },
    });
    expect(json.statusCode).toBe(200);
    expect(json.json()).toMatchObject({
      type: `/problems/${code}`,
      status: PROBLEMS[code].status,
      title: PROBLEMS[code].title,
    });
  });
});

describe('examples', () => {
  it('every request body has an example for each of its media types', () => {
    const missing: string[] = [];
    for (const { key, op } of operations()) {
      for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
        if (!hasExample(media)) missing.push(`${key} request ${type}`);
      }
    }
    expect(missing, missing.join('\n')).toEqual([]);
  });

  it('every response documents its content with an example', () => {
    const missing: string[] = [];
    for (const { key, op } of operations()) {
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        if (status === '204') continue;
        const content = Object.entries(response.content ?? {});
        if (content.length === 0) missing.push(`${key} ${status}: no content`);
        for (const [type, media] of content) {
          if (!hasExample(media)) missing.push(`${key} ${status} ${type}`);
        }
      }
    }
    expect(missing, missing.join('\n')).toEqual([]);
  });

  it('documents error responses of the API as application/problem+json, as they are sent', () => {
    const wrong: string[] = [];
    for (const { key, path, op } of operations()) {
      if (path === '/oauth/token') continue; // RFC 6749 errors are plain JSON by design
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        if (Number(status) < 400) continue;
        const types = Object.keys(response.content ?? {});
        if (!types.includes('application/problem+json'))
          wrong.push(`${key} ${status}: ${types.join(', ') || 'no content'}`);
      }
    }
    expect(wrong, wrong.join('\n')).toEqual([]);
  });
});

describe('security', () => {
  const oauthScopes = () =>
    Object.keys(doc.components?.securitySchemes?.oauth2?.flows?.clientCredentials?.scopes ?? {});

  it('declares the OAuth2 client-credentials scheme with every scope', () => {
    expect(doc.components?.securitySchemes?.oauth2?.type).toBe('oauth2');
    expect(oauthScopes().sort()).toEqual([...SCOPES].sort());
  });

  it('every protected operation declares the oauth2 scope it needs; public ones declare none', () => {
    const wrong: string[] = [];
    for (const { key, op } of operations()) {
      if (PUBLIC_OPERATIONS.has(key)) {
        if (!Array.isArray(op.security) || op.security.length !== 0)
          wrong.push(`${key}: public, but security is ${JSON.stringify(op.security)}`);
        continue;
      }
      const scopes = op.security?.flatMap((requirement) => requirement.oauth2 ?? []) ?? [];
      if (scopes.length === 0) wrong.push(`${key}: protected, but declares no oauth2 scope`);
      for (const scope of scopes)
        if (!oauthScopes().includes(scope)) wrong.push(`${key}: unknown scope ${scope}`);
    }
    expect(wrong, wrong.join('\n')).toEqual([]);
  });

  it('enforces what it declares: no token is 401, a token without the declared scope is 403', async () => {
    const clientId = 'openapi-client';
    const secret = 'openapi-client-secret-0123456789';
    expect(
      (
        await createClient(t.handle.db, {
          programId: 'openapi',
          clientId,
          secret,
          scopes: [...SCOPES],
        })
      ).status,
    ).toBe('created');
    const checked: string[] = [];
    for (const { key, path, method, op } of operations()) {
      if (PUBLIC_OPERATIONS.has(key)) {
        const res = await t.request(method.toUpperCase(), concrete(path), null);
        expect([401, 403], `${key} is documented public`).not.toContain(res.statusCode);
        continue;
      }
      const declared = op.security?.flatMap((r) => r.oauth2 ?? []) ?? [];
      const anonymous = await t.request(method.toUpperCase(), concrete(path), null);
      expect(anonymous.statusCode, `${key} without a token`).toBe(401);
      const others = SCOPES.filter((s) => !declared.includes(s));
      const token = await t.token(clientId, secret, others.join(' '));
      const res = await t.request(
        method.toUpperCase(),
        concrete(path),
        token,
        method === 'get' ? undefined : {},
      );
      expect(res.statusCode, `${key} with every scope but ${declared.join(', ')}`).toBe(403);
      checked.push(key);
    }
    expect(checked.length).toBeGreaterThanOrEqual(9);
  });
});

describe('linting', () => {
  it('lints clean with the recommended rules of Redocly’s OpenAPI linter', async () => {
    // @redocly/openapi-core: the library behind `redocly lint`, offline, no binaries.
    const { createConfig, lintFromString } = await import('@redocly/openapi-core');
    // operation-4xx-response is off: /health and the JWKS have no client error to document.
    const config = await createConfig({
      extends: ['recommended'],
      rules: { 'operation-4xx-response': 'off' },
    });
    const problems = await lintFromString({ source, absoluteRef: 'openapi.json', config });
    const report = problems.map(
      (p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer ?? '?'}`,
    );
    expect(report, report.join('\n')).toEqual([]);
  });
});
