// The program document and its immutable versions over HTTP, against a real database. Real:
// the HTTP app, token checks, validation, publication, the event pipeline. Faked: the clock.
//
// Rules under test (issue 3): `GET /v1/program` reads the document in force; `PUT /v1/program`
// validates a new document in full and publishes it at once as the next immutable version;
// `GET /v1/program/versions/{n}` reads an old one; an invalid document is a 400 with JSON
// Pointers and stores nothing; every event names the version that evaluated it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, createClient } from '../src/auth/index.ts';
import {
  programTemplate,
  validateProgramDocument,
  type ProgramDocument,
} from '../src/rules/index.ts';
import { DEFAULT_NOW, purchase, startTestApp, type TestApp } from './support/app.ts';
import type { Problem } from './support/types.ts';

interface VersionView {
  programId: string;
  version: number;
  createdAt: string;
  createdBy: string;
  document: ProgramDocument;
}

/** Monday 2026-06-15 10:00 in Prague: a plain weekday (1×). */
const WEEKDAY = '2026-06-15T08:00:00Z';

let t: TestApp;
let token: string;
let clients = 0;

beforeAll(async () => {
  t = await startTestApp();
  token = await t.program('shop', 'retail');
});
afterAll(() => t.close());

/** What the server stores for a document: validated and normalised (defaults filled in). */
function normalised(document: unknown): ProgramDocument {
  const result = validateProgramDocument(document);
  if (!result.ok) throw new Error(`test document is invalid: ${JSON.stringify(result.errors)}`);
  return result.document;
}

/** A token of a new client of `programId`, holding every scope but asking only for `scope`. */
async function tokenWithScope(programId: string, scope: string): Promise<string> {
  clients += 1;
  const clientId = `versions-${programId}-${clients}`;
  const secret = `secret-${clientId}-0123456789abcdef`;
  const created = await createClient(t.handle.db, {
    programId,
    clientId,
    secret,
    scopes: [...SCOPES],
  });
  expect(created.status).toBe('created');
  return t.token(clientId, secret, scope);
}

async function current(tok: string): Promise<VersionView> {
  const res = await t.request('GET', '/v1/program', tok);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as VersionView;
}

async function publish(tok: string, document: unknown): Promise<VersionView> {
  const res = await t.request('PUT', '/v1/program', tok, document);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as VersionView;
}

async function storedVersions(programId: string): Promise<number[]> {
  const rows = await t.handle.db
    .selectFrom('program_versions')
    .select('version')
    .where('program_id', '=', programId)
    .orderBy('version')
    .execute();
  return rows.map((r) => r.version);
}

/** The retail template earning `pointsPerUnit` per EUR, under another name. */
function retailEarning(pointsPerUnit: string, name: string): ProgramDocument {
  const document = programTemplate('retail');
  document.name = name;
  for (const rule of document.rules) {
    if (rule.effect.type === 'earn') rule.effect.pointsPerUnit = pointsPerUnit;
  }
  return document;
}

