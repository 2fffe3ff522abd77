// Assembling the running server: database, auth, program cache, group commit, HTTP app.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { AuthService, ensureSigningKey } from './auth/index.ts';
import type { Db } from './db/connect.ts';
import { GroupCommitter } from './events/index.ts';
import { buildApp, type App } from './http/app.ts';
import { MemberViewCache } from './members/cache.ts';
import { listenForInvalidations } from './members/listener.ts';
import { ProgramCache } from './programs/index.ts';

const PACKAGE_VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/** Events of concurrent single requests that may share one transaction. */
export const GROUP_BATCH_SIZE_MAX = 256;
/**
 * Transactions in flight for single events. PostgreSQL overlaps them (one commits while the
 * next is built); more than two only made batches smaller on 2 cores, where Node's CPU is
 * the limit. PGlite has one connection.
 */
export const GROUP_TRANSACTIONS_MAX_POSTGRES = 2;
/** Single events waiting for a transaction before Patron answers 503 (back-pressure). */
export const GROUP_QUEUE_LENGTH_MAX = 20_000;

export interface ServerOptions {
  handle: Db;
  issuer: string;
  tokenTtlSeconds: number;
  logger?: Logger | false;
  now?: () => Date;
}

export interface Server {
  app: App;
  events: GroupCommitter;
  auth: AuthService;
  /** Stops what the server started besides HTTP (the invalidation listener). */
  stop(): Promise<void>;
}

export async function createServer(options: ServerOptions): Promise<Server> {
  const now = options.now ?? (() => new Date());
  await ensureSigningKey(options.handle.db);
  const auth = new AuthService({
    db: options.handle.db,
    issuer: options.issuer,
    audience: 'patron',
    tokenTtlSeconds: options.tokenTtlSeconds,
    now,
  });
  const programs = new ProgramCache();
  const members = new MemberViewCache(options.handle.kind === 'embedded');
  // On PostgreSQL other processes write too: their changes arrive by LISTEN/NOTIFY.
  const listener = options.handle.url
    ? listenForInvalidations(options.handle.url, members, programs, (error) =>
        options.logger
          ? options.logger.warn({ err: error }, 'cache invalidation listener')
          : undefined,
      )
    : undefined;
  await listener?.ready;
  const events = new GroupCommitter(
    { db: options.handle.db, programs, now, members },
    {
      batchSizeMax: GROUP_BATCH_SIZE_MAX,
      transactionsMax: options.handle.kind === 'postgres' ? GROUP_TRANSACTIONS_MAX_POSTGRES : 1,
      queueLengthMax: GROUP_QUEUE_LENGTH_MAX,
    },
  );
  const app = await buildApp({
    handle: options.handle,
    programs,
    members,
    auth,
    events,
    now,
    logger: options.logger ?? false,
    version: PACKAGE_VERSION,
  });
  return {
    app,
    events,
    auth,
    /** Stops what the server started besides HTTP (the invalidation listener). */
    stop: async () => {
      await listener?.close();
    },
  };
}
