// The ledger's invariants, held twice: by the database (append-only triggers, the
// balanced-entry statement trigger) and by the code, checked with properties over random
// sequences of purchases and refunds sent through the HTTP API: the whole ledger verifies,
// every balance equals its postings, all postings sum to zero, every event's points equal
// its postings, and refunds reverse proportionally (rounded down) and never more than the
// purchase earned. Real: the database of this file, the app (inject), the rules. Fake: the
// clock. Each property run uses its own member and event ids, so runs do not interfere.
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLedger } from '../src/ledger/index.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import type { LedgerItem } from './support/types.ts';

// A Monday; events fall on the 80 days before it, weekdays and weekends alike.
const NOW = '2026-06-15T10:00:00Z';
const NOW_MS = new Date(NOW).getTime();
const DAY_MS = 86_400_000;
const REFUND_AT = '2026-06-15T09:00:00Z';
// Each run hits the database a few dozen times: keep the number of runs modest.
const RUNS = 20;

let t: TestApp;
let token: string;

beforeAll(async () => {
  t = await startTestApp({ now: NOW });
  token = await t.program('ledger', 'retail');
});
afterAll(() => t.close());

const db = () => t.handle.db;

function eur(cents: number): string {
  return `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
}

async function scalar(query: ReturnType<typeof sql<{ v: bigint | null }>>): Promise<bigint> {
  const { rows } = await query.execute(db());
  return rows[0]?.v ?? 0n;
}

// ---------------------------------------------------------------------------------------
// The database refuses to change what was posted
// ---------------------------------------------------------------------------------------

describe('the database enforces an append-only ledger', () => {
  let purchaseId: string;
  let refundId: string;

  beforeAll(async () => {
    purchaseId = 'append-only-purchase';
    refundId = 'append-only-refund';
    const bought = await t.request('POST', '/v1/events', token, {
      id: purchaseId,
      type: 'purchase',
      memberId: 'append-only-member',
      occurredAt: '2026-06-13T10:00:00Z',
      amount: { value: '120.00', currency: 'EUR' },
      attributes: { category: 'electronics' },
    });
    expect(bought.statusCode, bought.body).toBe(201);
    const refunded = await t.request('POST', '/v1/events', token, {
      id: refundId,
      type: 'refund',
      memberId: 'append-only-member',
      refundOf: purchaseId,
      occurredAt: REFUND_AT,
      amount: { value: '20.00', currency: 'EUR' },
    });
    expect(refunded.statusCode, refunded.body).toBe(201);
  });

  /** A fingerprint of a table's whole content, to prove a refused statement changed nothing. */
  async function fingerprint(table: string): Promise<string> {
    const { rows } = await sql<{
      f: string | null;
    }>`SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS f FROM ${sql.table(table)} t`.execute(
      db(),
    );
    return `${rows[0]?.f}`;
  }

  const tables: { table: string; update: string }[] = [
    { table: 'postings', update: 'amount = amount * 2' },
    { table: 'journal_entries', update: "kind = 'adjustment'" },
    { table: 'events', update: 'points = points + 1' },
    { table: 'program_versions', update: "created_by = 'someone else'" },
    { table: 'tier_changes', update: "to_tier = 'platinum'" },
  ];

  it.each(tables)('UPDATE of $table raises and changes nothing', async ({ table, update }) => {
    expect(
      await scalar(sql<{ v: bigint }>`SELECT count(*) AS v FROM ${sql.table(table)}`),
    ).toBeGreaterThan(0n);
    const before = await fingerprint(table);
    await expect(sql.raw(`UPDATE ${table} SET ${update}`).execute(db())).rejects.toThrow(
      new RegExp(`${table} is append-only`),
    );
    expect(await fingerprint(table)).toBe(before);
  });

  it.each(tables)('DELETE from $table raises and deletes nothing', async ({ table }) => {
    const before = await fingerprint(table);
    await expect(sql.raw(`DELETE FROM ${table}`).execute(db())).rejects.toThrow(
      new RegExp(`${table} is append-only`),
    );
    expect(await fingerprint(table)).toBe(before);
  });

  it.each(tables)('TRUNCATE of $table raises and removes nothing', async ({ table }) => {
    const before = await fingerprint(table);
    await expect(sql.raw(`TRUNCATE ${table} CASCADE`).execute(db())).rejects.toThrow(
      /is append-only/,
    );
    expect(await fingerprint(table)).toBe(before);
  });

  async function entryOf(eventId: string): Promise<bigint> {
    const { rows } = await sql<{
      id: bigint;
    }>`SELECT id FROM journal_entries WHERE event_id = ${eventId}`.execute(db());
    expect(rows).toHaveLength(1);
    return (rows[0] as { id: bigint }).id;
  }

  it('an INSERT of postings that do not sum to zero for their entry raises', async () => {
    const entry = await entryOf(purchaseId);
    const before = await fingerprint('postings');
    await expect(
      sql`INSERT INTO postings (entry_id, program_id, member_id, account, amount) VALUES (${entry}, 'ledger', NULL, 'issued', 5)`.execute(
        db(),
      ),
    ).rejects.toThrow(/does not sum to zero/);
    expect(await fingerprint('postings')).toBe(before);
  });

  it('an INSERT whose postings sum to zero overall but not per entry raises', async () => {
    const purchaseEntry = await entryOf(purchaseId);
    const refundEntry = await entryOf(refundId);
    const before = await fingerprint('postings');
    await expect(
      sql`INSERT INTO postings (entry_id, program_id, member_id, account, amount) VALUES
        (${purchaseEntry}, 'ledger', NULL, 'issued', 5), (${refundEntry}, 'ledger', NULL, 'adjustments', -5)`.execute(
        db(),
      ),
    ).rejects.toThrow(/does not sum to zero/);
    expect(await fingerprint('postings')).toBe(before);
  });

  it('an INSERT of a balanced entry is accepted (so the refusals above are about balance)', async () => {
    const before = await fingerprint('postings');
    const rollback = new Error('roll back the control entry');
    await expect(
      db()
        .transaction()
        .execute(async (trx) => {
          const { rows } = await sql<{
            id: bigint;
          }>`INSERT INTO journal_entries (program_id, member_id, kind, effective_at)
            VALUES ('ledger', 'append-only-member', 'adjustment', now()) RETURNING id`.execute(trx);
          const entry = (rows[0] as { id: bigint }).id;
          await sql`INSERT INTO postings (entry_id, program_id, member_id, account, amount) VALUES
            (${entry}, 'ledger', NULL, 'issued', 5), (${entry}, 'ledger', NULL, 'adjustments', -5)`.execute(
            trx,
          );
          const { rows: inserted } = await sql<{
            n: bigint;
          }>`SELECT count(*) AS n FROM postings WHERE entry_id = ${entry}`.execute(trx);
          expect(inserted[0]?.n).toBe(2n);
          throw rollback;
        }),
    ).rejects.toBe(rollback);
    expect(await fingerprint('postings')).toBe(before);
  });
});

// ---------------------------------------------------------------------------------------
// Properties over random purchases and refunds
// ---------------------------------------------------------------------------------------

type Op =
  | {
      kind: 'purchase';
      member: number;
      cents: number;
      category: string | null;
      daysBack: number;
      minuteOfDay: number;
    }
  | { kind: 'refund'; target: number; mode: 'partial' | 'rest' | 'exceed'; permille: number };

const purchaseOp = fc.record({
  kind: fc.constant('purchase' as const),
  member: fc.integer({ min: 0, max: 3 }),
  cents: fc.oneof(fc.integer({ min: 0, max: 50_000 }), fc.constantFrom(0, 1, 99, 100, 101, 999)),
  category: fc.constantFrom('electronics', 'food', null),
  daysBack: fc.integer({ min: 1, max: 80 }),
  minuteOfDay: fc.integer({ min: 0, max: 1439 }),
});
const refundOp = fc.record({
  kind: fc.constant('refund' as const),
  target: fc.nat(),
  mode: fc.constantFrom('partial' as const, 'rest' as const, 'exceed' as const),
  permille: fc.integer({ min: 0, max: 1000 }),
});
// Purchases first so refunds have something to refer to, then a mix.
const scenario = fc
  .tuple(
    fc.array(purchaseOp, { minLength: 1, maxLength: 4 }),
    fc.array(fc.oneof(purchaseOp, refundOp, refundOp), { maxLength: 10 }),
  )
  .map(([first, rest]) => [...first, ...rest] as Op[]);

interface PurchaseState {
  id: string;
  memberId: string;
  cents: number;
  points: number;
  refundedCents: number;
  reversedPoints: number;
}

interface EventResult {
  status: number;
  body?: {
    eventId: string;
    memberId: string;
    pointsEarned: number;
    balance: { available: number };
  };
  problem?: { type: string };
}

/** Turns the ops of one run into event bodies, and checks each answer against a model of the refunds. */
class Model {
  readonly purchases: PurchaseState[] = [];
  readonly balances = new Map<string, number>();
  readonly events = new Map<string, number>();
  readonly refused: string[] = [];
  private pendingPurchases: PurchaseState[] = [];
  private counter = 0;

  constructor(private readonly prefix: string) {}

  /** The body for `op`, and how to check its answer. */
  plan(
    op: Op,
  ): { body: Record<string, unknown>; check: (result: EventResult) => void } | undefined {
    this.counter += 1;
    const id = `${this.prefix}e${this.counter}`;
    if (op.kind === 'purchase') {
      const memberId = `${this.prefix}m${op.member}`;
      const day = new Date(
        Math.floor(NOW_MS / DAY_MS) * DAY_MS - op.daysBack * DAY_MS + op.minuteOfDay * 60_000,
      );
      const state: PurchaseState = {
        id,
        memberId,
        cents: op.cents,
        points: 0,
        refundedCents: 0,
        reversedPoints: 0,
      };
      this.pendingPurchases.push(state);
      return {
        body: {
          id,
          type: 'purchase',
          memberId,
          occurredAt: day.toISOString(),
          amount: { value: eur(op.cents), currency: 'EUR' },
          ...(op.category ? { attributes: { category: op.category } } : {}),
        },
        check: (result) => {
          expect(result.status, JSON.stringify(result)).toBe(201);
          const points = result.body?.pointsEarned as number;
          // 1 point per whole EUR times multipliers of at least 1 (weekend 2, electronics 3, tier ≤ 1.5).
          expect(points).toBeGreaterThanOrEqual(Math.floor(op.cents / 100));
          expect(points).toBeLessThanOrEqual(Math.floor((op.cents * 9) / 100));
          state.points = points;
          this.record(id, memberId, points, result);
          this.purchases.push(state);
        },
      };
    }
    // A refund refers to a purchase planned earlier (in a batch: earlier in the same batch).
    const known = [
      ...this.purchases,
      ...this.pendingPurchases.filter((p) => !this.purchases.includes(p)),
    ];
    if (known.length === 0) return undefined;
    const target = known[op.target % known.length] as PurchaseState;
    const cents = (() => {
      const remaining = target.cents - target.refundedCents;
      if (op.mode === 'rest') return remaining;
      if (op.mode === 'exceed')
        return remaining + 1 + Math.floor((op.permille * target.cents) / 1000);
      return Math.floor((remaining * op.permille) / 1000);
    })();
    return {
      body: {
        id,
        type: 'refund',
        memberId: target.memberId,
        refundOf: target.id,
        occurredAt: REFUND_AT,
        amount: { value: eur(cents), currency: 'EUR' },
      },
      check: (result) => {
        const remaining = target.cents - target.refundedCents;
        if (cents > remaining) {
          expect(result.status, JSON.stringify(result)).toBe(422);
          expect(result.problem?.type).toBe('/problems/refund-exceeds-remaining');
          this.refused.push(id);
          return;
        }
        expect(result.status, JSON.stringify(result)).toBe(201);
        const cumulative = target.refundedCents + cents;
        // Proportional to the refunded amount, rounded down on the running total, so that
        // refunds adding up to the whole purchase reverse exactly the points it earned.
        const target_ =
          target.cents === 0
            ? target.points
            : Math.floor((target.points * cumulative) / target.cents);
        const expected = target_ - target.reversedPoints;
        expect(result.body?.pointsEarned).toBe(0 - expected);
        target.refundedCents = cumulative;
        target.reversedPoints += expected;
        expect(target.reversedPoints).toBeLessThanOrEqual(target.points);
        if (target.refundedCents === target.cents)
          expect(target.reversedPoints).toBe(target.points);
        this.record(id, target.memberId, result.body?.pointsEarned as number, result);
      },
    };
  }

  private record(id: string, memberId: string, points: number, result: EventResult): void {
    this.events.set(id, points);
    const balance = (this.balances.get(memberId) ?? 0) + points;
    this.balances.set(memberId, balance);
    expect(result.body?.balance.available).toBe(balance);
  }
}

/** Every posting of a member through GET /v1/members/{id}/ledger, following nextCursor. */
async function ledgerOf(memberId: string, limit?: number): Promise<LedgerItem[]> {
  const items: LedgerItem[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1000; pages += 1) {
    const query = new URLSearchParams({
      ...(limit ? { limit: String(limit) } : {}),
      ...(cursor ? { cursor } : {}),
    }).toString();
    const page = await t.request(
      'GET',
      `/v1/members/${memberId}/ledger${query ? `?${query}` : ''}`,
      token,
    );
    expect(page.statusCode, page.body).toBe(200);
    const body = page.json() as { items: LedgerItem[]; nextCursor: string | null };
    if (limit) expect(body.items.length).toBeLessThanOrEqual(limit);
    items.push(...body.items);
    cursor = body.nextCursor;
    if (cursor === null) return items;
  }
  throw new Error('the ledger did not end within 1000 pages');
}

/** Everything that must hold after a run, read back through the API and the database. */
async function checkLedger(model: Model): Promise<void> {
  expect(await verifyLedger(db())).toEqual([]);
  expect(
    await scalar(sql<{ v: bigint }>`SELECT coalesce(sum(amount), 0)::bigint AS v FROM postings`),
  ).toBe(0n);

  for (const [memberId, balance] of model.balances) {
    const member = await t.request('GET', `/v1/members/${memberId}`, token);
    expect(member.statusCode, member.body).toBe(200);
    expect((member.json() as { balance: { available: number } }).balance.available).toBe(balance);

    const items = await ledgerOf(memberId);
    expect(
      items.filter((i) => i.account === 'available').reduce((sum, i) => sum + i.amount, 0),
    ).toBe(balance);

    const stored = await scalar(
      sql<{ v: bigint }>`SELECT coalesce(sum(amount), 0)::bigint AS v FROM postings
        WHERE program_id = 'ledger' AND member_id = ${memberId} AND account = 'available'`,
    );
    expect(stored).toBe(BigInt(balance));
  }

  const ids = [...model.events.keys()];
  const { rows } = await sql<{ id: string; points: bigint; posted: bigint }>`
    SELECT ev.id, ev.points, coalesce((SELECT sum(x.amount) FROM journal_entries e JOIN postings x ON x.entry_id = e.id
      WHERE e.program_id = ev.program_id AND e.event_id = ev.id AND x.member_id IS NOT NULL), 0)::bigint AS posted
    FROM events ev WHERE ev.program_id = 'ledger' AND ev.id = ANY(${ids}::text[])`.execute(db());
  expect(rows).toHaveLength(ids.length);
  for (const row of rows) {
    expect(row.points).toBe(BigInt(model.events.get(row.id) as number));
    expect(row.posted).toBe(row.points);
  }

  if (model.refused.length > 0) {
    const { rows: stored } = await sql<{ id: string }>`
      SELECT id FROM events WHERE program_id = 'ledger' AND id = ANY(${model.refused}::text[])`.execute(
      db(),
    );
    expect(stored).toEqual([]);
  }

  // Refunds never reverse more than their purchase earned, whatever the order of events.
  const purchaseIds = model.purchases.map((p) => p.id);
  const { rows: reversals } = await sql<{ id: string; points: bigint; reversed: bigint }>`
    SELECT p.id, p.points, coalesce((SELECT -sum(r.points) FROM events r WHERE r.program_id = p.program_id AND r.refund_of = p.id), 0)::bigint
      AS reversed
    FROM events p WHERE p.program_id = 'ledger' AND p.id = ANY(${purchaseIds}::text[])`.execute(
    db(),
  );
  expect(reversals).toHaveLength(purchaseIds.length);
  for (const row of reversals) {
    expect(row.reversed).toBeGreaterThanOrEqual(0n);
    expect(row.reversed).toBeLessThanOrEqual(row.points);
  }
}

let runs = 0;
const nextPrefix = (name: string) => {
  runs += 1;
  return `${name}${runs}-`;
};

describe('ledger invariants hold over random purchases and refunds', () => {
  it('sent one by one', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (ops) => {
        const model = new Model(nextPrefix('single'));
        for (const op of ops) {
          const planned = model.plan(op);
          if (!planned) continue;
          const res = await t.request('POST', '/v1/events', token, planned.body);
          const json = res.json() as Record<string, unknown>;
          planned.check(
            res.statusCode < 300
              ? { status: res.statusCode, body: json as EventResult['body'] }
              : { status: res.statusCode, problem: json as EventResult['problem'] },
          );
        }
        await checkLedger(model);
      }),
      { numRuns: RUNS },
    );
  });

  it('sent as one batch (refunds of purchases earlier in the same batch included)', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (ops) => {
        const model = new Model(nextPrefix('batch'));
        const planned = ops.map((op) => model.plan(op)).filter((p) => p !== undefined);
        const res = await t.request('POST', '/v1/events:batch', token, {
          events: planned.map((p) => p.body),
        });
        expect(res.statusCode, res.body).toBe(200);
        const { results } = res.json() as { results: EventResult[] };
        expect(results).toHaveLength(planned.length);
        planned.forEach((p, i) => p.check(results[i] as EventResult));
        await checkLedger(model);
      }),
      { numRuns: RUNS },
    );
  });

  it('sent concurrently: purchases for a few members, and competing refunds of one purchase', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            member: fc.integer({ min: 0, max: 2 }),
            cents: fc.integer({ min: 0, max: 30_000 }),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        fc.integer({ min: 100, max: 20_000 }),
        fc.integer({ min: 2, max: 6 }),
        async (purchases, refundCents, refundCount) => {
          const prefix = nextPrefix('concurrent');
          const bodies = purchases.map((p, i) => ({
            id: `${prefix}e${i}`,
            type: 'purchase',
            memberId: `${prefix}m${p.member}`,
            occurredAt: '2026-06-13T12:00:00Z',
            amount: { value: eur(p.cents), currency: 'EUR' },
          }));
          const answers = await Promise.all(
            bodies.map((b) => t.request('POST', '/v1/events', token, b)),
          );
          const expected = new Map<string, number>();
          answers.forEach((res, i) => {
            expect(res.statusCode, res.body).toBe(201);
            const memberId = bodies[i]?.memberId as string;
            expected.set(
              memberId,
              (expected.get(memberId) ?? 0) + (res.json() as { pointsEarned: number }).pointsEarned,
            );
          });

          // Refunds racing for one purchase: together they may not exceed it.
          const original = { ...(bodies[0] as (typeof bodies)[number]), id: `${prefix}big` };
          original.amount = { value: eur(refundCents * 2 + 1), currency: 'EUR' };
          const bought = await t.request('POST', '/v1/events', token, original);
          expect(bought.statusCode, bought.body).toBe(201);
          const earned = (bought.json() as { pointsEarned: number }).pointsEarned;
          const refunds = await Promise.all(
            Array.from({ length: refundCount }, (_, i) =>
              t.request('POST', '/v1/events', token, {
                id: `${prefix}r${i}`,
                type: 'refund',
                memberId: original.memberId,
                refundOf: original.id,
                occurredAt: REFUND_AT,
                amount: { value: eur(refundCents), currency: 'EUR' },
              }),
            ),
          );
          const accepted = refunds.filter((r) => r.statusCode === 201);
          for (const r of refunds) expect([201, 422], r.body).toContain(r.statusCode);
          expect(accepted).toHaveLength(2);
          const reversed =
            0 -
            accepted.reduce(
              (sum, r) => sum + (r.json() as { pointsEarned: number }).pointsEarned,
              0,
            );
          expect(reversed).toBe(Math.floor((earned * refundCents * 2) / (refundCents * 2 + 1)));
          expected.set(
            original.memberId,
            (expected.get(original.memberId) ?? 0) + earned - reversed,
          );

          expect(await verifyLedger(db())).toEqual([]);
          for (const [memberId, balance] of expected) {
            const member = await t.request('GET', `/v1/members/${memberId}`, token);
            expect((member.json() as { balance: { available: number } }).balance.available).toBe(
              balance,
            );
          }
        },
      ),
      { numRuns: 10 },
    );
  });
});

describe('GET /v1/members/{id}/ledger', () => {
  it('pages through every posting with limit and cursor, newest first, without gaps or repeats', async () => {
    const memberId = 'paged-member';
    for (let i = 0; i < 7; i += 1) {
      const res = await t.request('POST', '/v1/events', token, {
        id: `paged-${i}`,
        type: 'purchase',
        memberId,
        occurredAt: '2026-06-12T10:00:00Z',
        amount: { value: `${i + 1}.00`, currency: 'EUR' },
      });
      expect(res.statusCode, res.body).toBe(201);
    }
    const all = await ledgerOf(memberId);
    expect(all).toHaveLength(7);
    for (const limit of [1, 2, 3, 7, 500]) {
      const paged = await ledgerOf(memberId, limit);
      expect(paged.map((i) => i.id)).toEqual(all.map((i) => i.id));
    }
    const ids = all.map((i) => BigInt(i.id));
    expect([...ids].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0))).toEqual(ids);
    expect(all.reduce((sum, i) => sum + i.amount, 0)).toBe(1 + 2 + 3 + 4 + 5 + 6 + 7);
  });
});
