// Re-evaluates every member's rule segments without an event: after a publish that adds or
// changes a segment (existing members would otherwise wait for their next event), and daily,
// for conditions that change with time alone ("no purchase for 90 days").
//
// Members are read in id order, a bounded page at a time, and each page is written in one
// statement that leaves alone any row an event changed since it was read (its xmin moved) or
// holds now (skipped, not waited for): that event computes the member's segments from fresher
// metrics.
import { rowsByKey } from '../db/by-key.ts';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { INVALIDATION_CHANNEL, invalidationPayloads } from '../members/cache.ts';
import type { ProgramCache } from '../programs/index.ts';
import { localTime, metricsOf, statsOfRow } from '../rules/index.ts';

/** The job that re-evaluates one program's rule segments (data: { programId }). */
export const SEGMENTS_REFRESH_JOB = 'segments.refresh';
/** Daily, for conditions on time alone: every program. */
export const SEGMENTS_REFRESH_ALL_JOB = 'segments.refresh-all';
export const SEGMENTS_REFRESH_CRON = '45 2 * * *';
/** Members read and re-evaluated per statement. */
export const REFRESH_PAGE = 1_000;

export interface RefreshOutcome {
  members: number;
  changed: number;
  done: boolean;
}

export async function refreshRuleSegments(
  db: Kysely<Database>,
  programs: ProgramCache,
  programId: string,
  now: Date,
  options: { signal?: AbortSignal; onChanged?: (memberIds: string[]) => void } = {},
): Promise<RefreshOutcome> {
  const { signal } = options;
  const program = await programs.current(db, programId);
  const outcome: RefreshOutcome = { members: 0, changed: 0, done: true };
  if (!program) return outcome;
  if (!(program.document.segments ?? []).some((s) => s.type === 'rule')) {
    // No rule segments: only what an earlier version left on the rows goes.
    const cleared = await sql<{ id: string }>`UPDATE members SET segments = '{}'
      WHERE program_id = ${programId} AND segments <> '{}' RETURNING id`.execute(db);
    outcome.changed = cleared.rows.length;
    if (cleared.rows.length > 0) options.onChanged?.(cleared.rows.map((r) => r.id));
    return outcome;
  }
  const local = localTime(now, program.document.timeZone);
  let after = '';
  for (;;) {
    if (signal?.aborted) return { ...outcome, done: false };
    const page = await sql<{
      id: string;
      xmin: string;
      tier_id: string | null;
      attributes: Record<string, unknown>;
      lifetime_spend: bigint | string;
      lifetime_points: bigint | string;
      event_count: bigint | string;
      first_event_at: Date | null;
      last_event_at: Date | null;
      counters: Record<string, number>;
      segments: string[];
    }>`SELECT id, xmin::text AS xmin, tier_id, attributes, lifetime_spend, lifetime_points, event_count,
        first_event_at, last_event_at, counters, segments
      FROM members WHERE program_id = ${programId} AND id > ${after}
      ORDER BY id LIMIT ${REFRESH_PAGE}`.execute(db);
    if (page.rows.length === 0) return outcome;
    const updates: { id: string; xmin: string; segments: string[] }[] = [];
    for (const row of page.rows) {
      const stats = statsOfRow(row);
      const segments = program
        .segmentsFor({
          event: { id: '', type: '', memberId: row.id, occurredAt: now, attributes: {} },
          member: {
            id: row.id,
            tierId: row.tier_id,
            isNew: false,
            attributes: row.attributes ?? {},
            // Measured from the member's last event to now: the recency of a quiet member grows.
            metrics: metricsOf(stats, program.document, now, row.last_event_at),
          },
          local,
          capUsage: new Map(),
        })
        .sort();
      // Stored segments the version in force no longer has are dropped too.
      if ([...row.segments].sort().join('\u0000') !== segments.join('\u0000'))
        updates.push({ id: row.id, xmin: row.xmin, segments });
    }
    if (updates.length > 0) {
      const written = await sql<{ id: string }>`
        WITH x AS (SELECT * FROM json_to_recordset(${JSON.stringify(updates)}::json) AS t(id text, xmin xid, segments text[]))
        UPDATE members SET segments = x.segments FROM x
        -- Rows an event holds are skipped, not waited for: that event writes fresher
        -- segments, and the pass never waits in a lock order of its own (no deadlock). The
        -- rows of this program are found by key, then by where they are (see rowsByKey).
        WHERE members.ctid = ANY(ARRAY(SELECT m.row_ctid
            FROM ${rowsByKey(
              'members',
              'm',
              programId,
              updates.map((u) => u.id),
              'skip',
            )}))
          AND members.id = x.id AND members.xmin = x.xmin
        RETURNING members.id`.execute(db);
      const ids = written.rows.map((r) => r.id);
      outcome.changed += ids.length;
      if (ids.length > 0) {
        options.onChanged?.(ids);
        await sql`SELECT pg_notify(${INVALIDATION_CHANNEL}, payload)
          FROM unnest(${invalidationPayloads(programId, ids)}::text[]) AS payload`.execute(db);
      }
    }
    outcome.members += page.rows.length;
    after = (page.rows.at(-1) as { id: string }).id;
  }
}
