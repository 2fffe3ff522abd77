// Calling the event path directly (without the HTTP layer or the group committer), as the
// tests of how batches are written do, and reading what it left on a member's row.
import type { EventDeps, WriteCounts } from '../../src/events/index.ts';
import { MemberViewCache } from '../../src/members/cache.ts';
import { ProgramCache } from '../../src/programs/index.ts';
import type { TestApp } from './app.ts';

/** Fresh caches and write counters on the test app's database, or on `db`. */
export function eventDeps(
  t: TestApp,
  db: EventDeps['db'] = t.handle.db,
): EventDeps & { writes: WriteCounts } {
  return {
    db,
    programs: new ProgramCache(),
    now: t.clock.now,
    members: new MemberViewCache(true),
    writes: { checked: 0, locked: 0, deferred: 0 },
  };
}

/** The member's available points, from its balance row. */
export async function availableOf(t: TestApp, programId: string, memberId: string) {
  const row = await t.handle.db
    .selectFrom('members')
    .select('available')
    .where('program_id', '=', programId)
    .where('id', '=', memberId)
    .executeTakeFirstOrThrow();
  return row.available;
}
