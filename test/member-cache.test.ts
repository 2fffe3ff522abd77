// The hot member cache: reads come from memory, writes evict, and a read that raced a write
// never stores what the write replaced. Real: the cache class and a full app on this pass's
// database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemberViewCache, invalidationPayloads } from '../src/members/cache.ts';
import type { MemberView } from '../src/members/index.ts';
import { purchase, startTestApp, type TestApp } from './support/app.ts';

const view = (available: number): MemberView => ({
  id: 'm',
  createdAt: '2026-01-01T00:00:00.000Z',
  attributes: {},
  balance: { available, pending: 0, held: 0 },
  tier: null,
  progress: null,
  nextExpiry: null,
  segments: [],
  metrics: {
    lifetimeSpend: { value: '0.00', currency: 'EUR' },
    points: 0,
    events: 0,
    firstEventAt: null,
    lastEventAt: null,
    counters: {},
  },
});

describe('MemberViewCache', () => {
  it('serves a stored view for the same version and day only', () => {
    const cache = new MemberViewCache(true);
    cache.set('p', 'm', cache.generation('p', 'm'), 1, '2026-06-15', view(10));
    expect(cache.get('p', 'm', 1, '2026-06-15')?.balance.available).toBe(10);
    expect(cache.get('p', 'm', 2, '2026-06-15')).toBeUndefined();
    expect(cache.get('p', 'm', 1, '2026-06-16')).toBeUndefined();
  });

  it('refuses a view read before an eviction of the same member', () => {
    const cache = new MemberViewCache(true);
    const token = cache.generation('p', 'm'); // a read starts
    cache.invalidate('p', ['m']); // a write commits meanwhile
    cache.set('p', 'm', token, 1, '2026-06-15', view(10)); // the read ends with the old figures
    expect(cache.get('p', 'm', 1, '2026-06-15')).toBeUndefined();
  });

  it('refuses reads in flight when it has to forget an evicted member to stay bounded', () => {
    const cache = new MemberViewCache(true, 2);
    const token = cache.generation('p', 'm');
    cache.invalidate('p', ['m']);
    cache.invalidate('p', ['a', 'b']); // pushes m's generation out
    cache.set('p', 'm', token, 1, '2026-06-15', view(10));
    expect(cache.get('p', 'm', 1, '2026-06-15')).toBeUndefined();
    expect(cache.size).toBeLessThanOrEqual(2);
  });

  it("knows its own event path's invalidations, and only those, by their origin", () => {
    const mine = new MemberViewCache(false);
    const other = new MemberViewCache(false);
    const [own] = invalidationPayloads('shop', ['a', 'b'], mine.origin);
    expect(JSON.parse(own as string)).toEqual({ p: 'shop', m: ['a', 'b'], o: mine.origin });
    expect(mine.isOwn(own as string)).toBe(true);
    expect(other.isOwn(own as string)).toBe(false);
    // Sent by other writers (expiry, tier passes, attribute changes): applied everywhere.
    for (const payload of invalidationPayloads('shop', ['a']))
      expect(mine.isOwn(payload)).toBe(false);
  });

  it('is off, and empty, while a multi-process cache has no invalidation listener', () => {
    const cache = new MemberViewCache(false);
    cache.set('p', 'm', cache.generation('p', 'm'), 1, 'd', view(10));
    expect(cache.get('p', 'm', 1, 'd')).toBeUndefined();
    cache.enable();
    cache.set('p', 'm', cache.generation('p', 'm'), 1, 'd', view(10));
    expect(cache.get('p', 'm', 1, 'd')).toBeDefined();
    cache.disable();
    expect(cache.get('p', 'm', 1, 'd')).toBeUndefined();
  });
});

describe('member reads through the cache', () => {
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    t = await startTestApp();
    token = await t.program('cached', 'retail');
  });
  afterAll(() => t.close());

  it('shows every write at once: events, refunds, attribute changes and a new program version', async () => {
    const at = '2026-06-15T09:00:00Z';
    const first = purchase('c1', '10.00', at);
    expect((await t.request('POST', '/v1/events', token, first)).statusCode).toBe(201);
    const read = async () => (await t.request('GET', '/v1/members/c1', token)).json();
    expect((await read()).balance.available).toBe(10);
    expect((await read()).balance.available).toBe(10); // served from the cache
    expect(
      (await t.request('POST', '/v1/events', token, purchase('c1', '5.00', at))).statusCode,
    ).toBe(201);
    expect((await read()).balance.available).toBe(15);
    const batch = await t.request('POST', '/v1/events:batch', token, {
      events: [
        purchase('c1', '1.00', at),
        { ...purchase('c1', '2.00', at), type: 'refund', refundOf: first.id },
      ],
    });
    expect(batch.statusCode).toBe(200);
    expect((await read()).balance.available).toBe(14);
    await t.request('PUT', '/v1/members/c1', token, { attributes: { vip: true } });
    expect((await read()).attributes).toEqual({ vip: true });
    const program = (await t.request('GET', '/v1/program', token)).json();
    const renamed = structuredClone(program.document);
    renamed.tiers.levels[0].name = 'Copper';
    expect((await t.request('PUT', '/v1/program', token, renamed)).statusCode).toBe(200);
    expect((await read()).tier.name).toBe('Copper');
  });

  it('answers a cached read with the JSON the response schema serializes, byte for byte', async () => {
    const at = '2026-06-15T09:00:00Z';
    expect(
      (await t.request('POST', '/v1/events', token, purchase('c2', '25.00', at))).statusCode,
    ).toBe(201);
    // PUT answers the fresh view through Fastify's own serialization; the reads after it are
    // served from the cache, from the answer serialized once.
    const put = await t.request('PUT', '/v1/members/c2', token, { attributes: { vip: true } });
    expect(put.statusCode).toBe(200);
    const reads = [
      await t.request('GET', '/v1/members/c2', token),
      await t.request('GET', '/v1/members/c2', token),
    ];
    for (const read of reads) {
      expect(read.statusCode).toBe(200);
      expect(read.headers['content-type']).toBe(put.headers['content-type']);
      expect(read.body).toBe(put.body);
    }
    expect(reads[0]?.json()).toMatchObject({
      id: 'c2',
      attributes: { vip: true },
      balance: { available: 25 },
    });
  });
});
