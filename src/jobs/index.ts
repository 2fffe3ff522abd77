// Jobs: work that runs outside a request, stored in the database by pg-boss (schema `pgboss`,
// installed by `migrate()`), on PostgreSQL and on the embedded database alike.
//
// Adding a scheduled job is one line, next to the others in `registerPatronJobs` (server.ts):
//
//   jobs.schedule('expiry.expire-points', { cron: '15 3 * * *' }, (run) => expire(db, run.signal));
//
// and a one-off job is `register` once at start-up plus `send` wherever the work arises:
//
//   jobs.register('webhooks.deliver', (data, { attempt }) => deliver(data), { retryLimit: 8 });
//   await jobs.send('webhooks.deliver', { id });
//
// A job's life (pg-boss's states):
//
//   send ─▶ created ──a worker fetches it──▶ active ──the handler resolves──▶ completed
//                                             │  the handler throws, or runs past expireInSeconds
//                                             ▼
//           retry ◀── while retries are left: after retryDelaySeconds·2^n (jittered, at most
//             │       retryDelayMaxSeconds) it is fetched again, as the next attempt
//             └────── after retryLimit retries ──▶ failed (kept, like completed jobs, for a while)
//
// Scheduled jobs live in queues of pg-boss's `exclusive` policy: at most one job of the queue is
// created, waiting to retry or active at any moment, enforced by a unique index. So a scheduled
// job never runs twice at once, in one process or across processes, and a tick that comes while
// a run is waiting or running is dropped rather than queued behind it. `everySeconds` ticks are
// sent by each scheduling process every half period into a throttle slot of the period (one job
// per slot, whichever process sends first); `cron` schedules are pg-boss's own (one-minute
// resolution, every scheduling process may run the pass, pg-boss claims each one).
//
// A handler that runs past its expireInSeconds has its job failed and its `signal` aborted;
// another process may then start the next run, so a handler stops when its signal aborts
// (between batches, say) and never runs unbounded.
import assert from 'node:assert';
import type { Logger } from 'pino';
import { PgBoss, type Job, type QueuePolicy } from 'pg-boss';
import type { Db } from '../db/connect.ts';
import { jobsConnection, JOBS_SCHEMA } from './database.ts';

/** Retries of one job at most (each attempt is bounded by expireInSeconds). */
export const JOB_RETRY_LIMIT_MAX = 20;
/** Handlers of one job name running at once in one process. */
export const JOB_CONCURRENCY_MAX = 16;
/** A handler's run at most, before its job is failed and its signal aborted. */
export const JOB_EXPIRE_SECONDS_MAX = 3_600;
/** Jobs in one `sendMany`. */
export const JOB_SEND_BATCH_MAX = 1_000;
/** Registered job names (queues) in one runner: each polls the database. */
export const JOB_NAMES_MAX = 64;
/** How long `stop()` waits for running handlers before failing their jobs for a retry. */
export const JOB_STOP_TIMEOUT_MS = 20_000;
/** Completed and failed jobs are kept this long (pg-boss's maintenance deletes them). */
export const JOB_KEEP_SECONDS = 3 * 86_400;
/** Completed runs of scheduled jobs: a 10-second schedule would otherwise keep 26,000 a day. */
export const SCHEDULED_JOB_KEEP_SECONDS = 3_600;
/** Shortest `everySeconds`: pg-boss throttles in whole seconds. */
export const SCHEDULE_EVERY_SECONDS_MIN = 1;
export const SCHEDULE_EVERY_SECONDS_MAX = 86_400;
/** The default wait between polls of a queue; pg-boss allows 0.5 at least. */
export const JOB_POLLING_INTERVAL_SECONDS = 2;

const NAME_PATTERN = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/;
const NAME_LENGTH_MAX = 100;

export interface JobContext {
  /** The job's id (pg-boss's). */
  id: string;
  /** 1 on the first run, 2 on the first retry, … */
  attempt: number;
  /** Aborted when the run has exceeded expireInSeconds or the runner is stopping past its wait. */
  signal: AbortSignal;
}

