// Assembling the running server: database, auth, program cache, group commit, HTTP app.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { AuthService, ensureSigningKey } from './auth/index.ts';
import type { Db } from './db/connect.ts';
import { GroupCommitter, processEvents } from './events/index.ts';
import { buildApp, type App } from './http/app.ts';
import { MemberViewCache } from './members/cache.ts';
import { listenForInvalidations } from './members/listener.ts';
import { runExpiry, runExpiryWarnings } from './expiry/index.ts';
import { IDEMPOTENCY_PURGE_BATCH, purgeIdempotencyKeys } from './http/idempotency.ts';
import { JobRunner } from './jobs/index.ts';
import { PENDING_RELEASE_BATCH, releaseDuePending } from './pending/index.ts';
import { reevaluateTiers } from './tiers/index.ts';
import { applyDuePublications } from './programs/drafts.ts';
import {
  SEGMENTS_REFRESH_ALL_JOB,
  SEGMENTS_REFRESH_CRON,
  SEGMENTS_REFRESH_JOB,
  refreshRuleSegments,
} from './segments/refresh.ts';
import { SIMULATION_JOB, runSimulation } from './simulations/index.ts';
import { PROGRAM_POLL_MS, ProgramCache } from './programs/index.ts';
import { HOLD_RELEASE_BATCH, releaseExpiredHolds } from './redemptions/index.ts';

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
/** Events waiting before a second transaction starts beside a running one (group-commit.ts). */
export const GROUP_OVERLAP_QUEUE_LENGTH_MIN = 16;
/** Single events waiting for a transaction before Patron answers 503 (back-pressure). */
export const GROUP_QUEUE_LENGTH_MAX = 20_000;

/** The scheduled job that gives expired redemption holds back, and how often it runs. */
export const HOLD_RELEASE_JOB = 'redemptions.release-expired-holds';
export const HOLD_RELEASE_EVERY_SECONDS = 10;
/** Pending points whose window is over become available within a minute. */
export const PENDING_RELEASE_JOB = 'pending.release-due';
export const PENDING_RELEASE_EVERY_SECONDS = 60;
/** Expiry and its warnings: every few minutes, so points expire close to their instant. */
export const EXPIRY_JOB = 'expiry.expire-points';
export const EXPIRY_EVERY_SECONDS = 300;
export const EXPIRY_WARNINGS_JOB = 'expiry.send-warnings';
export const EXPIRY_WARNINGS_EVERY_SECONDS = 3_600;
/** The tier downgrade pass over every program, daily at 02:30 UTC. */
export const TIER_REEVALUATION_JOB = 'tiers.reevaluate';
export const TIER_REEVALUATION_CRON = '30 2 * * *';
/** Scheduled publications of program versions take effect within seconds of their instant. */
export const PUBLICATIONS_JOB = 'programs.apply-due-publications';
export const PUBLICATIONS_EVERY_SECONDS = 5;
/** Stored Idempotency-Key answers past their keep period go, hourly. */
export const IDEMPOTENCY_PURGE_JOB = 'idempotency.purge-keys';
export const IDEMPOTENCY_PURGE_EVERY_SECONDS = 3_600;

/** Which parts of the job runner a process runs (see src/jobs/index.ts). */
export interface JobRoles {
  /** Run job handlers, and pg-boss's maintenance. */
  work: boolean;
  /** Send scheduled jobs when they are due. */
  schedule: boolean;
}

export interface ServerOptions {
  handle: Db;
  issuer: string;
  tokenTtlSeconds: number;
  logger?: Logger | false;
  now?: () => Date;
  /**
   * The job runner's parts this process runs (default: both). `false` starts no runner at all:
   * tests call the jobs' functions themselves, at the instants they choose.
   */
  jobs?: JobRoles | false;
}

