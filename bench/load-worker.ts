// The load generator. It runs in a worker thread (see load-client.ts) and owns nothing but
// keep-alive connection pools to Patron (bench/http-client.ts): the orchestrator asks it to
// run one phase at a time and gets back counts and raw latencies.
//
// Every loop here is bounded by a count and by a deadline; a phase that cannot drain its
// requests within DRAIN_TIMEOUT_MS destroys its pool and reports the requests it abandoned.

import { parentPort } from 'node:worker_threads';
import { HttpPool } from './http-client.ts';
import type {
  ErrorSample,
  FromWorker,
  PhaseResult,
  PhaseSpec,
  RequestKind,
  Target,
  ToWorker,
} from './load-protocol.ts';

const REQUEST_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5_000;
const DRAIN_TIMEOUT_MS = 30_000;
const ERROR_SAMPLES_MAX = 5;
const ERROR_DETAIL_CHARS_MAX = 400;
/** Closed loops keep at most this many latencies (about 16 MB); later ones are only counted. */
const LATENCY_SAMPLES_MAX = 2_000_000;
/** A bound on any one connection's loop besides the deadline. */
const REQUESTS_PER_CONNECTION_MAX = 10_000_000;
/** Open loops start this long after they are planned, so the first sends are not late. */
const OPEN_LOOP_LEAD_MS = 20;

interface Outcome {
  /** HTTP status of the response, 0 for a transport error. */
  status: number;
  itemsOk: number;
  itemsFailed: number;
}

/** Which members of the pool have been created by an answered event, across phases. */
let createdMembers = new Uint8Array(0);
let eventSequence = 0;
let redemptionSequence = 0;

function port() {
  if (!parentPort) throw new Error('load-worker.ts must run in a worker thread');
  return parentPort;
}

function randomMember(poolSize: number): number {
  return Math.floor(Math.random() * poolSize);
}

function eventJson(target: Target, member: number, occurredAt: string): string {
  // Built as a string: the shape is fixed and ids need no escaping; this keeps the generator
  // cheap so that it leaves the CPU to Patron.
  eventSequence += 1;
  return (
    `{"id":"bench-${target.runId}-${eventSequence}","type":"purchase","memberId":"m-${member}",` +
    `"occurredAt":"${occurredAt}","amount":{"value":"12.50","currency":"EUR"},` +
    `"attributes":{"category":"electronics"}}`
  );
}

class PhaseRun {
  readonly failuresByStatus: Record<string, number> = {};
  readonly errorSamples: ErrorSample[] = [];
  /** Header lines (each ending in CRLF) for a JSON body, and for a request without one. */
  readonly jsonHeaders: string;
  readonly authHeaders: string;
  readonly existingMembers: number[];

  constructor(
    readonly pool: HttpPool,
    readonly target: Target,
    readonly phase: PhaseSpec,
  ) {
    this.authHeaders = `authorization: Bearer ${target.token}\r\n`;
    this.jsonHeaders = `${this.authHeaders}content-type: application/json\r\n`;
    this.existingMembers = [];
    for (let m = 0; m < createdMembers.length; m++) {
      if (createdMembers[m] === 1) this.existingMembers.push(m);
    }
  }

  fail(status: number, count: number, detail: string): void {
    const key = String(status);
    this.failuresByStatus[key] = (this.failuresByStatus[key] ?? 0) + count;
    if (this.errorSamples.length < ERROR_SAMPLES_MAX) {
      this.errorSamples.push({ status, detail: detail.slice(0, ERROR_DETAIL_CHARS_MAX) });
    }
  }

  /** Sends one request of the phase's kind. Never throws. */
  async send(kind: RequestKind): Promise<Outcome> {
    try {
      switch (kind) {
        case 'event':
          return await this.sendEvent();
        case 'batch':
          return await this.sendBatch();
        case 'member':
          return await this.sendMemberRead();
        case 'health':
          return await this.sendGet('/health', '');
        case 'redemption':
          return await this.sendRedemption();
      }
    } catch (error) {
      const err = error as { code?: string; message?: string };
      this.fail(
        0,
        kind === 'batch' ? this.batchSize() : 1,
        `${kind}: ${err.code ?? ''} ${err.message ?? String(error)}`,
      );
      return { status: 0, itemsOk: 0, itemsFailed: kind === 'batch' ? this.batchSize() : 1 };
    }
  }

