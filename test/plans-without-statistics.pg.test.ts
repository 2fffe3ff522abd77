// The event path finds its rows by key even before PostgreSQL has statistics on the tables
// (a new installation in its first minute under load, before autovacuum's first ANALYZE):
// without them the planner took a program for a handful of rows and answered
// `program_id = $1 AND id = ANY($2)` by reading every member of the program. And the event
// path's connections keep one plan per statement, made when the connection first ran it:
// a plan made while the tables were empty must still find rows by key once they are large.
// Counted here by the rows that PostgreSQL's statistics views say were read from `members`
// and `events`, and by the blocks of members_pkey touched. Server only: the counters are
// PostgreSQL's, and so are the plans.
// Real: database, rules, ledger. Faked: the clock only, held still.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres, type Db } from '../src/db/connect.ts';
import {
  processEvents,
  type EventDeps,
  type Submission,
  type WriteCounts,
} from '../src/events/index.ts';
import { purchase, refund, startTestApp, type TestApp } from './support/app.ts';
import { eventDeps } from './support/events.ts';

const NOW = '2026-06-15T10:00:00Z';
const AT = '2026-06-15T09:00:00Z';
/** Members (and events) already stored: a scan of the program reads all of them. */
const STORED = 3_000;
/** At most this many rows read per event written; a scan of the program reads STORED. */
const ROWS_PER_EVENT_MAX = 10;
/**
 * At most this many blocks of members_pkey per event written: each member is probed by key
 * a few times (measured 3-5 blocks per event). A plan made on the empty table once looked
 * each member up by id alone, without program_id — a walk of the whole index per member,
 * which reads no extra rows but 33-35 blocks per event at 3,000 members.
 */
const KEY_BLOCKS_PER_EVENT_MAX = 10;

let t: TestApp;
let admin: pg.Client;
/** Event connections that planned their statements while the tables were empty. */
const planned: { checked?: Db; locked?: Db } = {};

beforeAll(async () => {
  t = await startTestApp({ now: NOW });
  await t.program('retail', 'retail');
  admin = new pg.Client({ connectionString: t.handle.url });
  await admin.connect();
  // Keep autovacuum from analysing the tables while the test runs.
  for (const table of ['members', 'events']) {
    await admin.query(`ALTER TABLE ${table} SET (autovacuum_enabled = off)`);
  }
  // One connection each, so every statement these write with was planned right here, on
  // tables without a member or an event.
  planned.checked = openPostgres(t.handle.url as string, 1);
  planned.locked = openPostgres(t.handle.url as string, 1);
  await processEvents(depsOn(planned.checked.events), 'retail', batchOf(3, 'early-checked', 3));
  const early = batchOf(3, 'early-locked', 3);
  early.push(refundOfFirst(early));
  await processEvents(depsOn(planned.locked.events), 'retail', early);
  const deps = depsOn(t.handle.db);
  for (let from = 0; from < STORED; from += 1000) {
    await processEvents(
      deps,
      'retail',
      Array.from({ length: 1000 }, (_, i) => ({
        raw: purchase(`stored-${from + i}`, '10.00', AT, { id: `stored-${from + i}` }),
        at: `/events/${i}`,
      })),
    );
  }
});
afterAll(async () => {
  await planned.checked?.close();
  await planned.locked?.close();
  await admin.end();
  await t.close();
});

const depsOn = (db: EventDeps['db']) => eventDeps(t, db);

interface Reads {
  members: number;
  events: number;
  /** Blocks of members_pkey read or found in the buffer cache. */
  memberKeyBlocks: number;
}