export type JobData = Record<string, unknown>;
/** What a handler resolves to is ignored; one that rejects (or throws) fails its attempt. */
export type JobHandler<T extends JobData = JobData> = (
  data: T,
  context: JobContext,
) => Promise<unknown>;
export type ScheduledHandler = (context: JobContext) => Promise<unknown>;

export interface JobOptions {
  /** Retries after the first attempt fails (0 to JOB_RETRY_LIMIT_MAX); default 3. */
  retryLimit?: number;
  /** Wait before the first retry, doubled for each next one (whole seconds); default 5. */
  retryDelaySeconds?: number;
  /** The longest wait between two attempts; default 300. */
  retryDelayMaxSeconds?: number;
  /** How long one run may take before it counts as failed; default 300. */
  expireInSeconds?: number;
  /** Handlers of this name at once in one process (1 to JOB_CONCURRENCY_MAX); default 1. */
  concurrency?: number;
}

export type Schedule =
  | { everySeconds: number }
  /** A five-field cron expression, evaluated in `tz` (default UTC); one-minute resolution. */
  | { cron: string; tz?: string };

export interface JobRunnerOptions {
  handle: Db;
  logger?: Logger;
  /** The name this process shows in pg-boss's instance registry (its role). */
  instanceName?: string;
  /** Seconds between polls of a queue for jobs that are due (0.5 at least). */
  pollingIntervalSeconds?: number;
}

export interface StartOptions {
  /** Run handlers (and pg-boss's maintenance: expiring stalled runs, deleting old jobs). */
  work: boolean;
  /** Send scheduled jobs when they are due. */
  schedule: boolean;
}

interface Registration {
  name: string;
  policy: QueuePolicy;
  options: Required<JobOptions>;
  keepSeconds: number;
  handler: (data: JobData, context: JobContext) => Promise<unknown>;
  schedule?: Schedule;
}

const DEFAULTS: Required<JobOptions> = {
  retryLimit: 3,
  retryDelaySeconds: 5,
  retryDelayMaxSeconds: 300,
  expireInSeconds: 300,
  concurrency: 1,
};

export class JobRunner {
  readonly #options: JobRunnerOptions;
  readonly #registrations = new Map<string, Registration>();
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #running = new Set<Promise<unknown>>();
  #boss: PgBoss | undefined;
  #state: 'new' | 'starting' | 'started' | 'stopped' = 'new';

  constructor(options: JobRunnerOptions) {
    this.#options = options;
  }

