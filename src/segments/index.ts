// Segments' members: rule segments are kept on the member rows (each event re-evaluates its
// member's), static segments are lists of member ids imported as CSV, all or nothing.
import { sql, type Kysely } from 'kysely';
import { pageOf, pageSize } from '../db/page.ts';
import type { Database } from '../db/schema.ts';
import { INVALIDATION_CHANNEL, invalidationPayloads } from '../members/cache.ts';
import type { Segment } from '../rules/index.ts';

export const SEGMENT_PAGE_SIZE_MAX = 500;
/** Lines of one import at most (a bigger list goes in several imports with mode=add). */
export const IMPORT_LINES_MAX = 100_000;
/** Errors reported for one import at most; the count says how many there were in all. */
export const IMPORT_ERRORS_MAX = 100;
/** Rows one INSERT writes during an import. */
const IMPORT_CHUNK = 5_000;
const MEMBER_ID = /^[A-Za-z0-9._-]{1,128}$/;
const HEADERS = new Set(['member_id', 'memberid', 'member', 'id']);

export async function listSegmentMembers(
  db: Kysely<Database>,
  programId: string,
  segment: Segment,
  options: { after?: string; limit: number },
): Promise<{ items: string[]; next: string | null }> {
  const limit = pageSize(options.limit, SEGMENT_PAGE_SIZE_MAX);
  const after = options.after ?? '';
  const rows =
    segment.type === 'rule'
      ? await sql<{ id: string }>`
          SELECT id FROM members
          WHERE program_id = ${programId} AND segments @> ARRAY[${segment.id}]::text[] AND id > ${after}
          ORDER BY id LIMIT ${limit + 1}`.execute(db)
      : await sql<{ id: string }>`
          SELECT member_id AS id FROM segment_members
          WHERE program_id = ${programId} AND segment_id = ${segment.id} AND member_id > ${after}
          ORDER BY member_id LIMIT ${limit + 1}`.execute(db);
  const { page, next } = pageOf(rows.rows, limit, (row) => row.id);
  return { items: page.map((row) => row.id), next };
}

export interface ImportLineError {
  line: number;
  detail: string;
}

export type ImportOutcome =
  | {
      status: 'imported';
      lines: number;
      added: number;
      removed: number;
      members: number;
      /** The ids imported (their cached views are stale). */
      ids: string[];
    }
  | { status: 'invalid'; errors: ImportLineError[]; errorCount: number };

/**
 * Parses a CSV list of member ids (one per line, first column; an optional header line) and
 * nothing is stored unless every line is good. `replace` makes the list the segment's whole
 * membership; `add` adds to it.
 */
export function parseMemberCsv(
  text: string,
):
  | { ok: true; ids: string[]; lines: number }
  | { ok: false; errors: ImportLineError[]; errorCount: number } {
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  const errors: ImportLineError[] = [];
  let errorCount = 0;
  const fail = (line: number, detail: string) => {
    errorCount += 1;
    if (errors.length < IMPORT_ERRORS_MAX) errors.push({ line, detail });
  };
  if (lines.length > IMPORT_LINES_MAX) {
    return {
      ok: false,
      errors: [{ line: IMPORT_LINES_MAX + 1, detail: `more than ${IMPORT_LINES_MAX} lines` }],
      errorCount: 1,
    };
  }
  const ids = new Set<string>();
  lines.forEach((raw, index) => {
    const line = index + 1;
    const first =
      raw
        .split(',')[0]
        ?.trim()
        .replace(/^"(.*)"$/, '$1') ?? '';
    if (index === 0 && HEADERS.has(first.toLowerCase().replace(/[\s-]/g, '_'))) return;
    if (first === '') {
      fail(line, 'empty line: one member id per line');
      return;
    }
    if (!MEMBER_ID.test(first)) {
      fail(
        line,
        `"${first.slice(0, 140)}" is not a member id (1-128 characters of A-Z a-z 0-9 . _ -)`,
      );
      return;
    }
    ids.add(first);
  });
  if (errorCount > 0) return { ok: false, errors, errorCount };
  if (ids.size === 0)
    return { ok: false, errors: [{ line: 1, detail: 'no member ids' }], errorCount: 1 };
  return { ok: true, ids: [...ids], lines: lines.length };
}

export async function importStaticSegment(
  db: Kysely<Database>,
  programId: string,
  segmentId: string,
  text: string,
  mode: 'add' | 'replace',
  now: Date,
): Promise<ImportOutcome> {
  const parsed = parseMemberCsv(text);
  if (!parsed.ok)
    return { status: 'invalid', errors: parsed.errors, errorCount: parsed.errorCount };
  return db.transaction().execute(async (trx) => {
    let removedIds: string[] = [];
    if (mode === 'replace') {
      const deleted = await sql<{ member_id: string }>`DELETE FROM segment_members
        WHERE program_id = ${programId} AND segment_id = ${segmentId}
          AND NOT member_id = ANY(${parsed.ids}::text[])
        RETURNING member_id`.execute(trx);
      removedIds = deleted.rows.map((r) => r.member_id);
    }
    const changed = [...parsed.ids, ...removedIds];
    let added = 0;
    for (let start = 0; start < parsed.ids.length; start += IMPORT_CHUNK) {
      const chunk = parsed.ids.slice(start, start + IMPORT_CHUNK);
      const inserted =
        await sql`INSERT INTO segment_members (program_id, segment_id, member_id, added_at)
        SELECT ${programId}, ${segmentId}, id, ${now.toISOString()}::timestamptz FROM unnest(${chunk}::text[]) AS t(id)
        ON CONFLICT DO NOTHING`.execute(trx);
      added += Number(inserted.numAffectedRows ?? 0n);
    }
    // Cached member views of other processes show segments: they drop these members' views.
    await sql`SELECT pg_notify(${INVALIDATION_CHANNEL}, payload)
      FROM unnest(${invalidationPayloads(programId, changed)}::text[]) AS payload`.execute(trx);
    const total = await sql<{ n: string }>`SELECT count(*)::text AS n FROM segment_members
      WHERE program_id = ${programId} AND segment_id = ${segmentId}`.execute(trx);
    return {
      status: 'imported' as const,
      lines: parsed.lines,
      added,
      removed: removedIds.length,
      members: Number(total.rows[0]?.n ?? 0),
      ids: changed,
    };
  });
}
