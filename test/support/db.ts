// A fresh database for one test file, cloned from the run's migrated template: a PGlite
// data directory loaded from a dump, or CREATE DATABASE … TEMPLATE on PostgreSQL.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { inject } from 'vitest';
import { openEmbedded, openPostgres, type Db } from '../../src/db/connect.ts';

export const onPostgres = Boolean(process.env.DATABASE_URL);

export interface TestDatabase extends Db {
  /** The connection string of this file's database (PostgreSQL pass only). */
  url?: string;
}

export async function freshDatabase(): Promise<TestDatabase> {
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl) {
    const template = inject('templateDatabase');
    const name = `${inject('testDatabasePrefix')}${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
    await admin.end();
    const url = new URL(databaseUrl);
    url.pathname = `/${name}`;
    const handle = openPostgres(url.toString());
    return {
      ...handle,
      url: url.toString(),
      close: async () => {
        await handle.close();
        const drop = new pg.Client({ connectionString: databaseUrl });
        await drop.connect();
        await drop.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await drop.end();
      },
    };
  }
  const dump = await readFile(inject('templateDump'));
  return openEmbedded({ loadDataDir: new Blob([dump]) });
}