  /** A one-off job: runs once per `send`, retried with exponential backoff up to its limit. */
  register<T extends JobData>(
    name: string,
    handler: JobHandler<T>,
    options: JobOptions = {},
  ): void {
    this.#add({
      name,
      policy: 'standard',
      options: checkedOptions(name, options),
      keepSeconds: JOB_KEEP_SECONDS,
      handler: handler as JobHandler,
    });
  }

  /** A scheduled job: at most one run at a time across every process (see the top of this file). */
  schedule(
    name: string,
    when: Schedule,
    handler: ScheduledHandler,
    options: JobOptions = {},
  ): void {
    if ('everySeconds' in when)
      assert(
        Number.isInteger(when.everySeconds) &&
          when.everySeconds >= SCHEDULE_EVERY_SECONDS_MIN &&
          when.everySeconds <= SCHEDULE_EVERY_SECONDS_MAX,
        `job ${name}: everySeconds must be a whole number from ${SCHEDULE_EVERY_SECONDS_MIN} to ${SCHEDULE_EVERY_SECONDS_MAX}`,
      );
    else assert(when.cron.trim() !== '', `job ${name}: an empty cron expression`);
    this.#add({
      name,
      policy: 'exclusive',
      // One run at a time per process too: the queue holds one job at most anyway.
      options: { ...checkedOptions(name, options), concurrency: 1 },
      keepSeconds: SCHEDULED_JOB_KEEP_SECONDS,
      handler: (_data, context) => handler(context),
      schedule: when,
    });
  }

  /** Sends one job; answers its id. */
  async send(name: string, data: JobData = {}): Promise<string> {
    const id = await this.#started().send(name, data, this.#sendOptions(name));
    assert(id !== null, `job ${name}: not sent`);
    return id;
  }

  /** Sends a batch of jobs of one name in one statement (1 to JOB_SEND_BATCH_MAX). */
  async sendMany(name: string, items: readonly JobData[]): Promise<void> {
    assert(
      items.length >= 1 && items.length <= JOB_SEND_BATCH_MAX,
      `sendMany: 1 to ${JOB_SEND_BATCH_MAX} jobs, got ${items.length}`,
    );
    const options = this.#sendOptions(name);
    await this.#started().insert(
      name,
      items.map((data) => ({ data, ...options })),
    );
  }

  /**
   * Connects, creates the queues of the registered jobs (and brings their retry options up to
   * date), then works them and/or schedules them as asked. A process that does neither can
   * still send.
   */
  async start(what: StartOptions): Promise<void> {
    assert(this.#state === 'new', 'a job runner starts once');
    this.#state = 'starting';
    const { logger, instanceName, pollingIntervalSeconds } = this.#options;
    const boss = new PgBoss({
      ...jobsConnection(this.#options.handle),
      schema: JOBS_SCHEMA,
      // The schema is migrate()'s (see database.ts); pg-boss refuses one of another version.
      migrate: false,
      supervise: what.work,
      schedule: what.schedule,
      ...(instanceName ? { instanceName } : {}),
    });
    // pg-boss reports errors of its background loops as events; an EventEmitter without an
    // 'error' listener would throw them out of the process instead.
    boss.on('error', (error: unknown) => logger?.error({ err: error }, 'job runner'));
    boss.on('warning', (warning: { message: string; data?: unknown }) =>
      logger?.warn({ data: warning.data }, `job runner: ${warning.message}`),
    );
    this.#boss = boss;
    await boss.start();
    for (const registration of this.#registrations.values()) {
      const { name, policy, options, keepSeconds } = registration;
      const queue = {
        retryLimit: options.retryLimit,
        retryDelay: options.retryDelaySeconds,
        retryBackoff: true,
        retryDelayMax: options.retryDelayMaxSeconds,
        expireInSeconds: options.expireInSeconds,
        deleteAfterSeconds: keepSeconds,
      };
      await boss.createQueue(name, { policy, ...queue });
      const { retryDelayMax: _fixedAtCreation, ...changeable } = queue;
      await boss.updateQueue(name, changeable);
    }
    if (what.work) {
      for (const registration of this.#registrations.values()) {
        await boss.work(
          registration.name,
          {
            batchSize: 1,
            localConcurrency: registration.options.concurrency,
            pollingIntervalSeconds: pollingIntervalSeconds ?? JOB_POLLING_INTERVAL_SECONDS,
          },
          (jobs) => this.#run(registration, jobs),
        );
      }
    }
    if (what.schedule) {
      for (const registration of this.#registrations.values()) {
        const when = registration.schedule;
        if (when === undefined) continue;
        if ('cron' in when)
          await boss.schedule(registration.name, when.cron, {}, { tz: when.tz ?? 'UTC' });
        else this.#tickEvery(registration.name, when.everySeconds);
      }
    }
    this.#state = 'started';
  }

  /**
   * Stops scheduling and fetching, waits up to JOB_STOP_TIMEOUT_MS for running handlers, then
   * fails what is still running (it is retried later, by this or another process).
   */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    for (const timer of this.#timers) clearInterval(timer);
    await this.#boss?.stop({ graceful: true, timeout: JOB_STOP_TIMEOUT_MS });
    // pg-boss has failed and aborted what outlived the wait; the handlers still get a moment
    // to notice, so nothing touches the database after the caller closes it.
    const leftover = [...this.#running];
    if (leftover.length > 0) {
      const wait = new Promise((resolve) => setTimeout(resolve, 1_000).unref());
      await Promise.race([Promise.allSettled(leftover), wait]);
      if (this.#running.size > 0)
        this.#options.logger?.warn(
          { handlers: this.#running.size },
          'job handlers still running after stop',
        );
    }
  }

  #add(registration: Registration): void {
    assert(this.#state === 'new', `job ${registration.name}: register jobs before start()`);
    assert(
      NAME_PATTERN.test(registration.name) && registration.name.length <= NAME_LENGTH_MAX,
      `job name ${JSON.stringify(registration.name)}: lower-case words separated by dots (redemptions.release-expired-holds)`,
    );
    assert(
      !this.#registrations.has(registration.name),
      `job ${registration.name}: registered twice`,
    );
    assert(this.#registrations.size < JOB_NAMES_MAX, `more than ${JOB_NAMES_MAX} job names`);
    this.#registrations.set(registration.name, registration);
  }

  #started(): PgBoss {
    assert(this.#state === 'started' && this.#boss, 'the job runner is not running');
    return this.#boss;
  }

  #sendOptions(name: string): { deleteAfterSeconds: number } {
    const registration = this.#registrations.get(name);
    assert(registration, `job ${name}: not registered`);
    assert(registration.schedule === undefined, `job ${name}: scheduled jobs are not sent`);
    return { deleteAfterSeconds: registration.keepSeconds };
  }

  async #run(registration: Registration, jobs: Job<unknown>[]): Promise<void> {
    // batchSize is 1: one job, so a failure retries that job alone.
    const job = jobs[0];
    if (!job) return;
    const context = { id: job.id, attempt: job.retryCount + 1, signal: job.signal };
    const run = registration.handler(job.data as JobData, context);
    this.#running.add(run);
    try {
      await run;
    } catch (error) {
      const last = context.attempt > registration.options.retryLimit;
      const fields = { err: error, job: registration.name, id: job.id, attempt: context.attempt };
      if (last) this.#options.logger?.error(fields, 'job failed, no retries left');
      else this.#options.logger?.warn(fields, 'job failed, will retry');
      throw error;
    } finally {
      this.#running.delete(run);
    }
  }

  /**
   * Sends the scheduled job every half period into a throttle slot of the period: twice per
   * slot, so a timer's drift never skips one, and one job per slot, whichever process sends
   * first. While a run is waiting or running, the exclusive queue turns the send down.
   */
  #tickEvery(name: string, everySeconds: number): void {
    const boss = this.#boss;
    assert(boss);
    const tick = () => {
      boss
        .send(
          name,
          {},
          { singletonSeconds: everySeconds, deleteAfterSeconds: SCHEDULED_JOB_KEEP_SECONDS },
        )
        .catch((error: unknown) =>
          this.#options.logger?.warn({ err: error, job: name }, 'sending a scheduled job failed'),
        );
    };
    tick();
    const timer = setInterval(tick, (everySeconds * 1000) / 2);
    timer.unref();
    this.#timers.push(timer);
  }
}

function checkedOptions(name: string, options: JobOptions): Required<JobOptions> {
  const o = { ...DEFAULTS, ...options };
  const whole = (value: number, min: number, max: number, what: string) =>
    assert(
      Number.isInteger(value) && value >= min && value <= max,
      `job ${name}: ${what} must be a whole number from ${min} to ${max}, got ${value}`,
    );
  whole(o.retryLimit, 0, JOB_RETRY_LIMIT_MAX, 'retryLimit');
  whole(o.retryDelaySeconds, 1, JOB_EXPIRE_SECONDS_MAX, 'retryDelaySeconds');
  whole(o.retryDelayMaxSeconds, o.retryDelaySeconds, 86_400, 'retryDelayMaxSeconds');
  whole(o.expireInSeconds, 1, JOB_EXPIRE_SECONDS_MAX, 'expireInSeconds');
  whole(o.concurrency, 1, JOB_CONCURRENCY_MAX, 'concurrency');
  return o;
}
