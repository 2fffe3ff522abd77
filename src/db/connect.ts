// One code path for both databases: Kysely over PGlite (embedded, file-backed, single
// connection) or over node-postgres (a PostgreSQL server). Both return int8 as bigint.
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.ts';

export type DatabaseKind = 'embedded' | 'postgres';

export interface Db {
  db: Kysely<Database>;
  kind: DatabaseKind;
  /** The server's connection string (PostgreSQL only): for connections outside the pool. */
  url?: string;
  /** Runs a multi-statement SQL script (a migration) in one transaction. */
  runScript(script: string): Promise<void>;
  close(): Promise<void>;
}

const INT8_OID = 20;
const POOL_CONNECTIONS_MAX = 16;
const MIGRATION_LOCK_ID = 73_461_731;

const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return (value: string) => BigInt(value);
    return pg.types.getTypeParser(oid, format);
  },
};

export interface EmbeddedOptions {
  /** A directory on disk; omitted for an in-memory database (tests). */
  dataDir?: string;
  /** A dump made by `dumpEmbedded`, loaded into a fresh database (tests clone a template). */
  loadDataDir?: Blob | File;
}

export async function openEmbedded(options: EmbeddedOptions = {}): Promise<Db> {
  const pglite = await PGlite.create({
    dataDir: options.dataDir,
    loadDataDir: options.loadDataDir,
    parsers: { [INT8_OID]: (value: string) => BigInt(value) },
  });
  const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) });
  return {
    db,
    kind: 'embedded',
    // Kysely sends every query through the extended protocol, which takes one statement;
    // PGlite's exec() speaks the simple protocol, which takes a script.
    runScript: async (script) => {
      await pglite.transaction(async (tx) => {
        await tx.exec(script);
      });
    },
    close: async () => {
      await db.destroy();
      if (!pglite.closed) await pglite.close();
    },
  };
}

/** A tarball of an embedded database's data directory, for cloning a migrated template. */
export async function dumpEmbedded(dataDir: string | undefined, load?: Blob): Promise<Blob> {
  const pglite = await PGlite.create({ dataDir, loadDataDir: load });
  try {
    return await pglite.dumpDataDir('none');
  } finally {
    await pglite.close();
  }
}

export function openPostgres(
  url: string,
  connectionsMax = POOL_CONNECTIONS_MAX,
  onIdleError?: (error: Error) => void,
): Db {
  const pool = new pg.Pool({ connectionString: url, max: connectionsMax, types: pgTypes });
  // An idle connection the server closes (a restart, an administrator, a dropped database)
  // must not take the process down: the pool discards it and opens another when needed.
  pool.on('error', (error) => onIdleError?.(error));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    kind: 'postgres',
    url,
    runScript: async (script) => {
      const client = await pool.connect();
      try {
        // Without parameters node-postgres uses the simple protocol, which runs a script;
        // the advisory lock keeps processes that start together from migrating twice.
        await client.query(
          `BEGIN; SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_ID}); ${script}\n; COMMIT;`,
        );
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      } finally {
        client.release();
      }
    },
    close: () => db.destroy(),
  };
}