// Tests in this file build on each other's versions of program `shop`, in order.
describe('reading and publishing versions', () => {
  it('GET /v1/program answers version 1: the normalised document the program was created with', async () => {
    t.clock.set(DEFAULT_NOW);
    const view = await current(token);
    expect(view).toEqual({
      programId: 'shop',
      version: 1,
      current: true,
      createdAt: expect.any(String),
      createdBy: 'test',
      reason: 'program created',
      origin: 'create',
      draftId: null,
      rollbackOf: null,
      document: normalised(programTemplate('retail')),
    });
    expect(view.document.settings).toEqual({
      backdatingWindowDays: 90,
      createMembersOnEvent: true,
      negativeBalance: 'allow',
      redemption: { holdTtl: 'PT15M' },
      expiry: { policy: { type: 'lot', months: 12 }, warningDays: 30 },
    });
  });

  it('PUT publishes version 2 at once; the next event is evaluated by it and names it', async () => {
    t.clock.set(DEFAULT_NOW);
    const before = purchase('versioned', '10.00', WEEKDAY);
    const earlier = await t.request('POST', '/v1/events', token, before);
    expect(earlier.statusCode, earlier.body).toBe(201);
    expect(earlier.json()).toMatchObject({ pointsEarned: 10, programVersion: 1 });

    const v2 = retailEarning('2', 'Retail v2');
    const published = await publish(token, v2);
    expect(published).toMatchObject({ programId: 'shop', version: 2, document: normalised(v2) });
    expect(published.createdBy).toMatch(/^client:/);
    expect(await current(token)).toEqual(published);

    const after = purchase('versioned', '10.00', WEEKDAY);
    const res = await t.request('POST', '/v1/events', token, after);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({
      pointsEarned: 20,
      programVersion: 2,
      balance: { available: 30 },
    });
    const explained = await t.request('GET', `/v1/events/${after.id as string}/explain`, token);
    expect(explained.json()).toMatchObject({
      programVersion: 2,
      trace: {
        programVersion: 2,
        rules: expect.arrayContaining([
          expect.objectContaining({ id: 'base', fired: true, pointsPerUnit: '2' }),
        ]),
      },
    });

    // The earlier event keeps its answer: a replay still says version 1 and 10 points.
    const replay = await t.request('POST', '/v1/events', token, before);
    expect(replay.statusCode, replay.body).toBe(200);
    expect(replay.json()).toMatchObject({ pointsEarned: 10, programVersion: 1, replayed: true });
  });

  it('old versions stay readable and unchanged; unknown versions are 404 and malformed ones 400', async () => {
    t.clock.set(DEFAULT_NOW);
    const v1 = await t.request('GET', '/v1/program/versions/1', token);
    expect(v1.statusCode, v1.body).toBe(200);
    expect(v1.json()).toMatchObject({
      programId: 'shop',
      version: 1,
      document: normalised(programTemplate('retail')),
    });
    const v2 = await t.request('GET', '/v1/program/versions/2', token);
    expect(v2.statusCode, v2.body).toBe(200);
    expect((v2.json() as VersionView).document.name).toBe('Retail v2');

    const missing = await t.request('GET', '/v1/program/versions/3', token);
    expect(missing.statusCode, missing.body).toBe(404);
    expect((missing.json() as Problem).type).toBe('/problems/not-found');
    for (const bad of ['0', 'abc', '-1']) {
      const res = await t.request('GET', `/v1/program/versions/${bad}`, token);
      expect(res.statusCode, `${bad}: ${res.body}`).toBe(400);
    }
  });
});

describe('invalid documents', () => {
  const cases: [string, (d: ProgramDocument) => void, string, RegExp][] = [
    [
      'a typo in a CEL condition, with the rule and position',
      (d) => {
        (d.rules[1] as { condition?: string }).condition = 'local.wekday >= 6';
      },
      '/rules/1/condition',
      /rule "weekend".*wekday.*at 1:7/,
    ],
    [
      'a rule naming an unknown event type',
      (d) => {
        (d.rules[0] as { eventTypes: string[] }).eventTypes = ['purchase', 'sale'];
      },
      '/rules/0/eventTypes/1',
      /unknown event type "sale"/,
    ],
    [
      'tier thresholds out of order',
      (d) => {
        (d.tiers?.levels[2] as { threshold: number }).threshold = 500;
      },
      '/tiers/levels/2/threshold',
      /ascend/,
    ],
    [
      'an unknown time zone',
      (d) => {
        d.timeZone = 'Europe/Praha';
      },
      '/timeZone',
      /Europe\/Praha/,
    ],
  ];

  it.each(cases)(
    'refuses %s with a 400 and a pointer, and stores nothing',
    async (_name, mutate, pointer, detail) => {
      t.clock.set(DEFAULT_NOW);
      const before = await current(token);
      const stored = await storedVersions('shop');
      const document = programTemplate('retail');
      mutate(document);

      const res = await t.request('PUT', '/v1/program', token, document);
      expect(res.statusCode, res.body).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      const problem = res.json() as Problem;
      expect(problem.type).toBe('/problems/validation-failed');
      expect(problem.errors).toEqual([{ pointer, detail: expect.stringMatching(detail) }]);

      expect(await current(token)).toEqual(before);
      expect(await storedVersions('shop')).toEqual(stored);
      const next = await t.request('GET', `/v1/program/versions/${before.version + 1}`, token);
      expect(next.statusCode).toBe(404);
    },
  );

  it('reports every error of a document at once', async () => {
    t.clock.set(DEFAULT_NOW);
    const stored = await storedVersions('shop');
    const document = programTemplate('retail');
    for (const [, mutate] of cases) mutate(document);
    const res = await t.request('PUT', '/v1/program', token, document);
    expect(res.statusCode, res.body).toBe(400);
    const pointers = ((res.json() as Problem).errors ?? []).map((e) => e.pointer).sort();
    expect(pointers).toEqual(cases.map(([, , pointer]) => pointer).sort());
    expect(await storedVersions('shop')).toEqual(stored);
  });

  it('refuses a body that is not a program document at all', async () => {
    t.clock.set(DEFAULT_NOW);
    const stored = await storedVersions('shop');
    for (const body of [[], { name: 'no rules' }]) {
      const res = await t.request('PUT', '/v1/program', token, body);
      expect(res.statusCode, res.body).toBe(400);
      expect((res.json() as Problem).errors?.length).toBeGreaterThan(0);
    }
    expect(await storedVersions('shop')).toEqual(stored);
  });

  it('after refused documents the next valid one takes the next number: no gap', async () => {
    t.clock.set(DEFAULT_NOW);
    const stored = await storedVersions('shop');
    const last = stored.at(-1) as number;
    const published = await publish(token, retailEarning('3', 'Retail after refusals'));
    expect(published.version).toBe(last + 1);
    expect(await storedVersions('shop')).toEqual([...stored, last + 1]);
  });
});