export interface Server {
  app: App;
  events: GroupCommitter;
  auth: AuthService;
  /** Sends jobs (undefined with `jobs: false`). */
  jobs: JobRunner | undefined;
  /** Stops what the server started besides HTTP (the job runner, the invalidation listener). */
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
  const poll = options.handle.url
    ? setInterval(() => {
        programs.refresh(options.handle.db).catch((error: unknown) => {
          if (options.logger) options.logger.warn({ err: error }, 'program version poll');
        });
      }, PROGRAM_POLL_MS).unref()
    : undefined;
  const eventDeps = { db: options.handle.events, programs, now, members };
  const events = new GroupCommitter(
    (programId, submissions) => processEvents(eventDeps, programId, submissions),
    {
      batchSizeMax: GROUP_BATCH_SIZE_MAX,
      transactionsMax: options.handle.kind === 'postgres' ? GROUP_TRANSACTIONS_MAX_POSTGRES : 1,
      overlapQueueLengthMin: GROUP_OVERLAP_QUEUE_LENGTH_MIN,
      queueLengthMax: GROUP_QUEUE_LENGTH_MAX,
    },
  );
  // The runner starts after the app is built; routes send through it once it is there.
  const started: { runner?: JobRunner } = {};
  const app = await buildApp({
    handle: options.handle,
    programs,
    members,
    auth,
    events,
    now,
    logger: options.logger ?? false,
    version: PACKAGE_VERSION,
    ...(options.jobs === false
      ? {}
      : {
          sendJob: async (name: string, data: Record<string, unknown>) => {
            if (!started.runner) throw new Error(`job ${name} sent before the job runner started`);
            return started.runner.send(name, data);
          },
        }),
  });
  const jobs =
    options.jobs === false
      ? undefined
      : await startJobs(
          { db: options.handle.db, programs, members, now, logger: options.logger || undefined },
          options.handle,
          options.jobs ?? { work: true, schedule: true },
        );
  started.runner = jobs;
  return {
    app,
    events,
    auth,
    jobs,
    stop: async () => {
      clearInterval(poll);
      await jobs?.stop();
      await listener?.close();
    },
  };
}

export interface JobProcessOptions {
  handle: Db;
  roles: JobRoles;
  logger?: Logger;
  now?: () => Date;
}

/**
 * A process that runs jobs and serves no HTTP (`--role worker` or `--role scheduler`). Its
 * caches need no invalidation listener: programs are compiled per version, read from the
 * database in every transaction, and it serves no member views (its releases reach the API
 * processes' caches by the notifications their transactions send).
 */
export async function createJobProcess(
  options: JobProcessOptions,
): Promise<{ jobs: JobRunner; stop(): Promise<void> }> {
  const jobs = await startJobs(
    {
      db: options.handle.db,
      programs: new ProgramCache(),
      members: { invalidate: () => {} },
      now: options.now ?? (() => new Date()),
      logger: options.logger,
    },
    options.handle,
    options.roles,
  );
  return { jobs, stop: () => jobs.stop() };
}

interface JobDeps {
  db: Db['db'];
  programs: ProgramCache;
  members: Pick<MemberViewCache, 'invalidate'>;
  now: () => Date;
  logger: Logger | undefined;
}

async function startJobs(deps: JobDeps, handle: Db, roles: JobRoles): Promise<JobRunner> {
  // The name pg-boss's instance registry shows for this process: its role.
  const instanceName =
    roles.work && roles.schedule
      ? 'patron'
      : roles.work
        ? 'patron-worker'
        : roles.schedule
          ? 'patron-scheduler'
          : 'patron-api';
  const jobs = new JobRunner({ handle, logger: deps.logger, instanceName });
  registerPatronJobs(jobs, deps);
  await jobs.start(roles);
  return jobs;
}

