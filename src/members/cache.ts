// A hot cache of member views (balance, tier, progress) so reads skip the database.
//
// Correctness rests on invalidation, never on time: every transaction that changes a member
// sends `pg_notify('patron_members', …)` (delivered at commit) and the writing process also
// evicts the member itself once it has committed. Each process listens (src/members/
// listener.ts) and evicts what others changed. A read that raced a write cannot re-insert
// a stale view: each key carries a generation, bumped by every eviction, and a view is
// stored only if the generation did not move while it was read. While the listener is not
// connected the cache is bypassed, and it starts empty when the listener (re)connects.
// Entries also name the program version and the local day they were computed for (tier
// windows move at midnight), so a newer version or a new day is a miss.
import { randomBytes } from 'node:crypto';
import type { MemberView } from './index.ts';

export const MEMBER_CACHE_ENTRIES_MAX = 100_000;
/** Member ids per notification: a notification's payload is limited to 8,000 bytes. */
export const NOTIFY_MEMBERS_MAX = 40;
export const INVALIDATION_CHANNEL = 'patron_members';

export interface ReadToken {
  generation: number;
  epoch: number;
}

interface Entry {
  generation: number;
  view?: { version: number; day: string; value: MemberView };
}

export class MemberViewCache {
  private readonly entries = new Map<string, Entry>();
  private enabled: boolean;
  /** Bumped whenever a generation is forgotten (trimmed, cleared), refusing every read in flight. */
  private epoch = 0;
  /**
   * Marks the invalidations of the event path that evicts from this cache: it evicts what it
   * changed itself once it has committed (processEvents), so the listener passes over them
   * instead of parsing and applying each a second time (with batches of events that was
   * 2-3 % of the process's time). Other processes, and earlier versions, ignore the mark.
   */
  readonly origin = randomBytes(6).toString('hex');
  private readonly ownSuffix = `,"o":"${this.origin}"}`;

  constructor(
    /** True where one process owns the database (embedded): no listener is needed. */
    private readonly singleProcess: boolean,
    private readonly entriesMax = MEMBER_CACHE_ENTRIES_MAX,
  ) {
    this.enabled = singleProcess;
  }

  private key(programId: string, memberId: string): string {
    return `${programId}\u0000${memberId}`;
  }

  /** The token to hand back to `set` after reading the member from the database. */
  generation(programId: string, memberId: string): ReadToken {
    return {
      generation: this.entries.get(this.key(programId, memberId))?.generation ?? 0,
      epoch: this.epoch,
    };
  }

  get(programId: string, memberId: string, version: number, day: string): MemberView | undefined {
    if (!this.enabled) return undefined;
    const key = this.key(programId, memberId);
    const entry = this.entries.get(key);
    const view = entry?.view;
    if (!entry || !view || view.version !== version || view.day !== day) return undefined;
    // Refresh its place in the eviction order (least recently used goes first).
    this.entries.delete(key);
    this.entries.set(key, entry);
    return view.value;
  }

  set(
    programId: string,
    memberId: string,
    token: ReadToken,
    version: number,
    day: string,
    value: MemberView,
  ): void {
    if (!this.enabled || token.epoch !== this.epoch) return;
    const key = this.key(programId, memberId);
    const current = this.entries.get(key)?.generation ?? 0;
    if (current !== token.generation) return; // changed while it was being read
    this.entries.delete(key);
    this.entries.set(key, { generation: token.generation, view: { version, day, value } });
    this.trim();
  }

  invalidate(programId: string, memberIds: Iterable<string>): void {
    for (const memberId of memberIds) {
      const key = this.key(programId, memberId);
      const generation = (this.entries.get(key)?.generation ?? 0) + 1;
      this.entries.delete(key);
      this.entries.set(key, { generation });
    }
    this.trim();
  }

  /** Was this invalidation sent by this cache's own event path (see origin)? */
  isOwn(payload: string): boolean {
    return payload.endsWith(this.ownSuffix);
  }

  /** The listener lost its connection: nothing cached can be trusted until it is back. */
  disable(): void {
    if (this.singleProcess) return;
    this.enabled = false;
    this.entries.clear();
    this.epoch += 1;
  }

  enable(): void {
    this.entries.clear();
    this.epoch += 1;
    this.enabled = true;
  }

  get size(): number {
    return this.entries.size;
  }

  private trim(): void {
    while (this.entries.size > this.entriesMax) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      const dropped = this.entries.get(oldest);
      this.entries.delete(oldest);
      // Forgetting a bumped generation could let a read that started before that bump store
      // what it read; refuse all reads in flight instead (rare: only invalidated keys).
      if (dropped && dropped.generation > 0) this.epoch += 1;
    }
  }
}

/**
 * Payloads for pg_notify: `programId` and up to NOTIFY_MEMBERS_MAX member ids each, and last
 * the origin that sent them, when the sender evicts them itself (see MemberViewCache.origin).
 */
export function invalidationPayloads(
  programId: string,
  memberIds: string[],
  origin?: string,
): string[] {
  const payloads: string[] = [];
  for (let i = 0; i < memberIds.length; i += NOTIFY_MEMBERS_MAX) {
    const m = memberIds.slice(i, i + NOTIFY_MEMBERS_MAX);
    payloads.push(
      JSON.stringify(origin === undefined ? { p: programId, m } : { p: programId, m, o: origin }),
    );
  }
  return payloads;
}
