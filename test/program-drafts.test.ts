// Drafts, publishing, rollback, scheduled publications and the change log, over HTTP against a
// real database. Real: the HTTP app, validation, the publication pass the job runs, the event
// pipeline. Faked: the clock.
//
// Rules under test (issue 4, "Versions and publishing"): a draft lives beside the published
// versions, is saved valid or not, validated with every error (a bad condition names its rule
// and position), diffed against any version and published with a reason; an outdated draft is
// refused unless the manager says so; rollback publishes a copy of an older version; a
// publication can be scheduled for an instant and cancelled until then; every change is in the
// change log with who, when and why; events are evaluated by exactly the version in force.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyDuePublications } from '../src/programs/drafts.ts';
import type { ProgramDocument } from '../src/rules/index.ts';
import { purchase, startTestApp, type TestApp } from './support/app.ts';
import type { Problem } from './support/types.ts';

/** Monday 2026-06-15 10:00 in Prague: a plain weekday (1×). */
const WEEKDAY = '2026-06-15T08:00:00Z';
const NOW = '2026-06-15T10:00:00Z';

interface DraftView {
  id: string;
  name: string;
  status: string;
  revision: number;
  baseVersion: number;
  outdated: boolean;
  publishedVersion: number | null;
  document: ProgramDocument;
  validation: { valid: boolean; errors: { pointer: string; detail: string }[] };
}

let t: TestApp;
let token: string;

beforeAll(async () => {
  t = await startTestApp({ now: NOW });
  token = await t.program('drafts', 'retail');
});
afterAll(() => t.close());

async function ok<T>(method: string, url: string, body?: unknown, status = 200): Promise<T> {
  const res = await t.request(method, url, token, body);
  expect(res.statusCode, res.body).toBe(status);
  return res.json() as T;
}

async function newDraft(body: Record<string, unknown> = {}): Promise<DraftView> {
  return ok<DraftView>('POST', '/v1/program/drafts', body, 201);
}

async function currentVersion(): Promise<number> {
  return (await ok<{ version: number }>('GET', '/v1/program')).version;
}

async function earn(value: string): Promise<{ pointsEarned: number; programVersion: number }> {
  return ok('POST', '/v1/events', purchase('drafts-member', value, WEEKDAY), 201);
}

/** The document with the base earn rule giving `pointsPerUnit` per EUR. */
function earning(document: ProgramDocument, pointsPerUnit: string): ProgramDocument {
  const copy = structuredClone(document);
  for (const rule of copy.rules) {
    if (rule.effect.type === 'earn') rule.effect.pointsPerUnit = pointsPerUnit;
  }
  return copy;
}

