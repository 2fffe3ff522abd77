// Simulation against a real database: a draft evaluated over past events next to the version
// in force, equal to the real outcome when the draft equals that version, with totals per
// rule, tier and segment; progress, cancellation, and bad requests. Real: the HTTP app, the
// event pipeline, the simulation run (called here as the job would). Faked: the clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProgramCache } from '../src/programs/index.ts';
import { runSimulation } from '../src/simulations/index.ts';
import { purchase, refund, startTestApp, type TestApp } from './support/app.ts';
import type { Problem } from './support/types.ts';

const NOW = '2026-06-22T10:00:00Z';
/** Monday 15 to Sunday 21 June 2026: weekdays and a weekend. */
const DAYS = ['15', '16', '17', '18', '19', '20', '21'];

interface SimulationJson {
  id: string;
  status: string;
  progress: { events: number; total: number | null; percent: number | null };
  result: {
    totals: {
      events: number;
      actual: number;
      published: number;
      draft: number;
      difference: number;
    };
    rules: { id: string; source: string; published: number; draft: number; difference: number }[];
    tiers: { tier: string; published: number; draft: number }[];
    mostAffected: { memberId: string; difference: number }[];
  } | null;
}

let t: TestApp;
let token: string;
const programs = new ProgramCache();

beforeAll(async () => {
  t = await startTestApp({ now: NOW });
  token = await t.program('simulated', 'retail');
  let n = 0;
  for (const day of DAYS) {
    for (let m = 0; m < 6; m += 1) {
      n += 1;
      const attributes = n % 3 === 0 ? { category: 'electronics' } : {};
      const body = purchase(
        `sim-${m}`,
        `${10 + ((n * 7) % 50)}.${n % 10}0`,
        `2026-06-${day}T09:${String(m).padStart(2, '0')}:00Z`,
        { attributes },
      );
      const res = await t.request('POST', '/v1/events', token, body);
      expect(res.statusCode, res.body).toBe(201);
      if (n === 5) {
        // A refund: not part of what a simulation compares.
        const back = await t.request(
          'POST',
          '/v1/events',
          token,
          refund(`sim-${m}`, body.id as string, '5.00', `2026-06-${day}T10:00:00Z`),
        );
        expect(back.statusCode, back.body).toBe(201);
      }
    }
  }
});
afterAll(() => t.close());

async function draftWith(
  change: (document: { rules: { id: string; effect: { factor?: string } }[] }) => void,
) {
  const res = await t.request('POST', '/v1/program/drafts', token, { name: 'sim' });
  expect(res.statusCode, res.body).toBe(201);
  const draft = res.json() as {
    id: string;
    document: { rules: { id: string; effect: { factor?: string } }[] };
  };
  change(draft.document);
  const saved = await t.request('PATCH', `/v1/program/drafts/${draft.id}`, token, {
    document: draft.document,
  });
  expect(saved.statusCode, saved.body).toBe(200);
  return draft.id;
}

async function simulate(draftId: string, from = '2026-06-01T00:00:00Z', to = NOW) {
  const res = await t.request('POST', '/v1/program/simulations', token, { draftId, from, to });
  expect(res.statusCode, res.body).toBe(202);
  return res.json() as SimulationJson;
}

async function read(id: string): Promise<SimulationJson> {
  const res = await t.request('GET', `/v1/program/simulations/${id}`, token);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as SimulationJson;
}