  batchSize(): number {
    return this.phase.mode === 'closed' ? this.phase.batchSize : 1;
  }

  async sendEvent(): Promise<Outcome> {
    const member = randomMember(this.target.memberPoolSize);
    const res = await this.pool.request(
      'POST',
      '/v1/events',
      this.jsonHeaders,
      eventJson(this.target, member, new Date().toISOString()),
    );
    if (res.status >= 200 && res.status < 300) {
      createdMembers[member] = 1;
      return { status: res.status, itemsOk: 1, itemsFailed: 0 };
    }
    this.fail(res.status, 1, `POST /v1/events → ${res.status}: ${res.body.toString('utf8')}`);
    return { status: res.status, itemsOk: 0, itemsFailed: 1 };
  }

  async sendBatch(): Promise<Outcome> {
    const size = this.batchSize();
    const occurredAt = new Date().toISOString();
    const members = new Array<number>(size);
    const parts = new Array<string>(size);
    for (let i = 0; i < size; i++) {
      const member = randomMember(this.target.memberPoolSize);
      members[i] = member;
      parts[i] = eventJson(this.target, member, occurredAt);
    }
    const res = await this.pool.request(
      'POST',
      '/v1/events:batch',
      this.jsonHeaders,
      `{"events":[${parts.join(',')}]}`,
    );
    const text = res.body.toString('utf8');
    if (res.status < 200 || res.status >= 300) {
      this.fail(res.status, size, `POST /v1/events:batch → ${res.status}: ${text}`);
      return { status: res.status, itemsOk: 0, itemsFailed: size };
    }
    const parsed = JSON.parse(text) as { results?: { status?: number }[] };
    const results = parsed.results ?? [];
    if (results.length !== size) {
      this.fail(
        res.status,
        size,
        `POST /v1/events:batch → ${results.length} results for ${size} events`,
      );
      return { status: res.status, itemsOk: 0, itemsFailed: size };
    }
    let ok = 0;
    for (let i = 0; i < size; i++) {
      const item = results[i];
      const status = item?.status ?? 0;
      if (status >= 200 && status < 300) {
        ok += 1;
        createdMembers[members[i] as number] = 1;
      } else {
        this.fail(status, 1, `batch item ${i} → ${status}: ${JSON.stringify(item)}`);
      }
    }
    return { status: res.status, itemsOk: ok, itemsFailed: size - ok };
  }

  async sendMemberRead(): Promise<Outcome> {
    const count = this.existingMembers.length;
    if (count === 0) {
      this.fail(0, 1, 'no member has been created by an earlier phase; nothing to read');
      return { status: 0, itemsOk: 0, itemsFailed: 1 };
    }
    // Reads go to a set of READ_SET_MEMBERS members, as a shop's app shows the balance of
    // the members who are active right now; the warm-up fills Patron's member cache with them.
    const member = this.existingMembers[
      Math.floor(Math.random() * Math.min(count, READ_SET_MEMBERS))
    ] as number;
    return this.sendGet(`/v1/members/m-${member}`, this.authHeaders);
  }