// Tests in this file build on each other's versions of program `drafts`, in order.
describe('a draft from start to publication', () => {
  it('starts as a copy of the version in force, valid, and changes nothing by itself', async () => {
    const draft = await newDraft({ name: 'Double base', reason: 'test the base rate' });
    expect(draft).toMatchObject({
      id: expect.stringMatching(/^drf_[0-9A-Z]{26}$/),
      name: 'Double base',
      status: 'open',
      revision: 1,
      baseVersion: 1,
      outdated: false,
      publishedVersion: null,
      validation: { valid: true, errors: [] },
    });
    const current = await ok<{ document: ProgramDocument }>('GET', '/v1/program');
    expect(draft.document).toEqual(current.document);
    expect(await currentVersion()).toBe(1);
    const diff = await ok<{ identical: boolean }>('GET', `/v1/program/drafts/${draft.id}/diff`);
    expect(diff.identical).toBe(true);
  });

  it('saves edits with a new revision, and the diff names the changed rule field by field', async () => {
    const draft = await newDraft({ name: 'Triple weekend' });
    const document = structuredClone(draft.document);
    const weekend = document.rules.find((r) => r.id === 'weekend');
    if (weekend?.effect.type !== 'multiplier') throw new Error('template changed');
    weekend.effect.factor = '3';
    document.rules.push({
      id: 'newsletter',
      name: 'Newsletter bonus',
      eventTypes: ['purchase'],
      condition: "event.attributes.?channel.orValue('') == 'newsletter'",
      effect: { type: 'bonus', points: 5 },
    });
    const saved = await ok<DraftView>('PATCH', `/v1/program/drafts/${draft.id}`, {
      document,
      revision: 1,
    });
    expect(saved).toMatchObject({ revision: 2, validation: { valid: true } });

    const diff = await ok<Record<string, unknown>>('GET', `/v1/program/drafts/${draft.id}/diff`);
    expect(diff).toMatchObject({
      from: 'version 1',
      to: `draft ${draft.id}`,
      identical: false,
      rules: {
        added: [
          { id: 'newsletter', name: 'Newsletter bonus', position: document.rules.length - 1 },
        ],
        removed: [],
        changed: [
          {
            id: 'weekend',
            fields: [{ pointer: '/effect/factor', from: '2', to: '3' }],
          },
        ],
        reordered: false,
      },
      fields: [],
    });
  });

  it('publishes with a reason as the next version; the next event is evaluated by it', async () => {
    const before = await earn('10.00');
    expect(before).toMatchObject({ pointsEarned: 10, programVersion: 1 });
    const draft = await newDraft();
    await ok('PATCH', `/v1/program/drafts/${draft.id}`, {
      document: earning(draft.document, '2'),
    });
    const published = await ok<Record<string, unknown>>(
      'POST',
      `/v1/program/drafts/${draft.id}:publish`,
      { reason: 'double base rate for the summer' },
    );
    expect(published).toMatchObject({
      version: 2,
      current: true,
      origin: 'draft',
      draftId: draft.id,
      reason: 'double base rate for the summer',
      createdBy: expect.stringMatching(/^client:/),
    });
    expect(await earn('10.00')).toMatchObject({ pointsEarned: 20, programVersion: 2 });

    const after = await ok<DraftView>('GET', `/v1/program/drafts/${draft.id}`);
    expect(after).toMatchObject({ status: 'published', publishedVersion: 2, outdated: false });
    // A published draft is kept read-only.
    const edit = await t.request('PATCH', `/v1/program/drafts/${draft.id}`, token, { name: 'x' });
    expect(edit.statusCode).toBe(409);
    expect((edit.json() as Problem).type).toBe('/problems/draft-not-open');
    const again = await t.request('POST', `/v1/program/drafts/${draft.id}:publish`, token, {
      reason: 'again',
    });
    expect(again.statusCode).toBe(409);
  });

  it('the version diff shows what a version changed against the one before', async () => {
    const diff = await ok<Record<string, unknown>>('GET', '/v1/program/versions/2/diff');
    expect(diff).toMatchObject({
      from: 'version 1',
      to: 'version 2',
      rules: { changed: [{ id: 'base', fields: [{ pointer: '/effect/pointsPerUnit' }] }] },
    });
  });
});

