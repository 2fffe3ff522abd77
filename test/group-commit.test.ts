// How single events are grouped into transactions (src/events/group-commit.ts). The writer
// is a stand-in that holds each batch until the test lets it commit, so the test sees which
// events share a transaction and how many transactions run at once; the database's side of
// group commit is covered by the concurrency and replay tests.
import { describe, expect, it } from 'vitest';
import {
  GroupCommitter,
  QueueFullError,
  type EventOutcome,
  type GroupCommitOptions,
  type Submission,
} from '../src/events/index.ts';

interface HeldBatch {
  programId: string;
  ids: string[];
  commit: () => void;
}

function harness(options: Partial<GroupCommitOptions> = {}) {
  const batches: HeldBatch[] = [];
  let running = 0;
  let runningMax = 0;
  const committer = new GroupCommitter(
    (programId, submissions) =>
      new Promise<EventOutcome[]>((resolve) => {
        running += 1;
        runningMax = Math.max(runningMax, running);
        const ids = submissions.map((s) => (s.raw as { id: string }).id);
        batches.push({
          programId,
          ids,
          commit: () => {
            running -= 1;
            resolve(ids.map(() => ({ status: 'unknown_program' })));
          },
        });
      }),
    {
      batchSizeMax: 256,
      transactionsMax: 2,
      overlapQueueLengthMin: 3,
      queueLengthMax: 1_000,
      ...options,
    },
  );
  const submit = (id: string, programId = 'p'): Promise<EventOutcome> =>
    committer.submit(programId, { raw: { id }, at: '' } satisfies Submission);
  return { committer, batches, submit, runningMax: () => runningMax };
}

/** Lets the committer's setImmediate dispatch and any resolved batch's follow-up run. */
const settle = () => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));

describe('grouping single events into transactions', () => {
  it('starts a transaction at once for an event that arrives while none runs', async () => {
    const h = harness();
    const answered = h.submit('e1');
    await settle();
    expect(h.batches.map((b) => b.ids)).toEqual([['e1']]);
    h.batches[0]?.commit();
    await expect(answered).resolves.toEqual({ status: 'unknown_program' });
  });

  it('puts events that arrive in the same turn of the event loop into one transaction', async () => {
    const h = harness();
    void h.submit('e1');
    void h.submit('e2');
    await settle();
    expect(h.batches.map((b) => b.ids)).toEqual([['e1', 'e2']]);
  });

  it('holds a few events that arrive while a transaction runs, and writes them together next', async () => {
    const h = harness();
    void h.submit('e1');
    await settle();
    void h.submit('e2');
    await settle();
    void h.submit('e3');
    await settle();
    // Two waiting, fewer than the three that start a transaction beside the running one.
    expect(h.batches.map((b) => b.ids)).toEqual([['e1']]);
    h.batches[0]?.commit();
    await settle();
    expect(h.batches.map((b) => b.ids)).toEqual([['e1'], ['e2', 'e3']]);
    expect(h.runningMax()).toBe(1);
  });

  it('starts a second transaction beside the first once enough events wait, and no third', async () => {
    const h = harness();
    void h.submit('e1');
    await settle();
    for (const id of ['e2', 'e3', 'e4']) void h.submit(id);
    await settle();
    expect(h.batches.map((b) => b.ids)).toEqual([['e1'], ['e2', 'e3', 'e4']]);
    for (const id of ['e5', 'e6', 'e7', 'e8']) void h.submit(id);
    await settle();
    expect(h.batches).toHaveLength(2);
    h.batches[0]?.commit();
    await settle();
    expect(h.batches.map((b) => b.ids)[2]).toEqual(['e5', 'e6', 'e7', 'e8']);
    expect(h.runningMax()).toBe(2);
  });

  it('splits a long queue into transactions of at most batchSizeMax events', async () => {
    const h = harness({ batchSizeMax: 2, transactionsMax: 1 });
    for (const id of ['e1', 'e2', 'e3', 'e4', 'e5']) void h.submit(id);
    await settle();
    expect(h.batches.map((b) => b.ids)).toEqual([['e1', 'e2']]);
    h.batches[0]?.commit();
    await settle();
    h.batches[1]?.commit();
    await settle();
    expect(h.batches.map((b) => b.ids)).toEqual([['e1', 'e2'], ['e3', 'e4'], ['e5']]);
  });

  it('refuses an event when the queue is full, and accepts again once it has room', async () => {
    const h = harness({ queueLengthMax: 2, transactionsMax: 1 });
    void h.submit('e1');
    await settle();
    void h.submit('e2');
    void h.submit('e3');
    await expect(h.submit('e4')).rejects.toBeInstanceOf(QueueFullError);
    h.batches[0]?.commit();
    await settle();
    expect(h.batches.map((b) => b.ids)[1]).toEqual(['e2', 'e3']);
    void h.submit('e5');
    await settle();
    expect(h.batches).toHaveLength(2);
  });

  it('keeps programs apart: a transaction holds events of one program only', async () => {
    const h = harness();
    void h.submit('a1', 'a');
    void h.submit('b1', 'b');
    await settle();
    expect(h.batches.map((b) => [b.programId, b.ids])).toEqual([
      ['a', ['a1']],
      ['b', ['b1']],
    ]);
  });
});
