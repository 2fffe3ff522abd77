// Group commit of single events. Under load, concurrent POST /v1/events requests for one
// program join one transaction instead of paying a commit each: a request waits only while
// every transaction slot is busy, so an idle server adds no latency, and each request is
// answered only after the transaction that holds its event has committed.
//
//   submit ──▶ queue (per program) ──slot free──▶ processEvents(batch ≤ BATCH) ──commit──▶ answers
//
// Bounded everywhere: a batch takes at most `batchSizeMax` events, at most
// `transactionsMax` transactions run at once, and a queue holds at most `queueLengthMax`
// events (more is refused as overload rather than buffered without end).
import { processEvents, type EventDeps, type EventOutcome, type Submission } from './process.ts';

const DRAIN_TIMEOUT_MS = 30_000;
const DRAIN_POLL_MS = 5;

export interface GroupCommitOptions {
  batchSizeMax: number;
  transactionsMax: number;
  queueLengthMax: number;
}

interface Waiting {
  submission: Submission;
  resolve: (outcome: EventOutcome) => void;
  reject: (error: unknown) => void;
}

export class QueueFullError extends Error {
  constructor() {
    super('the event queue is full');
  }
}

export class GroupCommitter {
  private readonly queues = new Map<string, Waiting[]>();
  private running = 0;
  private queued = 0;
  private scheduled = false;

  constructor(
    private readonly deps: EventDeps,
    private readonly options: GroupCommitOptions,
  ) {}

  submit(programId: string, submission: Submission): Promise<EventOutcome> {
    if (this.queued >= this.options.queueLengthMax) return Promise.reject(new QueueFullError());
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(programId) ?? [];
      queue.push({ submission, resolve, reject });
      this.queues.set(programId, queue);
      this.queued += 1;
      this.schedule();
    });
  }

  /**
   * Waits for every queued and running event (graceful shutdown), at most `timeoutMs`;
   * answers whether everything finished. Unfinished events were not answered, so their
   * senders retry them, and idempotency makes the retry safe.
   */
  async drain(timeoutMs = DRAIN_TIMEOUT_MS): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.queued > 0 || this.running > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    }
    return true;
  }

  private schedule(): void {
    // Requests that arrive in the same turn of the event loop join one batch.
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const [programId, queue] of this.queues) {
      while (queue.length > 0 && this.running < this.options.transactionsMax) {
        const batch = queue.splice(0, this.options.batchSizeMax);
        this.queued -= batch.length;
        this.running += 1;
        void this.run(programId, batch);
      }
      if (queue.length === 0) this.queues.delete(programId);
    }
  }

  private async run(programId: string, batch: Waiting[]): Promise<void> {
    try {
      const outcomes = await processEvents(
        this.deps,
        programId,
        batch.map((w) => w.submission),
      );
      batch.forEach((w, i) => w.resolve(outcomes[i] as EventOutcome));
    } catch (error) {
      for (const w of batch) w.reject(error);
    } finally {
      this.running -= 1;
      if (this.queued > 0) this.dispatch();
    }
  }
}
