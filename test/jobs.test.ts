// The job runner on this file's fresh database (embedded, or PostgreSQL in that pass): real
// pg-boss, real queues, real time (small delays). On PostgreSQL every runner has a pool of its
// own, so two runners are two separate sets of connections, as two processes would be; on the
// embedded database two runners share the one connection, as they would in one process.
import { sql } from 'kysely';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobRunner, type JobRunnerOptions } from '../src/jobs/index.ts';
import { freshDatabase, type TestDatabase } from './support/db.ts';

let handle: TestDatabase;
const runners: JobRunner[] = [];

beforeAll(async () => {
  handle = await freshDatabase();
});
afterAll(async () => {
  await Promise.all(runners.map((r) => r.stop()));
  await handle.close();
});

function runner(options: Partial<JobRunnerOptions> = {}): JobRunner {
  const created = new JobRunner({ handle, pollingIntervalSeconds: 0.5, ...options });
  runners.push(created);
  return created;
}

async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

async function jobState(id: string): Promise<{ state: string; retry_count: number } | undefined> {
  const rows = await sql<{
    state: string;
    retry_count: number;
  }>`SELECT state, retry_count FROM pgboss.job WHERE id = ${id}`.execute(handle.db);
  return rows.rows[0];
}

describe('one-off jobs', () => {
  it('runs a sent job once, with its data', async () => {
    const jobs = runner();
    const seen: unknown[] = [];
    jobs.register('test.once', async (data) => {
      seen.push(data);
    });
    await jobs.start({ work: true, schedule: false });
    const id = await jobs.send('test.once', { memberId: 'alice', points: '12' });
    await until(() => seen.length > 0, 10_000);
    await sleep(1_500); // a second run would have had three polls to appear
    expect(seen).toEqual([{ memberId: 'alice', points: '12' }]);
    expect((await jobState(id))?.state).toBe('completed');
    await jobs.stop();
  });

  it('runs each job of a batch once', async () => {
    const jobs = runner();
    const seen: number[] = [];
    jobs.register(
      'test.batch',
      async (data: { n: number }) => {
        seen.push(data.n);
      },
      { concurrency: 2 },
    );
    await jobs.start({ work: true, schedule: false });
    await jobs.sendMany('test.batch', [{ n: 1 }, { n: 2 }, { n: 3 }]);
    await until(() => seen.length >= 3, 10_000);
    expect(seen.sort()).toEqual([1, 2, 3]);
    await jobs.stop();
  });

  it('retries a failing job with growing delays up to its limit, then leaves it failed', async () => {
    const jobs = runner();
    const attempts: { attempt: number; at: number }[] = [];
    jobs.register(
      'test.failing',
      async (_data, { attempt }) => {
        attempts.push({ attempt, at: Date.now() });
        throw new Error(`attempt ${attempt} fails`);
      },
      { retryLimit: 2, retryDelaySeconds: 1 },
    );
    await jobs.start({ work: true, schedule: false });
    const id = await jobs.send('test.failing');
    await until(() => attempts.length >= 3, 20_000);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    const [first, second, third] = attempts as [
      (typeof attempts)[0],
      (typeof attempts)[0],
      (typeof attempts)[0],
    ];
    // retryDelay·2^n with jitter: 1-2 s before the first retry, 2-4 s before the second.
    expect(second.at - first.at).toBeGreaterThanOrEqual(900);
    expect(third.at - second.at).toBeGreaterThanOrEqual(1_900);
    // The third attempt's failure is recorded once its handler has thrown; failed is final:
    // no fourth attempt comes.
    await until(async () => (await jobState(id))?.state === 'failed', 10_000);
    expect(await jobState(id)).toEqual({ state: 'failed', retry_count: 2 });
    await sleep(1_000);
    expect(attempts).toHaveLength(3);
    await jobs.stop();
  });

  it('stop() waits for a running handler to finish, and its job is completed', async () => {
    const jobs = runner();
    let started = false;
    let finished = false;
    jobs.register('test.slow', async () => {
      started = true;
      await sleep(1_500);
      finished = true;
    });
    await jobs.start({ work: true, schedule: false });
    const id = await jobs.send('test.slow');
    await until(() => started, 10_000);
    await jobs.stop();
    expect(finished).toBe(true);
    expect((await jobState(id))?.state).toBe('completed');
  });
});

describe('scheduled jobs', () => {
  it('runs a scheduled job again and again', async () => {
    const jobs = runner();
    let runs = 0;
    jobs.schedule('test.every-second', { everySeconds: 1 }, async () => {
      runs += 1;
    });
    await jobs.start({ work: true, schedule: true });
    await until(() => runs >= 3, 15_000);
    await jobs.stop();
  });

  it('never runs one scheduled job twice at once, with two runners scheduling and working it', async () => {
    let active = 0;
    let overlaps = 0;
    let runs = 0;
    const handler = async () => {
      active += 1;
      runs += 1;
      if (active > 1) overlaps += 1;
      // Longer than the period: ticks of both runners arrive while it runs.
      await sleep(1_200);
      active -= 1;
    };
    const [a, b] = [runner({ instanceName: 'a' }), runner({ instanceName: 'b' })];
    a.schedule('test.overlap', { everySeconds: 1 }, handler);
    b.schedule('test.overlap', { everySeconds: 1 }, handler);
    await Promise.all([
      a.start({ work: true, schedule: true }),
      b.start({ work: true, schedule: true }),
    ]);
    await sleep(5_000);
    await Promise.all([a.stop(), b.stop()]);
    expect(overlaps).toBe(0);
    expect(runs).toBeGreaterThanOrEqual(3);
  });

  it('runs what a scheduling-only runner sends on a working-only runner', async () => {
    let runs = 0;
    const scheduler = runner({ instanceName: 'scheduler' });
    const worker = runner({ instanceName: 'worker' });
    const handler = async () => {
      runs += 1;
    };
    scheduler.schedule('test.split', { everySeconds: 1 }, handler);
    worker.schedule('test.split', { everySeconds: 1 }, handler);
    await scheduler.start({ work: false, schedule: true });
    await worker.start({ work: true, schedule: false });
    await until(() => runs >= 2, 15_000);
    await Promise.all([scheduler.stop(), worker.stop()]);
  });
});
