// Builds one migrated template database per test run; every test file clones it
// (test/support/db.ts), so each file starts from a fresh database in a second or so.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { dumpEmbedded, openEmbedded, openPostgres } from '../../src/db/connect.ts';
import { migrate } from '../../src/db/migrate.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    templateDump: string;
    templateDatabase: string;
    /** Prefix of this run's test databases, so parallel runs never drop each other's. */
    testDatabasePrefix: string;
  }
}

export function adminUrl(databaseUrl: string, database: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl) {
    const run = randomBytes(4).toString('hex');
    const template = `patron_tpl_${run}`;
    const prefix = `patron_test_${run}_`;
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${template}`);
    const handle = openPostgres(adminUrl(databaseUrl, template), 1);
    await migrate(handle);
    await handle.close();
    project.provide('templateDatabase', template);
    project.provide('templateDump', '');
    project.provide('testDatabasePrefix', prefix);
    return async () => {
      // Test databases cloned from this template are dropped by their files; drop any a
      // crashed file left behind, then the template.
      const left = await admin.query<{ datname: string }>(
        `SELECT datname FROM pg_database WHERE starts_with(datname, $1) OR datname = $2`,
        [prefix, template],
      );
      for (const row of left.rows)
        await admin.query(`DROP DATABASE IF EXISTS ${row.datname} WITH (FORCE)`);
      await admin.end();
    };
  }
  const dir = await mkdtemp(join(tmpdir(), 'patron-test-'));
  const handle = await openEmbedded();
  await migrate(handle);
  await handle.close();
  // The in-memory database is gone with its handle: build the template on disk instead.
  const dataDir = join(dir, 'template');
  const disk = await openEmbedded({ dataDir });
  await migrate(disk);
  await disk.close();
  const dump = await dumpEmbedded(dataDir);
  const dumpPath = join(dir, 'template.tar');
  await writeFile(dumpPath, Buffer.from(await dump.arrayBuffer()));
  project.provide('templateDump', dumpPath);
  project.provide('templateDatabase', '');
  project.provide('testDatabasePrefix', '');
  return async () => {
    await rm(dir, { recursive: true, force: true });
  };
}
