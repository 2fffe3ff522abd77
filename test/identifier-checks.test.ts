// The database refuses the identifiers the API refuses (1 to 128 of A-Z a-z 0-9 . _ -, 64 for
// programs), whoever writes: the checks are invariants of the tables, not only of validation.
// Real: the database of this file.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './support/app.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
  await t.program('ids', 'retail');
});
afterAll(() => t.close());

const insertMember = (id: string) =>
  sql`INSERT INTO members (program_id, id) VALUES ('ids', ${id})`.execute(t.handle.db);
const insertProgram = (id: string) =>
  sql`INSERT INTO programs (id) VALUES (${id})`.execute(t.handle.db);
// The event log is the table every accepted event is written to: its check is the one on the hot path.
const insertEvent = (id: string) =>
  sql`INSERT INTO events (program_id, id, type, member_id, occurred_at, received_at, body_hash, body,
      points, program_version, response, trace)
    VALUES ('ids', ${id}, 'purchase', 'a', now(), now(), 'h', '{}', 0, 1, '{}', '{}')`.execute(
    t.handle.db,
  );
const count = async (id: string) => {
  const { rows } = await sql<{
    n: bigint | string;
  }>`SELECT count(*) AS n FROM members WHERE program_id = 'ids' AND id = ${id}`.execute(
    t.handle.db,
  );
  return Number(rows[0]?.n);
};

describe('identifier checks in the database', () => {
  it('accepts ids of 1 and 128 allowed characters', async () => {
    for (const id of ['a', 'A-z_0.9', 'x'.repeat(128)]) {
      await insertMember(id);
      expect(await count(id)).toBe(1);
    }
  });

  it.each([
    ['empty', ''],
    ['129 characters', 'y'.repeat(129)],
    ['a space', 'a b'],
    ['a non-ASCII letter', 'é'],
    ['a slash', 'a/b'],
    ['a newline at the end', 'abc\n'],
  ])('refuses a member id with %s and stores nothing', async (_, id) => {
    await expect(insertMember(id)).rejects.toThrow(/members_id_check/);
    expect(await count(id)).toBe(0);
  });

  it('holds the event log to the same rule', async () => {
    await insertEvent('e'.repeat(128));
    await expect(insertEvent('e'.repeat(129))).rejects.toThrow(/events_id_check/);
    await expect(insertEvent('ord 1')).rejects.toThrow(/events_id_check/);
    const { rows } = await sql<{
      n: bigint | string;
    }>`SELECT count(*) AS n FROM events WHERE program_id = 'ids'`.execute(t.handle.db);
    expect(Number(rows[0]?.n)).toBe(1);
  });

  it('bounds program ids at 64 characters', async () => {
    await insertProgram('p'.repeat(64));
    await expect(insertProgram('q'.repeat(65))).rejects.toThrow(/programs_id_check/);
  });
});

describe('identifier comparison', () => {
  it('compares every indexed identifier byte by byte (collation "C"), whatever the database’s collation', async () => {
    // Every text column of Patron's own tables that an index holds.
    const { rows } = await sql<{ column: string; collation: string | null }>`
      SELECT DISTINCT c.relname || '.' || a.attname AS column, co.collname AS collation
      FROM pg_index x
      JOIN pg_class c ON c.oid = x.indrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (x.indkey)
      LEFT JOIN pg_collation co ON co.oid = a.attcollation
      WHERE n.nspname = 'public' AND c.relname <> 'schema_migrations'
        AND a.atttypid IN ('text'::regtype, 'text[]'::regtype)
      ORDER BY 1`.execute(t.handle.db);
    expect(rows.length).toBeGreaterThan(40);
    expect(rows.filter((r) => r.collation !== 'C')).toEqual([]);
  });
});