/** Patron's jobs, registered in every process alike (one that does not work them may send them). */
function registerPatronJobs(jobs: JobRunner, deps: JobDeps): void {
  jobs.schedule(HOLD_RELEASE_JOB, { everySeconds: HOLD_RELEASE_EVERY_SECONDS }, (run) =>
    releaseHolds(deps, run.signal),
  );
  jobs.schedule(PENDING_RELEASE_JOB, { everySeconds: PENDING_RELEASE_EVERY_SECONDS }, (run) =>
    releasePending(deps, run.signal),
  );
  jobs.schedule(EXPIRY_JOB, { everySeconds: EXPIRY_EVERY_SECONDS }, (run) =>
    untilDone(run.signal, async () => {
      const result = await runExpiry(deps.db, deps.programs, null, deps.now(), {
        cache: deps.members,
      });
      if (result.members > 0)
        deps.logger?.info(
          { members: result.members, points: String(result.points) },
          'expired points',
        );
      return result.done;
    }),
  );
  jobs.schedule(EXPIRY_WARNINGS_JOB, { everySeconds: EXPIRY_WARNINGS_EVERY_SECONDS }, (run) =>
    untilDone(run.signal, async () => {
      const result = await runExpiryWarnings(deps.db, deps.programs, null, deps.now());
      return result.done;
    }),
  );
  jobs.schedule(PUBLICATIONS_JOB, { everySeconds: PUBLICATIONS_EVERY_SECONDS }, async (run) => {
    const published = await applyDuePublications(deps.db, deps.now(), run.signal);
    for (const { programId, version } of published) {
      deps.programs.forgetLatest(programId);
      deps.logger?.info({ programId, version }, 'published a scheduled version');
      await jobs.send(SEGMENTS_REFRESH_JOB, { programId });
    }
  });
  const refresh = async (programId: string, signal: AbortSignal) => {
    const outcome = await refreshRuleSegments(deps.db, deps.programs, programId, deps.now(), {
      signal,
      onChanged: (ids) => deps.members.invalidate(programId, ids),
    });
    if (outcome.changed > 0)
      deps.logger?.info({ programId, ...outcome }, 'refreshed rule segments');
  };
  jobs.register(
    SEGMENTS_REFRESH_JOB,
    (data, run) => refresh((data as { programId: string }).programId, run.signal),
    { expireInSeconds: 3_600 },
  );
  jobs.schedule(SEGMENTS_REFRESH_ALL_JOB, { cron: SEGMENTS_REFRESH_CRON }, async (run) => {
    const programs = await deps.db
      .selectFrom('programs')
      .select('id')
      .where('current_version', '>', 0)
      .execute();
    for (const { id } of programs) await refresh(id, run.signal);
  });
  jobs.register(
    SIMULATION_JOB,
    async (data, run) => {
      const { programId, id } = data as { programId: string; id: string };
      const status = await runSimulation(deps.db, deps.programs, programId, id, {
        signal: run.signal,
      });
      deps.logger?.info({ programId, simulation: id, status }, 'simulation finished');
    },
    // A simulation is long and its row records why it failed: it is not tried again.
    { retryLimit: 0, expireInSeconds: 3_600 },
  );
  jobs.schedule(IDEMPOTENCY_PURGE_JOB, { everySeconds: IDEMPOTENCY_PURGE_EVERY_SECONDS }, (run) =>
    untilDone(
      run.signal,
      async () => (await purgeIdempotencyKeys(deps.db, deps.now())) < IDEMPOTENCY_PURGE_BATCH,
    ),
  );
  jobs.schedule(TIER_REEVALUATION_JOB, { cron: TIER_REEVALUATION_CRON }, async () => {
    const programs = await deps.db
      .selectFrom('programs')
      .select('id')
      .where('current_version', '>', 0)
      .execute();
    for (const { id } of programs) {
      const program = await deps.programs.current(deps.db, id);
      if (!program) continue;
      await reevaluateTiers(deps.db, id, program.document, program.version, deps.now(), (ids) =>
        deps.members.invalidate(id, ids),
      );
    }
  });
}

/** Calls `step` until it says it is done, or the run's time is up (its signal aborts). */
async function untilDone(
  signal: AbortSignal | undefined,
  step: () => Promise<boolean>,
): Promise<void> {
  while (!signal?.aborted) {
    if (await step()) return;
  }
}

/** Makes pending points whose window is over available, a batch of members at a time. */
async function releasePending(deps: JobDeps, signal?: AbortSignal): Promise<void> {
  while (!signal?.aborted) {
    const { members, memberIds } = await releaseDuePending(deps.db, deps.programs, deps.now());
    for (const [programId, ids] of memberIds) deps.members.invalidate(programId, ids);
    if (members < PENDING_RELEASE_BATCH) return;
  }
}

/**
 * Gives holds whose time to live is over back to their members, a batch (one transaction per
 * hold) at a time until a batch comes back short, so a backlog drains in one run; it stops
 * between batches when the run's time is up. Each hold is released once, under its member's
 * row lock, even if a late confirm or cancel races it.
 */
async function releaseHolds(deps: JobDeps, signal?: AbortSignal): Promise<number> {
  let total = 0;
  while (!signal?.aborted) {
    const { released, memberIds } = await releaseExpiredHolds(deps.db, deps.programs, deps.now());
    for (const [programId, ids] of memberIds) deps.members.invalidate(programId, ids);
    total += released;
    if (released < HOLD_RELEASE_BATCH) break;
  }
  if (total > 0) deps.logger?.info({ released: total }, 'released expired redemption holds');
  return total;
}
