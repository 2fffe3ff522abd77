// Messages between the orchestrator (bench/run.ts) and the load generator, which runs in a
// worker thread so that its timers and sockets never wait behind the orchestrator's work.

/** What one request of a phase does. */
export type RequestKind = 'event' | 'batch' | 'member' | 'health' | 'redemption';

export interface Target {
  /** http://127.0.0.1:PORT */
  origin: string;
  token: string;
  /** Events use member ids m-0 … m-(memberPoolSize-1), chosen at random. */
  memberPoolSize: number;
  /** Makes event ids unique across runs against the same database. */
  runId: string;
  /** Redemptions hold this reward (cost 1 point) and confirm it. */
  rewardId?: string;
}

/**
 * Open loop: request i is due at t0 + i/rate, whether or not earlier ones answered, and its
 * latency counts from that due time (so a stalled server cannot hide its queue: no
 * coordinated omission). Closed loop: each connection sends its next request as soon as the
 * previous one answered.
 */
export type PhaseSpec =
  | {
      mode: 'open';
      name: string;
      kind: RequestKind;
      ratePerSecond: number;
      connectionsMax: number;
      warmupSeconds: number;
      durationSeconds: number;
    }
  | {
      mode: 'closed';
      name: string;
      kind: RequestKind;
      connections: number;
      batchSize: number;
      warmupSeconds: number;
      durationSeconds: number;
    };

export interface ErrorSample {
  /** HTTP status, or 0 for a transport error. */
  status: number;
  detail: string;
}

export interface PhaseResult {
  name: string;
  /** Requests answered 2xx in the measured window (after warm-up). */
  requestsOk: number;
  /** For events: events answered 2xx (a batch counts each item answered 2xx). */
  itemsOk: number;
  /** Items that failed: non-2xx responses, non-2xx batch items, transport errors. */
  itemsFailed: number;
  /** Failures by status ("0" = transport error), warm-up included. */
  failuresByStatus: Record<string, number>;
  errorSamples: ErrorSample[];
  measuredSeconds: number;
  /** Latency of each measured request in ms, in completion order. */
  latenciesMs: Float64Array;
  /** Open loop only: how late the generator sent each request (actual − due), ms. */
  sendLagMs: Float64Array;
  /** Items OK per whole second of the measured window. */
  itemsOkPerSecond: number[];
  /** Requests still unanswered when the phase gave up waiting. */
  abandoned: number;
}

export type ToWorker = { type: 'run'; target: Target; phase: PhaseSpec } | { type: 'close' };

export type FromWorker =
  | { type: 'result'; result: PhaseResult }
  | { type: 'failed'; message: string }
  | { type: 'closed' };
