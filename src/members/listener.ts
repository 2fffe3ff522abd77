// Keeps a process's caches true on PostgreSQL, where other processes write too: LISTEN on
// the invalidation channel and evict what they changed. While disconnected the member cache
// is off (reads go to the database); the listener reconnects with a bounded backoff.
import pg from 'pg';
import type { ProgramCache } from '../programs/index.ts';
import { INVALIDATION_CHANNEL, type MemberViewCache } from './cache.ts';

const RECONNECT_DELAY_MS_MIN = 100;
const RECONNECT_DELAY_MS_MAX = 10_000;

export interface InvalidationListener {
  /** Resolves once the first LISTEN is in place (the cache is on from then). */
  ready: Promise<void>;
  close(): Promise<void>;
}

export function listenForInvalidations(
  url: string,
  members: MemberViewCache,
  programs: ProgramCache,
  onError: (error: unknown) => void = () => {},
): InvalidationListener {
  let client: pg.Client | undefined;
  let closed = false;
  let delay = RECONNECT_DELAY_MS_MIN;
  let timer: NodeJS.Timeout | undefined;
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  const connect = async () => {
    if (closed) return;
    const next = new pg.Client({ connectionString: url });
    const lost = (error?: unknown) => {
      if (error) onError(error);
      members.disable();
      next.removeAllListeners();
      void next.end().catch(() => {});
      if (client === next) client = undefined;
      if (!closed) {
        timer = setTimeout(() => void connect(), delay);
        delay = Math.min(delay * 2, RECONNECT_DELAY_MS_MAX);
      }
    };
    next.on('error', lost);
    next.on('end', () => lost());
    next.on('notification', (message) => {
      if (message.channel !== INVALIDATION_CHANNEL || !message.payload) return;
      if (members.isOwn(message.payload)) return;
      try {
        const change = JSON.parse(message.payload) as { p: string; m?: string[]; v?: number };
        if (change.m) members.invalidate(change.p, change.m);
        if (change.v !== undefined) programs.forgetLatest(change.p);
      } catch (error) {
        onError(error);
      }
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${INVALIDATION_CHANNEL}`);
      client = next;
      delay = RECONNECT_DELAY_MS_MIN;
      members.enable();
      markReady();
    } catch (error) {
      lost(error);
    }
  };
  void connect();

  return {
    ready,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      members.disable();
      const current = client;
      client = undefined;
      current?.removeAllListeners();
      await current?.end().catch(() => {});
    },
  };
}
