// One code path for both databases: Kysely over PGlite (embedded, file-backed, single
// connection) or over node-postgres (a PostgreSQL server). Both return int8 as bigint.
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.ts';

export type DatabaseKind = 'embedded' | 'postgres';

export interface Db {
  db: Kysely<Database>;
  /**
   * The connections that write events (the hot path). On PostgreSQL a pool of its own whose
   * statements keep one generic plan each instead of being planned on every call; on the
   * embedded database the same connection as `db`. See openPostgres.
   */
  events: Kysely<Database>;
  kind: DatabaseKind;
  /** The server's connection string (PostgreSQL only): for connections outside the pool. */
  url?: string;
  /** Runs a multi-statement SQL script (a migration) in one transaction. */
  runScript(script: string): Promise<void>;
  /**
   * Embedded only: runs `use` with the PGlite instance while holding Kysely's one connection,
   * so raw calls on it (a script through PGlite's simple protocol) cannot land
   * between the statements of a Kysely transaction or interleave with its queries.
   */
  exclusive?<T>(use: (pglite: PGlite) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const INT8_OID = 20;
const POOL_CONNECTIONS_MAX = 16;
/** The event path's pool: group commit runs two transactions, batch requests one each. */
const EVENT_CONNECTIONS_MAX = 8;
/** At most this many distinct statement texts are prepared by name (see namedStatements). */
const NAMED_STATEMENTS_MAX = 256;
/** Longer texts are not worth a name: they are built per call (lists of values). */
const NAMED_STATEMENT_CHARS_MAX = 16_384;
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
    events: db,
    kind: 'embedded',
    // Kysely sends every query through the extended protocol, which takes one statement;
    // PGlite's exec() speaks the simple protocol, which takes a script.
    runScript: async (script) => {
      await pglite.transaction(async (tx) => {
        await tx.exec(script);
      });
    },
    // Kysely's PGlite driver has one connection behind a mutex that a transaction holds from
    // BEGIN to COMMIT; holding that connection is what makes raw calls safe.
    exclusive: (use) => db.connection().execute(() => use(pglite)),
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
  const open = (max: number, options: string) => {
    const pool = new pg.Pool({ connectionString: url, max, types: pgTypes, options });
    // An idle connection the server closes (a restart, an administrator, a dropped
    // database) must not take the process down: the pool discards it and opens another.
    pool.on('error', (error) => onIdleError?.(error));
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: namedStatements(pool) }),
    });
    return { pool, db };
  };
  // Every statement is planned for its parameters: Patron's queries at large (lists, jobs,
  // reports) are planned well only with their values in view, and a generic plan made while
  // a table was small would keep scanning it whole as it grew.
  const { pool, db } = open(connectionsMax, '-c plan_cache_mode=force_custom_plan');
  // The event path plans each of its statements once per connection. Its statements find
  // every row by key, so one plan fits all calls, and planning was half of PostgreSQL's time
  // per event: the write of a round took 0.95 ms to plan and 1.2 ms to run, each read
  // 0.25 ms to plan and 0.05 ms to run (measured at 500 events/s). With sequential scans
  // priced out, a plan made while a table is empty still finds rows by key once it is large
  // (the planner would otherwise pick a scan for a table of a few pages, and keep it).
  const events = open(
    EVENT_CONNECTIONS_MAX,
    '-c plan_cache_mode=force_generic_plan -c enable_seqscan=off',
  ).db;
  return {
    db,
    events,
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
    close: async () => {
      await Promise.all([db.destroy(), events.destroy()]);
    },
  };
}

/**
 * Runs the pool's queries as named prepared statements. Patron's statements are fixed texts
 * with parameters, so each connection parses one once and PostgreSQL keeps its plan: the
 * write of a round was measured spending as long in parse and plan as in execution for a
 * few events. Names are handed out per distinct text, for at most NAMED_STATEMENTS_MAX
 * texts; any other text runs unnamed, as before.
 */
function namedStatements(pool: pg.Pool): pg.Pool {
  const names = new Map<string, string>();
  const nameFor = (text: string): string | undefined => {
    let name = names.get(text);
    if (
      name === undefined &&
      names.size < NAMED_STATEMENTS_MAX &&
      text.length <= NAMED_STATEMENT_CHARS_MAX
    ) {
      name = `patron_${names.size + 1}`;
      names.set(text, name);
    }
    return name;
  };
  // Each new connection's query method is replaced once. (A Proxy around every checked-out
  // client, as before, ran a trap on each of the driver's own property reads: measured at
  // 1.5 % of the process's time under load.)
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    client.query = ((text: unknown, values?: unknown, ...rest: unknown[]) => {
      const name =
        typeof text === 'string' && Array.isArray(values) && rest.length === 0
          ? nameFor(text)
          : undefined;
      return name === undefined ? query(text, values, ...rest) : query({ name, text, values });
    }) as typeof client.query;
  });
  return pool;
}