describe('bad drafts and concurrent editors', () => {
  it('saves an invalid document, reports every error with its rule and position, and refuses to publish it', async () => {
    const draft = await newDraft({ name: 'Typo' });
    const document = structuredClone(draft.document);
    const weekend = document.rules.findIndex((r) => r.id === 'weekend');
    (document.rules[weekend] as { condition?: string }).condition = 'locl.weekday >= 6';
    (document as { timeZone: string }).timeZone = 'Europe/Pargue';
    const saved = await ok<DraftView>('PATCH', `/v1/program/drafts/${draft.id}`, { document });
    expect(saved.validation.valid).toBe(false);
    expect(saved.validation.errors).toEqual(
      expect.arrayContaining([
        { pointer: '/timeZone', detail: expect.stringContaining('Europe/Pargue') },
        {
          pointer: `/rules/${weekend}/condition`,
          detail: expect.stringMatching(/^rule "weekend": .*locl.* at 1:1$/),
        },
      ]),
    );
    const validated = await ok<DraftView['validation']>(
      'POST',
      `/v1/program/drafts/${draft.id}:validate`,
    );
    expect(validated).toEqual(saved.validation);

    const versionsBefore = await currentVersion();
    const res = await t.request('POST', `/v1/program/drafts/${draft.id}:publish`, token, {
      reason: 'typo',
    });
    expect(res.statusCode).toBe(400);
    const body = res.json() as Problem;
    expect(body.type).toBe('/problems/validation-failed');
    expect(body.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ pointer: `/document/rules/${weekend}/condition` }),
      ]),
    );
    expect(await currentVersion()).toBe(versionsBefore);
  });

  it('refuses a save that names an old revision: the second editor does not overwrite the first', async () => {
    const draft = await newDraft();
    await ok('PATCH', `/v1/program/drafts/${draft.id}`, { name: 'first editor', revision: 1 });
    const second = await t.request('PATCH', `/v1/program/drafts/${draft.id}`, token, {
      name: 'second editor',
      revision: 1,
    });
    expect(second.statusCode).toBe(409);
    expect(second.json()).toMatchObject({
      type: '/problems/draft-stale',
      detail: expect.stringContaining('revision 2'),
    });
    expect((await ok<DraftView>('GET', `/v1/program/drafts/${draft.id}`)).name).toBe(
      'first editor',
    );
  });

  it('refuses to publish an outdated draft unless told to, so a newer version is not undone unnoticed', async () => {
    const stale = await newDraft({ name: 'started before a publish' });
    const fresh = await newDraft();
    await ok('POST', `/v1/program/drafts/${fresh.id}:publish`, { reason: 'unrelated publish' });
    const version = await currentVersion();
    expect((await ok<DraftView>('GET', `/v1/program/drafts/${stale.id}`)).outdated).toBe(true);

    const refused = await t.request('POST', `/v1/program/drafts/${stale.id}:publish`, token, {
      reason: 'late',
    });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({
      type: '/problems/draft-outdated',
      detail: `draft ${stale.id} was started from version ${stale.baseVersion}, and version ${version} is in force now`,
    });
    const forced = await ok<{ version: number }>('POST', `/v1/program/drafts/${stale.id}:publish`, {
      reason: 'late, on purpose',
      allowOutdated: true,
    });
    expect(forced.version).toBe(version + 1);
  });

  it('discards an open draft, keeping it read-only in the list of all drafts', async () => {
    const draft = await newDraft({ name: 'to discard' });
    const discarded = await ok<DraftView>(
      'DELETE',
      `/v1/program/drafts/${draft.id}?reason=${encodeURIComponent('not needed')}`,
    );
    expect(discarded.status).toBe('discarded');
    const open = await ok<{ items: { id: string }[] }>('GET', '/v1/program/drafts');
    expect(open.items.map((d) => d.id)).not.toContain(draft.id);
    const all = await ok<{ items: { id: string; status: string }[] }>(
      'GET',
      '/v1/program/drafts?status=all',
    );
    expect(all.items).toContainEqual(
      expect.objectContaining({ id: draft.id, status: 'discarded' }),
    );
  });

  it("another program's draft is not found", async () => {
    const otherToken = await t.program('drafts-other', 'retail');
    const mine = await newDraft();
    const res = await t.request('GET', `/v1/program/drafts/${mine.id}`, otherToken);
    expect(res.statusCode).toBe(404);
    const publish = await t.request('POST', `/v1/program/drafts/${mine.id}:publish`, otherToken, {
      reason: 'not mine',
    });
    expect(publish.statusCode).toBe(404);
  });
});