describe('who may read and publish', () => {
  it('a token with only program:read can read the program but not publish (403)', async () => {
    t.clock.set(DEFAULT_NOW);
    const reader = await tokenWithScope('shop', 'program:read');
    const before = await current(reader);
    expect(before.programId).toBe('shop');

    const res = await t.request('PUT', '/v1/program', reader, retailEarning('9', 'Not allowed'));
    expect(res.statusCode, res.body).toBe(403);
    expect((res.json() as Problem).type).toBe('/problems/insufficient-scope');
    expect(await current(token)).toEqual(before);

    const writerOnly = await tokenWithScope('shop', 'events:write');
    expect((await t.request('GET', '/v1/program', writerOnly)).statusCode).toBe(403);
    expect((await t.request('GET', '/v1/program/versions/1', writerOnly)).statusCode).toBe(403);
    expect((await t.request('GET', '/v1/program', null)).statusCode).toBe(401);
  });

  it("another program's token sees and publishes its own program only", async () => {
    t.clock.set(DEFAULT_NOW);
    const shopBefore = await current(token);
    expect(shopBefore.version).toBeGreaterThan(2);
    const other = await t.program('casino-next-door', 'casino');

    const theirs = await current(other);
    expect(theirs).toMatchObject({
      programId: 'casino-next-door',
      version: 1,
      document: normalised(programTemplate('casino')),
    });
    // Version 2 exists for `shop`, not for this program.
    expect((await t.request('GET', '/v1/program/versions/2', other)).statusCode).toBe(404);

    const casino2 = programTemplate('casino');
    casino2.name = 'Casino v2';
    expect((await publish(other, casino2)).version).toBe(2);
    expect(await current(token)).toEqual(shopBefore);
    expect((await current(other)).document.name).toBe('Casino v2');
  });
});

describe('concurrent publication', () => {
  it('two publications at once get consecutive versions, no gap and no duplicate', async () => {
    t.clock.set(DEFAULT_NOW);
    const last = (await current(token)).version;
    const [a, b] = await Promise.all([
      t.request('PUT', '/v1/program', token, retailEarning('4', 'Concurrent A')),
      t.request('PUT', '/v1/program', token, retailEarning('5', 'Concurrent B')),
    ]);
    expect([a?.statusCode, b?.statusCode]).toEqual([200, 200]);
    const views = [a, b].map((r) => r?.json() as VersionView);
    expect(views.map((v) => v.version).sort((x, y) => x - y)).toEqual([last + 1, last + 2]);
    for (const view of views) {
      const stored = await t.request('GET', `/v1/program/versions/${view.version}`, token);
      expect((stored.json() as VersionView).document.name).toBe(view.document.name);
    }
    expect((await current(token)).version).toBe(last + 2);
  });

  it('six publications at once get the next six numbers', async () => {
    t.clock.set(DEFAULT_NOW);
    const last = (await current(token)).version;
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        t.request('PUT', '/v1/program', token, retailEarning(String(i + 1), `Burst ${i}`)),
      ),
    );
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200, 200]);
    const numbers = answers.map((r) => (r.json() as VersionView).version).sort((x, y) => x - y);
    expect(numbers).toEqual([1, 2, 3, 4, 5, 6].map((i) => last + i));
    expect(await storedVersions('shop')).toEqual(Array.from({ length: last + 6 }, (_, i) => i + 1));
  });
});
