// A batch written under lock never waits for a member row that another transaction holds,
// nor for a new member that another is creating: it writes the events of every other member
// at once, and those of that member in a transaction of its own, which starts at once and
// waits for the row (src/events/process.ts, 'lock' and 'wait'). Needs a second connection
// that holds a lock, so it runs on the server only.
// Real: database, rules, ledger. Faked: the clock only, held still.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processEvents, type EventOutcome } from '../src/events/index.ts';
import { purchase, refund, startTestApp, type TestApp } from './support/app.ts';
import { availableOf, eventDeps } from './support/events.ts';

/** Monday 15 June 2026, 12:00 in Prague; events an hour earlier are plain weekday events. */
const NOW = '2026-06-15T10:00:00Z';
const AT = '2026-06-15T09:00:00Z';
/** More events than a checked write takes, so the batch is written under lock at once. */
const BATCH = 80;

let t: TestApp;
let holder: pg.Client;

beforeAll(async () => {
  t = await startTestApp({ now: NOW });
  await t.program('retail', 'retail');
  holder = new pg.Client({ connectionString: t.handle.url });
  await holder.connect();
});
afterAll(async () => {
  await holder.end();
  await t.close();
});

const deps = () => eventDeps(t);

async function committedEvents(ids: string[]): Promise<number> {
  const { rows } = await holder.query<{ n: string }>(
    `SELECT count(*) AS n FROM events WHERE program_id = 'retail' AND id = ANY($1::text[])`,
    [ids],
  );
  return Number(rows[0]?.n);
}

const available = (memberId: string) => availableOf(t, 'retail', memberId);