describe('rollback', () => {
  it('publishes a copy of an older version as the next one, with its reason', async () => {
    const v1 = await ok<{ document: ProgramDocument }>('GET', '/v1/program/versions/1');
    const before = await currentVersion();
    const rolled = await ok<Record<string, unknown>>('POST', '/v1/program/versions/1:rollback', {
      reason: 'the double rate over-issued',
    });
    expect(rolled).toMatchObject({
      version: before + 1,
      current: true,
      origin: 'rollback',
      rollbackOf: 1,
      reason: 'the double rate over-issued',
      document: v1.document,
    });
    expect(await earn('10.00')).toMatchObject({ pointsEarned: 10, programVersion: before + 1 });
  });

  it('needs a reason, and a version that exists', async () => {
    const noReason = await t.request('POST', '/v1/program/versions/1:rollback', token, {});
    expect(noReason.statusCode).toBe(400);
    expect((noReason.json() as Problem).errors?.[0]?.pointer).toBe('/reason');
    const unknown = await t.request('POST', '/v1/program/versions/999:rollback', token, {
      reason: 'x',
    });
    expect(unknown.statusCode).toBe(404);
  });
});

describe('scheduled publication', () => {
  it('takes effect at its instant, with the version number given then', async () => {
    t.clock.set(NOW);
    const draft = await newDraft({ name: 'Summer sale' });
    await ok('PATCH', `/v1/program/drafts/${draft.id}`, {
      document: earning(draft.document, '5'),
    });
    const effectiveAt = '2026-06-16T22:00:00.000Z';
    const scheduled = await ok<Record<string, unknown>>(
      'POST',
      `/v1/program/drafts/${draft.id}:publish`,
      { reason: 'summer sale starts at midnight', effectiveAt },
      202,
    );
    expect(scheduled).toMatchObject({
      id: expect.stringMatching(/^pub_/),
      draftId: draft.id,
      effectiveAt,
      status: 'scheduled',
      version: null,
    });
    const version = await currentVersion();
    expect((await ok<DraftView>('GET', `/v1/program/drafts/${draft.id}`)).status).toBe('scheduled');
    // A scheduled draft is frozen until its publication is cancelled or takes effect.
    const edit = await t.request('PATCH', `/v1/program/drafts/${draft.id}`, token, { name: 'x' });
    expect(edit.statusCode).toBe(409);

    expect(await applyDuePublications(t.handle.db, new Date('2026-06-16T21:59:59.999Z'))).toEqual(
      [],
    );
    expect(await currentVersion()).toBe(version);
    expect(await applyDuePublications(t.handle.db, new Date('2026-06-16T22:00:03Z'))).toEqual([
      { programId: 'drafts', version: version + 1 },
    ]);
    // A second pass finds nothing left to do.
    expect(await applyDuePublications(t.handle.db, new Date('2026-06-16T22:00:08Z'))).toEqual([]);

    const published = await ok<Record<string, unknown>>('GET', '/v1/program');
    expect(published).toMatchObject({
      version: version + 1,
      origin: 'schedule',
      draftId: draft.id,
      reason: 'summer sale starts at midnight',
    });
    const publication = await ok<Record<string, unknown>>(
      'GET',
      `/v1/program/publications/${scheduled.id as string}`,
    );
    expect(publication).toMatchObject({
      status: 'published',
      version: version + 1,
      settledAt: '2026-06-16T22:00:03.000Z',
    });
    expect(await ok<DraftView>('GET', `/v1/program/drafts/${draft.id}`)).toMatchObject({
      status: 'published',
      publishedVersion: version + 1,
    });
    expect(await earn('10.00')).toMatchObject({ pointsEarned: 50, programVersion: version + 1 });
  });

  it('can be cancelled until then; its draft opens again', async () => {
    t.clock.set(NOW);
    const draft = await newDraft({ name: 'maybe later' });
    const scheduled = await ok<{ id: string }>(
      'POST',
      `/v1/program/drafts/${draft.id}:publish`,
      { reason: 'later', effectiveAt: '2026-07-01T00:00:00Z' },
      202,
    );
    const listed = await ok<{ items: { id: string }[] }>('GET', '/v1/program/publications');
    expect(listed.items.map((p) => p.id)).toContain(scheduled.id);

    const cancelled = await ok<Record<string, unknown>>(
      'POST',
      `/v1/program/publications/${scheduled.id}:cancel`,
      { reason: 'campaign moved' },
    );
    expect(cancelled).toMatchObject({ status: 'cancelled', version: null });
    expect((await ok<DraftView>('GET', `/v1/program/drafts/${draft.id}`)).status).toBe('open');
    const twice = await t.request(
      'POST',
      `/v1/program/publications/${scheduled.id}:cancel`,
      token,
      {},
    );
    expect(twice.statusCode).toBe(409);
    expect((twice.json() as Problem).type).toBe('/problems/publication-not-scheduled');
    const version = await currentVersion();
    expect(await applyDuePublications(t.handle.db, new Date('2026-07-02T00:00:00Z'))).toEqual([]);
    expect(await currentVersion()).toBe(version);
  });

  it('refuses an instant that is not ahead, or more than a year ahead', async () => {
    t.clock.set(NOW);
    const draft = await newDraft();
    for (const effectiveAt of ['2026-06-15T09:59:59Z', '2027-06-17T00:00:00Z']) {
      const res = await t.request('POST', `/v1/program/drafts/${draft.id}:publish`, token, {
        reason: 'x',
        effectiveAt,
      });
      expect(res.statusCode).toBe(400);
      expect((res.json() as Problem).errors?.[0]?.pointer).toBe('/effectiveAt');
    }
    expect((await ok<DraftView>('GET', `/v1/program/drafts/${draft.id}`)).status).toBe('open');
  });
});