  /** A hold of the bench reward for a member who has points, then its confirm: one item. */
  async sendRedemption(): Promise<Outcome> {
    const count = this.existingMembers.length;
    if (count === 0 || this.target.rewardId === undefined) {
      this.fail(0, 1, 'no member with points, or no reward to redeem');
      return { status: 0, itemsOk: 0, itemsFailed: 1 };
    }
    const member = this.existingMembers[Math.floor(Math.random() * count)] as number;
    redemptionSequence += 1;
    const hold = await this.pool.request(
      'POST',
      '/v1/redemptions',
      `${this.jsonHeaders}idempotency-key: bench-${this.target.runId}-${redemptionSequence}\r\n`,
      `{"memberId":"m-${member}","rewardId":"${this.target.rewardId}"}`,
    );
    const text = hold.body.toString('utf8');
    if (hold.status !== 201) {
      this.fail(hold.status, 1, `POST /v1/redemptions → ${hold.status}: ${text}`);
      return { status: hold.status, itemsOk: 0, itemsFailed: 1 };
    }
    const { id } = JSON.parse(text) as { id: string };
    const confirm = await this.pool.request(
      'POST',
      `/v1/redemptions/${id}:confirm`,
      this.authHeaders,
    );
    if (confirm.status !== 200) {
      this.fail(confirm.status, 1, `confirm → ${confirm.status}: ${confirm.body.toString('utf8')}`);
      return { status: confirm.status, itemsOk: 0, itemsFailed: 1 };
    }
    return { status: 200, itemsOk: 1, itemsFailed: 0 };
  }

  async sendGet(path: string, headers: string): Promise<Outcome> {
    const res = await this.pool.request('GET', path, headers);
    if (res.status >= 200 && res.status < 300) {
      return { status: res.status, itemsOk: 1, itemsFailed: 0 };
    }
    this.fail(res.status, 1, `GET ${path} → ${res.status}: ${res.body.toString('utf8')}`);
    return { status: res.status, itemsOk: 0, itemsFailed: 1 };
  }
}

function newPool(origin: string, connections: number): HttpPool {
  return new HttpPool(origin, {
    connectionsMax: connections,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
  });
}

/** Resolves when `pending` reaches zero or the deadline passes; returns what is left. */
function drain(pending: () => number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  return new Promise((resolve) => {
    const check = () => {
      if (pending() === 0 || performance.now() >= deadline) resolve(pending());
      else setTimeout(check, 10);
    };
    check();
  });
}

async function runClosed(
  run: PhaseRun,
  phase: Extract<PhaseSpec, { mode: 'closed' }>,
): Promise<Omit<PhaseResult, 'name' | 'failuresByStatus' | 'errorSamples'>> {
  const start = performance.now();
  const measureFrom = start + phase.warmupSeconds * 1000;
  const end = measureFrom + phase.durationSeconds * 1000;
  const perSecond = new Array<number>(Math.ceil(phase.durationSeconds)).fill(0);
  const latencies: number[] = [];
  let requestsOk = 0;
  let itemsOk = 0;
  let itemsFailed = 0;
  let active = 0;

  const connection = async () => {
    active += 1;
    try {
      for (let i = 0; i < REQUESTS_PER_CONNECTION_MAX; i++) {
        const sent = performance.now();
        if (sent >= end) return;
        const outcome = await run.send(phase.kind);
        const done = performance.now();
        // Throughput is what completed inside the measured window, whenever it was sent.
        if (done < measureFrom || done > end) continue;
        if (latencies.length < LATENCY_SAMPLES_MAX) latencies.push(done - sent);
        if (outcome.itemsOk > 0) requestsOk += 1;
        itemsOk += outcome.itemsOk;
        itemsFailed += outcome.itemsFailed;
        const second = Math.floor((done - measureFrom) / 1000);
        if (second < perSecond.length)
          perSecond[second] = (perSecond[second] ?? 0) + outcome.itemsOk;
      }
    } finally {
      active -= 1;
    }
  };
  for (let c = 0; c < phase.connections; c++) void connection();

  // The loops stop by themselves at `end`; wait for them, bounded.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, end - performance.now())));
  const abandoned = await drain(() => active, DRAIN_TIMEOUT_MS);
  return {
    requestsOk,
    itemsOk,
    itemsFailed,
    measuredSeconds: phase.durationSeconds,
    latenciesMs: Float64Array.from(latencies),
    sendLagMs: new Float64Array(0),
    itemsOkPerSecond: perSecond,
    abandoned,
  };
}