describe('a batch and a member row another transaction holds', () => {
  it('writes the other members at once and the held member, in order, once its row is free', async () => {
    await processEvents(deps(), 'retail', [
      { raw: purchase('held', '10.00', AT, { id: 'held-0' }), at: '' },
    ]);
    expect(await available('held')).toBe(10n);

    // The held member's purchase and then its refund (two rounds), among other members.
    const heldPurchase = purchase('held', '20.00', AT, { id: 'held-1' });
    const heldRefund = refund('held', 'held-1', '20.00', AT);
    const others = Array.from({ length: BATCH - 2 }, (_, i) =>
      purchase(`free-${i}`, '5.00', AT, { id: `free-${i}` }),
    );
    const batch = [heldPurchase, ...others.slice(0, 40), heldRefund, ...others.slice(40)];

    await holder.query('BEGIN');
    await holder.query(
      `SELECT 1 FROM members WHERE program_id = 'retail' AND id = 'held' FOR UPDATE`,
    );
    const d = deps();
    let settled = false;
    const written = processEvents(
      d,
      'retail',
      batch.map((raw, i) => ({ raw, at: `/events/${i}` })),
    ).finally(() => (settled = true));

    // The other members' events commit while the row is held; the held member's do not.
    const otherIds = others.map((o) => o.id as string);
    const deadline = Date.now() + 20_000;
    while ((await committedEvents(otherIds)) < otherIds.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await committedEvents(otherIds)).toBe(otherIds.length);
    expect(await committedEvents(['held-1', heldRefund.id as string])).toBe(0);
    expect(settled).toBe(false);

    await holder.query('COMMIT');
    const outcomes = await written;

    expect(outcomes.map((o) => o.status)).toEqual(batch.map(() => 'created'));
    const pointsOf = (o: EventOutcome | undefined) =>
      (o as Extract<EventOutcome, { status: 'created' }>).body.pointsEarned;
    expect(pointsOf(outcomes[0])).toBe(20);
    expect(pointsOf(outcomes[41])).toBe(-20);
    expect(await available('held')).toBe(10n);
    expect(await available('free-0')).toBe(5n);
    expect(d.writes).toEqual({ checked: 0, locked: 1, deferred: 2 });
  });

  it("waits for a held member's row while the rest of the batch is still being written", async () => {
    await processEvents(deps(), 'retail', [
      { raw: purchase('held-early', '1.00', AT, { id: 'held-early-0' }), at: '' },
    ]);
    const batch = [
      purchase('held-early', '6.00', AT, { id: 'held-early-1' }),
      ...Array.from({ length: BATCH - 2 }, (_, i) =>
        purchase(`free-early-${i}`, '2.00', AT, { id: `free-early-${i}` }),
      ),
      purchase('held-early', '3.00', AT, { id: 'held-early-2' }),
    ];
    // One connection holds the member's row, another keeps every write out of the outbox,
    // so the batch's own write cannot finish while the member's row is held.
    const outboxHolder = new pg.Client({ connectionString: t.handle.url });
    await outboxHolder.connect();
    const observer = new pg.Client({ connectionString: t.handle.url });
    await observer.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(
        `SELECT 1 FROM members WHERE program_id = 'retail' AND id = 'held-early' FOR UPDATE`,
      );
      const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))
        .rows[0]?.pid;
      await outboxHolder.query('BEGIN');
      await outboxHolder.query('LOCK TABLE outbox IN SHARE MODE');
      const outboxPid = (
        await outboxHolder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
      ).rows[0]?.pid;
      const d = deps();
      const written = processEvents(
        d,
        'retail',
        batch.map((raw, i) => ({ raw, at: `/events/${i}` })),
      );

      // Both wait at once: the deferred events for the member's row, the batch for the outbox.
      // (Asked outside the holders' transactions: a transaction sees one snapshot of activity.)
      const waitingOn = async (pid: number | undefined) => {
        const { rows } = await observer.query<{ n: string }>(
          `SELECT count(*) AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`,
          [pid],
        );
        return Number(rows[0]?.n);
      };
      const deadline = Date.now() + 20_000;
      while (
        ((await waitingOn(holderPid)) === 0 || (await waitingOn(outboxPid)) === 0) &&
        Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 20));
      }

      expect(await waitingOn(holderPid)).toBe(1);
      expect(await waitingOn(outboxPid)).toBe(1);

      await holder.query('COMMIT');
      await outboxHolder.query('COMMIT');
      const outcomes = await written;
      expect(outcomes.map((o) => o.status)).toEqual(batch.map(() => 'created'));
      // The member's two events in the order they were sent: the balance after each.
      const availableAfter = (o: EventOutcome | undefined) =>
        (o as Extract<EventOutcome, { status: 'created' }>).body.balance.available;
      expect(availableAfter(outcomes[0])).toBe(7);
      expect(availableAfter(outcomes.at(-1))).toBe(10);
      expect(d.writes).toEqual({ checked: 0, locked: 1, deferred: 2 });
    } finally {
      await outboxHolder.query('ROLLBACK').catch(() => undefined);
      await outboxHolder.end();
      await observer.end();
    }
  });

  it('answers a repeated event of a held member once that member is written, as a replay', async () => {
    await processEvents(deps(), 'retail', [
      { raw: purchase('held-twice', '1.00', AT, { id: 'held-twice-0' }), at: '' },
    ]);
    const again = purchase('held-twice', '30.00', AT, { id: 'held-twice-1' });
    const batch = [
      again,
      ...Array.from({ length: BATCH - 2 }, (_, i) =>
        purchase(`free-twice-${i}`, '2.00', AT, { id: `free-twice-${i}` }),
      ),
      again,
    ];
    await holder.query('BEGIN');
    await holder.query(
      `SELECT 1 FROM members WHERE program_id = 'retail' AND id = 'held-twice' FOR UPDATE`,
    );
    const d = deps();
    const written = processEvents(
      d,
      'retail',
      batch.map((raw, i) => ({ raw, at: `/events/${i}` })),
    );
    await new Promise((r) => setTimeout(r, 300));
    await holder.query('COMMIT');
    const outcomes = await written;

    expect(outcomes[0]?.status).toBe('created');
    expect(outcomes.at(-1)?.status).toBe('replayed');
    expect(await available('held-twice')).toBe(31n);
    expect(d.writes).toEqual({ checked: 0, locked: 1, deferred: 2 });
  });

  it('leaves a new member that another batch is creating to a later transaction, which creates it once', async () => {
    // What a concurrent locked batch holds while it creates the member.
    await holder.query('BEGIN');
    await holder.query(
      `SELECT pg_advisory_xact_lock(hashtext('patron.member-creation:retail'), hashtext('being-created'))`,
    );
    const batch = [
      purchase('being-created', '7.00', AT, { id: 'being-created-1' }),
      ...Array.from({ length: BATCH - 2 }, (_, i) =>
        purchase(`free-new-${i}`, '3.00', AT, { id: `free-new-${i}` }),
      ),
      purchase('being-created', '4.00', AT, { id: 'being-created-2' }),
    ];
    const d = deps();
    const outcomes = await processEvents(
      d,
      'retail',
      batch.map((raw, i) => ({ raw, at: `/events/${i}` })),
    );
    await holder.query('COMMIT');

    expect(outcomes.map((o) => o.status)).toEqual(batch.map(() => 'created'));
    expect(d.writes).toEqual({ checked: 0, locked: 1, deferred: 2 });
    expect(await available('being-created')).toBe(11n);
    // Created by its first event, once: one entry into the lowest tier.
    const { rows } = await holder.query(
      `SELECT from_tier, to_tier, event_id FROM tier_changes
       WHERE program_id = 'retail' AND member_id = 'being-created'`,
    );
    expect(rows).toEqual([{ from_tier: null, to_tier: 'bronze', event_id: null }]);
  });
});