describe('history', () => {
  it('lists versions newest first, paged, with where each came from', async () => {
    const version = await currentVersion();
    const first = await ok<{ items: { version: number; current: boolean }[]; nextCursor: string }>(
      'GET',
      '/v1/program/versions?limit=2',
    );
    expect(first.items.map((v) => v.version)).toEqual([version, version - 1]);
    expect(first.items.map((v) => v.current)).toEqual([true, false]);
    const rest = await ok<{ items: { version: number; origin: string }[]; nextCursor: null }>(
      'GET',
      `/v1/program/versions?limit=500&cursor=${first.nextCursor}`,
    );
    expect(rest.items.map((v) => v.version)).toEqual(
      Array.from({ length: version - 2 }, (_, i) => version - 2 - i),
    );
    expect(rest.items.at(-1)).toMatchObject({ version: 1, origin: 'create' });
    expect(rest.nextCursor).toBeNull();
  });

  it('the change log says who changed what, when and why, newest first', async () => {
    const log = await ok<{ items: Record<string, unknown>[] }>(
      'GET',
      '/v1/program/changes?limit=500',
    );
    const actions = log.items.map((c) => c.action);
    expect(actions).toContain('draft.created');
    expect(actions).toContain('draft.updated');
    expect(actions).toContain('draft.discarded');
    expect(actions).toContain('publication.scheduled');
    expect(actions).toContain('publication.cancelled');
    expect(log.items).toContainEqual(
      expect.objectContaining({
        action: 'version.published',
        reason: 'the double rate over-issued',
        actor: expect.stringMatching(/^client:/),
        at: expect.any(String),
      }),
    );
    const published = log.items.filter((c) => c.action === 'version.published');
    expect(published.map((c) => c.version)).toEqual(
      [...published.map((c) => c.version)].sort((a, b) => Number(b) - Number(a)),
    );
    const bad = await t.request('GET', '/v1/program/changes?cursor=bm9wZQ', token);
    expect(bad.statusCode).toBe(400);
  });

  it('a change log row cannot be altered', async () => {
    await expect(
      t.handle.db.updateTable('program_changes').set({ reason: 'rewritten' }).execute(),
    ).rejects.toThrow(/append-only/);
  });
});