async function rowsRead(): Promise<Reads> {
  await admin.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await admin.query<{ relname: string; n: string }>(
    `SELECT relname, coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS n
     FROM pg_stat_user_tables WHERE relname IN ('members', 'events')`,
  );
  const of = (name: string) => Number(rows.find((r) => r.relname === name)?.n ?? 0);
  const blocks = await admin.query<{ n: string }>(
    `SELECT coalesce(idx_blks_hit, 0) + coalesce(idx_blks_read, 0) AS n
     FROM pg_statio_user_indexes WHERE indexrelname = 'members_pkey'`,
  );
  return {
    members: of('members'),
    events: of('events'),
    memberKeyBlocks: Number(blocks.rows[0]?.n ?? 0),
  };
}

/**
 * Rows read from members and events while writing these submissions on the event
 * connections of `db`: a backend reports its counters when it exits, so they are closed
 * first.
 */
async function readsWhileWriting(
  db: Db,
  submissions: Submission[],
): Promise<Reads & { writes: WriteCounts }> {
  const before = await rowsRead();
  const deps = depsOn(db.events);
  const outcomes = await processEvents(deps, 'retail', submissions);
  expect(outcomes.map((o) => o.status)).toEqual(submissions.map(() => 'created'));
  await db.close();
  let after = before;
  const deadline = Date.now() + 10_000;
  while (after.members === before.members && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    after = await rowsRead();
  }
  await new Promise((r) => setTimeout(r, 200));
  after = await rowsRead();
  return {
    members: after.members - before.members,
    events: after.events - before.events,
    memberKeyBlocks: after.memberKeyBlocks - before.memberKeyBlocks,
    writes: deps.writes,
  };
}

function batchOf(count: number, tag: string, members = STORED): Submission[] {
  return Array.from({ length: count }, (_, i) => ({
    // Members that exist (each read and updated) and new event ids (each looked up).
    raw: purchase(`stored-${(i * 37) % members}`, '5.00', AT, { id: `${tag}-${i}` }),
    at: `/events/${i}`,
  }));
}

/** A refund of the batch's first purchase: it needs a second round, written under lock. */
function refundOfFirst(batch: Submission[]): Submission {
  const first = batch[0]?.raw as { id: string; memberId: string };
  return { raw: refund(first.memberId, first.id, '5.00', AT), at: `/events/${batch.length}` };
}

describe('finding rows before the tables have statistics', () => {
  it('has no statistics on the columns the event path looks up by', async () => {
    const { rows } = await admin.query(
      `SELECT 1 FROM pg_stats WHERE tablename IN ('members', 'events') AND attname = 'program_id'`,
    );
    expect(rows).toEqual([]);
  });

  it('reads a few rows per event in a checked write, not the whole program', async () => {
    const count = 20;
    const reads = await readsWhileWriting(planned.checked as Db, batchOf(count, 'checked'));
    expect(reads.writes.checked).toBe(1);
    expect(reads.members).toBeGreaterThan(0);
    expect(reads.members).toBeLessThanOrEqual(count * ROWS_PER_EVENT_MAX);
    expect(reads.events).toBeLessThanOrEqual(count * ROWS_PER_EVENT_MAX);
    expect(reads.memberKeyBlocks).toBeGreaterThan(0);
    expect(reads.memberKeyBlocks).toBeLessThanOrEqual(count * KEY_BLOCKS_PER_EVENT_MAX);
  });

  it('reads a few rows per event in a locked write, not the whole program', async () => {
    const batch = batchOf(9, 'locked');
    batch.push(refundOfFirst(batch));
    const count = batch.length;
    const reads = await readsWhileWriting(planned.locked as Db, batch);
    expect(reads.writes.locked).toBe(1);
    expect(reads.members).toBeGreaterThan(0);
    expect(reads.members).toBeLessThanOrEqual(count * ROWS_PER_EVENT_MAX);
    expect(reads.events).toBeLessThanOrEqual(count * ROWS_PER_EVENT_MAX);
    expect(reads.memberKeyBlocks).toBeGreaterThan(0);
    expect(reads.memberKeyBlocks).toBeLessThanOrEqual(count * KEY_BLOCKS_PER_EVENT_MAX);
  });
});
