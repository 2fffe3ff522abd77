// Where pg-boss keeps its jobs, and how it reaches them on each of Patron's databases.
//
// PostgreSQL: pg-boss gets a small pool of its own from the same connection string. Going
// through Patron's Kysely pool instead was ruled out: pg-boss's schema and maintenance
// statements are scripts (several statements, no parameters) that only the simple protocol
// runs, while Patron's pool always sends parameters and names its statements (each pg-boss
// text would take one of the NAMED_STATEMENTS_MAX names meant for Patron's hot path); and
// workers polling every queue would queue behind request traffic for the same connections.
//
// Embedded: PGlite has one connection, and Kysely's PGliteDialect hands it out behind a
// mutex that a transaction holds from BEGIN to COMMIT. pg-boss therefore goes through Kysely
// too: a statement with parameters is a Kysely query; a script runs on PGlite's simple
// protocol (`exec`) while holding Kysely's connection (`Db.exclusive`), so it never lands
// inside, or between the statements of, a Patron transaction.
//
// The schema (`pgboss`) is installed and upgraded by `migrate()` with Patron's migrations, so
// `/ready` answers for it and the test template databases carry it; pg-boss itself runs with
// `migrate: false` and refuses to start on a schema of another version.
import { createRequire } from 'node:module';
import { CompiledQuery, sql, type Kysely } from 'kysely';
import pg from 'pg';
import { getConstructionPlans, getMigrationPlans, type Db as IDatabase } from 'pg-boss';
import type { Db } from '../db/connect.ts';
import type { Database } from '../db/schema.ts';

export const JOBS_SCHEMA = 'pgboss';
/** pg-boss's connections per process on PostgreSQL: polls, maintenance, sends. */
export const JOBS_POOL_CONNECTIONS_MAX = 4;

/** The schema version this build of pg-boss runs on (it refuses any other). */
export const JOBS_SCHEMA_VERSION = (
  createRequire(import.meta.url)('pg-boss/package.json') as { pgboss: { schema: number } }
).pgboss.schema;

/** What pg-boss is constructed with: its own pool (PostgreSQL) or an adapter (embedded). */
export type JobsConnection =
  | { db: IDatabase; backend: 'pglite' }
  | { connectionString: string; max: number; backend: 'postgres' };

export function jobsConnection(handle: Db): JobsConnection {
  if (handle.kind === 'postgres') {
    if (!handle.url) throw new Error('a PostgreSQL handle without its connection string');
    return { connectionString: handle.url, max: JOBS_POOL_CONNECTIONS_MAX, backend: 'postgres' };
  }
  return { db: embeddedJobsDatabase(handle), backend: 'pglite' };
}

function embeddedJobsDatabase(handle: Db): IDatabase {
  return {
    async executeSql(text, values) {
      if (values !== undefined && values.length > 0) {
        const result = await handle.db.executeQuery(CompiledQuery.raw(text, values));
        return { rows: (result.rows as Record<string, unknown>[]).map(plainRow) };
      }
      return { rows: await runEmbeddedScript(handle, text) };
    },
  };
}

/**
 * Runs a script on PGlite's simple protocol under Kysely's connection. A script that fails
 * after its own BEGIN leaves the session in an aborted transaction: it is rolled back before
 * the connection is handed back, or every Patron query after it would fail.
 */
async function runEmbeddedScript(handle: Db, script: string): Promise<Record<string, unknown>[]> {
  if (!handle.exclusive) throw new Error('an embedded handle without exclusive()');
  return handle.exclusive(async (pglite) => {
    try {
      const results = await pglite.exec(script);
      return results.flatMap((r) => (r.rows as Record<string, unknown>[]).map(plainRow));
    } catch (error) {
      await pglite.exec('ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
}

/**
 * Patron's connections read int8 as bigint; pg-boss expects node-postgres's default, a string
 * (it mixes counts with numbers and serialises rows to JSON, where a bigint throws).
 */
function plainRow(row: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(row)) {
    if (typeof value === 'bigint') {
      copy ??= { ...row };
      copy[key] = value.toString();
    }
  }
  return copy ?? row;
}

/** The installed schema's version, or undefined when pg-boss is not installed. */
export async function jobsSchemaVersion(db: Kysely<Database>): Promise<number | undefined> {
  const table = await sql<{
    name: string | null;
  }>`SELECT to_regclass(${`${JOBS_SCHEMA}.version`})::text AS name`.execute(db);
  if (!table.rows[0]?.name) return undefined;
  const rows = await sql<{ version: number }>`SELECT version FROM ${sql.table(
    `${JOBS_SCHEMA}.version`,
  )}`.execute(db);
  return rows.rows[0]?.version;
}

/**
 * Installs pg-boss's schema, or upgrades it to this build's version. pg-boss's scripts take
 * their own advisory lock; a process that loses a race to another fails its script, and then
 * finds the schema in place.
 */
export async function installJobsSchema(handle: Db): Promise<void> {
  const db = handle.db;
  const installed = await jobsSchemaVersion(db);
  if (installed === JOBS_SCHEMA_VERSION) return;
  if (installed !== undefined && installed > JOBS_SCHEMA_VERSION)
    throw new Error(
      `the job schema ${JOBS_SCHEMA} is at version ${installed}, newer than this build's ${JOBS_SCHEMA_VERSION}: run the newer Patron`,
    );
  const script =
    installed === undefined
      ? getConstructionPlans(JOBS_SCHEMA)
      : getMigrationPlans(JOBS_SCHEMA, installed);
  try {
    if (handle.kind === 'embedded') await runEmbeddedScript(handle, script);
    else await runPostgresScript(handle, script);
  } catch (error) {
    if ((await jobsSchemaVersion(db)) !== JOBS_SCHEMA_VERSION) throw error;
  }
}

async function runPostgresScript(handle: Db, script: string): Promise<void> {
  // A connection of its own: without parameters node-postgres uses the simple protocol, which
  // runs a script; Patron's pool never does (see the top of this file).
  const client = new pg.Client({ connectionString: handle.url });
  await client.connect();
  try {
    await client.query(script);
  } finally {
    await client.end();
  }
}