describe('simulating a draft', () => {
  it('equals the real outcome when the draft equals the version in force', async () => {
    const created = await simulate(await draftWith(() => {}));
    expect(created).toMatchObject({ status: 'queued', progress: { events: 0, total: null } });
    expect(await runSimulation(t.handle.db, programs, 'simulated', created.id)).toBe('done');
    const done = await read(created.id);
    expect(done.status).toBe('done');
    expect(done.progress).toEqual({ events: 42, total: 42, percent: 100 });
    const totals = done.result?.totals;
    expect(totals?.events).toBe(42);
    expect(totals?.published).toBe(totals?.actual);
    expect(totals?.draft).toBe(totals?.actual);
    expect(totals?.difference).toBe(0);
    expect(done.result?.rules.every((r) => r.difference === 0)).toBe(true);
  });

  it('reports what a change costs: in total, per rule, per tier, and the members most affected', async () => {
    const draftId = await draftWith((document) => {
      const weekend = document.rules.find((r) => r.id === 'weekend');
      if (weekend) weekend.effect.factor = '3';
    });
    const created = await simulate(draftId);
    await runSimulation(t.handle.db, programs, 'simulated', created.id);
    const result = (await read(created.id)).result;
    if (!result) throw new Error('no result');
    // Weekend events earn 3× instead of 2× their base: half as much again.
    expect(result.totals.difference).toBeGreaterThan(0);
    expect(result.totals.published).toBe(result.totals.actual);
    const base = result.rules.find((r) => r.id === 'base');
    expect(base?.difference).toBeGreaterThan(0);
    expect(result.rules.find((r) => r.id === 'electronics')).toBeDefined();
    expect(result.tiers.map((t) => t.tier)).toContain('bronze');
    const differences = result.mostAffected.map((m) => Math.abs(m.difference));
    expect(differences).toEqual([...differences].sort((a, b) => b - a));
    expect(result.mostAffected.length).toBe(6);
  });

  it('counts only the events of the window', async () => {
    const created = await simulate(
      await draftWith(() => {}),
      '2026-06-20T00:00:00Z',
      '2026-06-21T00:00:00Z',
    );
    await runSimulation(t.handle.db, programs, 'simulated', created.id);
    expect((await read(created.id)).result?.totals.events).toBe(6);
  });
});

describe('progress and cancellation', () => {
  it('a queued simulation is cancelled at once and never runs', async () => {
    const created = await simulate(await draftWith(() => {}));
    const res = await t.request('POST', `/v1/program/simulations/${created.id}:cancel`, token);
    expect(res.statusCode, res.body).toBe(200);
    expect((res.json() as SimulationJson).status).toBe('cancelled');
    expect(await runSimulation(t.handle.db, programs, 'simulated', created.id)).toBe('cancelled');
    expect((await read(created.id)).result).toBeNull();
  });

  it('a running simulation stops at its next chunk, with its progress so far', async () => {
    const created = await simulate(await draftWith(() => {}));
    // Asked to stop as it starts: it finishes its first chunk of 10 events, then stops.
    await t.handle.db
      .updateTable('simulations')
      .set({ cancel_requested: true })
      .where('id', '=', created.id)
      .execute();
    expect(await runSimulation(t.handle.db, programs, 'simulated', created.id, { chunk: 10 })).toBe(
      'cancelled',
    );
    const stopped = await read(created.id);
    expect(stopped).toMatchObject({ status: 'cancelled', progress: { events: 10, total: 42 } });
  });
});

describe('bad requests', () => {
  it('refuses an invalid draft with pointers into it, an empty window and an unknown draft', async () => {
    const draftRes = await t.request('POST', '/v1/program/drafts', token, {
      name: 'broken',
      document: { name: 'x' },
    });
    const broken = (draftRes.json() as { id: string }).id;
    const invalid = await t.request('POST', '/v1/program/simulations', token, {
      draftId: broken,
      from: '2026-06-01T00:00:00Z',
      to: NOW,
    });
    expect(invalid.statusCode).toBe(400);
    expect((invalid.json() as Problem).errors?.[0]?.pointer).toMatch(/^\/document\//);
    const empty = await t.request('POST', '/v1/program/simulations', token, {
      draftId: broken,
      from: NOW,
      to: NOW,
    });
    expect(empty.statusCode).toBe(400);
    const unknown = await t.request('POST', '/v1/program/simulations', token, {
      draftId: 'drf_00000000000000000000000000',
      from: '2026-06-01T00:00:00Z',
      to: NOW,
    });
    expect(unknown.statusCode).toBe(404);
  });
});