async function runOpen(
  run: PhaseRun,
  phase: Extract<PhaseSpec, { mode: 'open' }>,
): Promise<Omit<PhaseResult, 'name' | 'failuresByStatus' | 'errorSamples'>> {
  const intervalMs = 1000 / phase.ratePerSecond;
  const total = Math.round(phase.ratePerSecond * (phase.warmupSeconds + phase.durationSeconds));
  const warmupCount = Math.round(phase.ratePerSecond * phase.warmupSeconds);
  const measuredCount = total - warmupCount;
  const t0 = performance.now() + OPEN_LOOP_LEAD_MS;
  const measureFrom = t0 + warmupCount * intervalMs;
  const latencies = new Float64Array(measuredCount);
  const sendLag = new Float64Array(measuredCount);
  const perSecond = new Array<number>(Math.ceil(phase.durationSeconds)).fill(0);
  let recorded = 0;
  let requestsOk = 0;
  let itemsOk = 0;
  let itemsFailed = 0;
  let inFlight = 0;

  const fire = (i: number, due: number) => {
    const lag = performance.now() - due;
    inFlight += 1;
    void run.send(phase.kind).then((outcome) => {
      inFlight -= 1;
      if (i < warmupCount) return;
      const done = performance.now();
      // Latency from the due time, not the actual send: a late generator or a queue in the
      // server both count against the figure.
      latencies[recorded] = done - due;
      sendLag[recorded] = lag;
      recorded += 1;
      if (outcome.itemsOk > 0) requestsOk += 1;
      itemsOk += outcome.itemsOk;
      itemsFailed += outcome.itemsFailed;
      const second = Math.floor((due - measureFrom) / 1000);
      if (second < perSecond.length) perSecond[second] = (perSecond[second] ?? 0) + outcome.itemsOk;
    });
  };

  await new Promise<void>((resolve) => {
    let next = 0;
    const tick = () => {
      const now = performance.now();
      // Send everything that is due; the count bounds the loop.
      while (next < total && t0 + next * intervalMs <= now) {
        fire(next, t0 + next * intervalMs);
        next += 1;
      }
      if (next >= total) resolve();
      else setTimeout(tick, Math.max(0, t0 + next * intervalMs - performance.now()));
    };
    setTimeout(tick, OPEN_LOOP_LEAD_MS);
  });
  const abandoned = await drain(() => inFlight, DRAIN_TIMEOUT_MS);
  return {
    requestsOk,
    itemsOk,
    itemsFailed,
    measuredSeconds: phase.durationSeconds,
    latenciesMs: latencies.subarray(0, recorded).slice(),
    sendLagMs: sendLag.subarray(0, recorded).slice(),
    itemsOkPerSecond: perSecond,
    abandoned,
  };
}

/** Distinct members the read phase reads (the first members created by earlier phases). */
const READ_SET_MEMBERS = 2_000;

async function runPhase(target: Target, phase: PhaseSpec): Promise<PhaseResult> {
  if (createdMembers.length !== target.memberPoolSize) {
    createdMembers = new Uint8Array(target.memberPoolSize);
  }
  const connections = phase.mode === 'open' ? phase.connectionsMax : phase.connections;
  const pool = newPool(target.origin, connections);
  const run = new PhaseRun(pool, target, phase);
  try {
    const measured =
      phase.mode === 'open' ? await runOpen(run, phase) : await runClosed(run, phase);
    return {
      name: phase.name,
      ...measured,
      failuresByStatus: run.failuresByStatus,
      errorSamples: run.errorSamples,
    };
  } finally {
    // Abandoned requests, if any, fail with the pool.
    pool.destroy();
  }
}

const parent = port();
parent.on('message', (message: ToWorker) => {
  if (message.type === 'close') {
    const reply: FromWorker = { type: 'closed' };
    parent.postMessage(reply);
    parent.close();
    return;
  }
  runPhase(message.target, message.phase).then(
    (result) => {
      const reply: FromWorker = { type: 'result', result };
      parent.postMessage(reply, [
        result.latenciesMs.buffer as ArrayBuffer,
        result.sendLagMs.buffer as ArrayBuffer,
      ]);
    },
    (error: unknown) => {
      const reply: FromWorker = {
        type: 'failed',
        message: error instanceof Error ? (error.stack ?? error.message) : String(error),
      };
      parent.postMessage(reply);
    },
  );
});
