// A fresh database for one test file (cloned from the run's migrated template, on the
// embedded database or PostgreSQL), with programs p1 and p2.
import { sql } from 'kysely';
import type { Db } from '../../src/db/connect.ts';
import { freshDatabase as cloneTemplate } from '../support/db.ts';

export const DB_SETUP_TIMEOUT_MS = 60_000;

export async function freshDatabase(): Promise<Db> {
  const handle = await cloneTemplate();
  await sql`insert into programs (id) values ('p1'), ('p2')`.execute(handle.db);
  return handle;
}

/** A clock the test moves by hand. */
export function manualClock(start = new Date('2026-03-01T12:00:00Z')) {
  let current = start.getTime();
  return {
    now: () => new Date(current),
    advanceSeconds(seconds: number) {
      current += seconds * 1000;
    },
  };
}
