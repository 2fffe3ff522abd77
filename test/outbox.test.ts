// The transactional outbox: every ledger change writes its domain events with it, and a
// failure after the posting leaves neither. The failure is real: a trigger on the outbox
// makes the database refuse one member's messages, after the ledger rows of the same
// statement were written.
// Real: database, HTTP stack, ledger. Faked: the clock only.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchase, startTestApp, type TestApp } from './support/app.ts';

const NOW = '2026-06-15T10:00:00Z';
const AT = '2026-06-15T09:00:00Z';

let t: TestApp;
let token: string;

beforeAll(async () => {
  t = await startTestApp({ now: NOW });
  token = await t.program('shop', 'retail');
  await sql`CREATE FUNCTION refuse_doomed_messages() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.member_id = 'doomed' OR (NEW.member_id = 'doomed-hold' AND NEW.type LIKE 'redemption.%') THEN
        RAISE EXCEPTION 'the outbox refuses messages of %', NEW.member_id;
      END IF;
      RETURN NEW;
    END $$`.execute(t.handle.db);
  await sql`CREATE TRIGGER refuse_doomed_messages BEFORE INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION refuse_doomed_messages()`.execute(t.handle.db);
});
afterAll(() => t.close());

async function count(
  table: 'events' | 'members' | 'redemptions' | 'idempotency_keys' | 'outbox',
  where: string,
) {
  const column = table === 'members' ? 'id' : table === 'idempotency_keys' ? 'key' : 'member_id';
  const rows = await sql<{ n: string }>`SELECT count(*)::text AS n FROM ${sql.table(table)}
    WHERE ${sql.ref(column)} = ${where}`.execute(t.handle.db);
  return Number(rows.rows[0]?.n);
}

describe('the outbox', () => {
  it('holds points.earned with the event, member, points and balance', async () => {
    const body = purchase('fine', '12.50', AT);
    const res = await t.request('POST', '/v1/events', token, body);
    expect(res.statusCode, res.body).toBe(201);
    const rows = await t.handle.db
      .selectFrom('outbox')
      .select(['type', 'occurred_at', 'data'])
      .where('member_id', '=', 'fine')
      .orderBy('id')
      .execute();
    expect(rows.map((r) => r.type)).toEqual(['points.earned', 'tier.changed']);
    expect(rows[0]?.occurred_at).toEqual(new Date(AT));
    expect(rows[0]?.data).toEqual({
      eventId: body['id'],
      memberId: 'fine',
      points: 12,
      balance: { available: 12, pending: 0, held: 0 },
      programVersion: 1,
    });
    expect(rows[1]?.data).toMatchObject({ memberId: 'fine', from: null, to: 'bronze' });
  });

  it('an event whose messages fail writes nothing: no event, member, posting or message', async () => {
    const res = await t.request('POST', '/v1/events', token, purchase('doomed', '20.00', AT));
    expect(res.statusCode).toBe(500);
    expect(await count('events', 'doomed')).toBe(0);
    expect(await count('members', 'doomed')).toBe(0);
    expect(await count('outbox', 'doomed')).toBe(0);
    const postings = await t.handle.db
      .selectFrom('postings')
      .select('id')
      .where('member_id', '=', 'doomed')
      .execute();
    expect(postings).toEqual([]);
  });

  it('a hold whose message fails writes nothing: no redemption, no held points, no stored answer', async () => {
    const earn = await t.request('POST', '/v1/events', token, purchase('doomed-hold', '50.00', AT));
    expect(earn.statusCode, earn.body).toBe(201);
    await t.handle.db
      .insertInto('rewards')
      .values({
        program_id: 'shop',
        id: 'pen',
        name: 'Pen',
        cost: 10n,
        stock: 3n,
        per_member_limit: null,
        tiers: null,
        valid_from: null,
        valid_until: null,
        voucher_validity_days: null,
        archived_at: null,
        created_at: new Date(NOW),
        updated_at: new Date(NOW),
      })
      .execute();
    const failed = await t.request(
      'POST',
      '/v1/redemptions',
      token,
      { memberId: 'doomed-hold', rewardId: 'pen' },
      { 'idempotency-key': 'doomed-hold-2' },
    );
    expect(failed.statusCode).toBe(500);
    expect(await count('redemptions', 'doomed-hold')).toBe(0);
    expect(await count('idempotency_keys', 'doomed-hold-2')).toBe(0);
    const member = await t.handle.db
      .selectFrom('members')
      .select(['available', 'held'])
      .where('id', '=', 'doomed-hold')
      .executeTakeFirstOrThrow();
    expect(member).toEqual({ available: 50n, held: 0n });
    const reward = await t.handle.db
      .selectFrom('rewards')
      .select('stock')
      .where('id', '=', 'pen')
      .executeTakeFirstOrThrow();
    expect(reward.stock).toBe(3n);
    const types = await t.handle.db
      .selectFrom('outbox')
      .select('type')
      .where('member_id', '=', 'doomed-hold')
      .orderBy('id')
      .execute();
    expect(types.map((r) => r.type)).toEqual(['points.earned', 'tier.changed']);
  });
});
