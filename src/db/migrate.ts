// Forward-only numbered migrations (`migrations/000001_name.sql`), each applied once, in
// one transaction with its schema_migrations row.
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import { installJobsSchema, jobsSchemaVersion, JOBS_SCHEMA_VERSION } from '../jobs/database.ts';
import type { Db } from './connect.ts';
import type { Database } from './schema.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

let loaded: Promise<Migration[]> | undefined;

/** The migrations this build ships, read from disk once per process. */
export function loadMigrations(): Promise<Migration[]> {
  loaded ??= readMigrations();
  return loaded;
}

async function readMigrations(): Promise<Migration[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d{6}_[a-z0-9_]+\.sql$/.test(f));
  files.sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.slice(0, 6)),
      name: file.slice(7, -4),
      sql: await readFile(MIGRATIONS_DIR + file, 'utf8'),
    })),
  );
}

async function appliedVersions(db: Kysely<Database>): Promise<Set<number>> {
  const rows = await sql<{ version: number }>`SELECT version FROM schema_migrations`.execute(db);
  return new Set(rows.rows.map((r) => r.version));
}

/** Applies the migrations not yet applied; answers the versions it applied. */
export async function migrate(handle: Db): Promise<number[]> {
  await handle.runScript(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
  const applied: number[] = [];
  for (const migration of await loadMigrations()) {
    if ((await appliedVersions(handle.db)).has(migration.version)) continue;
    // The INSERT's primary key makes a second process that raced past the check fail its
    // whole transaction instead of applying the migration twice.
    await handle.runScript(
      `${migration.sql}\n;\nINSERT INTO schema_migrations (version, name) VALUES (${migration.version}, '${migration.name}');`,
    );
    applied.push(migration.version);
  }
  // The job runner's tables (pg-boss, schema `pgboss`), at the version this build runs.
  await installJobsSchema(handle);
  return applied;
}

/** True when every migration this build knows, and the job schema, are in place (readiness). */
export async function migrationsDone(db: Kysely<Database>): Promise<boolean> {
  const migrations = await loadMigrations();
  const latest = migrations.at(-1)?.version ?? 0;
  try {
    const rows = await sql<{
      max: number | null;
    }>`SELECT max(version) AS max FROM schema_migrations`.execute(db);
    return (
      (rows.rows[0]?.max ?? 0) >= latest && (await jobsSchemaVersion(db)) === JOBS_SCHEMA_VERSION
    );
  } catch {
    return false;
  }
}
