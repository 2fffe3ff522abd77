// `--role api|worker|scheduler` on PostgreSQL: three processes of the same build on this
// file's fresh database, each doing only its part. The scheduled hold release is the job
// watched: the API never sends nor runs it, the scheduler sends it, the worker runs it.
import { sql } from 'kysely';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOLD_RELEASE_JOB } from '../src/server.ts';
import { freshDatabase, type TestDatabase } from './support/db.ts';
import { spawnOnDatabase, type PatronProcess } from './support/process.ts';

let database: TestDatabase;
const started: PatronProcess[] = [];

beforeAll(async () => {
  database = await freshDatabase();
});
afterAll(async () => {
  await Promise.all(started.map((p) => p.stop()));
  await database.close();
});

function start(role: string): PatronProcess {
  const patron = spawnOnDatabase(database.url, ['--role', role]);
  started.push(patron);
  return patron;
}

async function holdReleaseJobs(): Promise<Record<string, number>> {
  const rows = await sql<{ state: string; count: string }>`
    SELECT state::text, count(*)::text AS count FROM pgboss.job WHERE name = ${HOLD_RELEASE_JOB}
    GROUP BY state`.execute(database.db);
  return Object.fromEntries(rows.rows.map((r) => [r.state, Number(r.count)]));
}

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await sleep(200);
  }
}

describe('--role on PostgreSQL', () => {
  it('runs the API, the scheduler and the worker as separate processes, each doing only its part', async () => {
    const api = start('api');
    await api.waitFor(/"role":"api"[^\n]*"msg":"listening"/);
    const port = /"port":(\d+)/.exec(api.output())?.[1];
    expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(200);
    await sleep(1_000);
    expect(await holdReleaseJobs()).toEqual({});

    const scheduler = start('scheduler');
    await scheduler.waitFor(/"role":"scheduler"[^\n]*"msg":"running jobs"/);
    // Sent at once, and waiting: nobody works it yet (the exclusive queue holds just the one).
    expect(await until(holdReleaseJobs, (jobs) => jobs.created === 1, 10_000)).toEqual({
      created: 1,
    });

    const worker = start('worker');
    await worker.waitFor(/"role":"worker"[^\n]*"msg":"running jobs"/);
    await until(holdReleaseJobs, (jobs) => (jobs.completed ?? 0) >= 1, 15_000);

    const instances = await sql<{ name: string }>`
      SELECT name FROM pgboss.instance WHERE stopped_on IS NULL ORDER BY name`.execute(database.db);
    expect(instances.rows.map((r) => r.name)).toEqual([
      'patron-api',
      'patron-scheduler',
      'patron-worker',
    ]);
    for (const patron of [api, scheduler, worker]) {
      expect(await patron.stop()).toBe(0);
      expect(patron.output()).not.toMatch(/"level":(50|60)/);
    }
  });
});
