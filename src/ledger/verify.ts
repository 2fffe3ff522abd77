// `patron verify`: re-checks the whole ledger from the postings up. Each check is one
// set-based query, so it runs in seconds on millions of postings; each answers at most
// VIOLATIONS_PER_CHECK_MAX examples.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';

const VIOLATIONS_PER_CHECK_MAX = 100;

export interface Violation {
  check: string;
  detail: string;
}

interface Check {
  name: string;
  query: (programId: string | null) => ReturnType<typeof sql<{ detail: string }>>;
}

const CHECKS: Check[] = [
  {
    name: 'entry-sums-to-zero',
    query: (p) => sql<{ detail: string }>`
      SELECT 'journal entry ' || entry_id || ' sums to ' || sum(amount) AS detail
      FROM postings WHERE (${p}::text IS NULL OR program_id = ${p})
      GROUP BY entry_id HAVING sum(amount) <> 0 LIMIT ${VIOLATIONS_PER_CHECK_MAX}`,
  },
  {
    name: 'entry-has-postings',
    query: (p) => sql<{ detail: string }>`
      SELECT 'journal entry ' || e.id || ' has no postings' AS detail
      FROM journal_entries e WHERE (${p}::text IS NULL OR e.program_id = ${p})
        AND NOT EXISTS (SELECT 1 FROM postings x WHERE x.entry_id = e.id) LIMIT ${VIOLATIONS_PER_CHECK_MAX}`,
  },
  {
    name: 'references-exist',
    query: (p) => sql<{ detail: string }>`
      SELECT r.what || ' names member ' || r.program_id || '/' || r.member_id || ', which does not exist' AS detail
      FROM (
        SELECT 'event ' || id AS what, program_id, member_id FROM events
        UNION ALL SELECT 'journal entry ' || id, program_id, member_id FROM journal_entries
        UNION ALL SELECT 'lot ' || id, program_id, member_id FROM lots
        UNION ALL SELECT 'posting ' || id, program_id, member_id FROM postings WHERE member_id IS NOT NULL
        UNION ALL SELECT 'tier change ' || id, program_id, member_id FROM tier_changes
      ) r
      WHERE (${p}::text IS NULL OR r.program_id = ${p})
        AND NOT EXISTS (SELECT 1 FROM members m WHERE m.program_id = r.program_id AND m.id = r.member_id)
      UNION ALL
      SELECT 'event ' || e.program_id || '/' || e.id || ' names program version ' || e.program_version || ', which does not exist'
      FROM events e
      WHERE (${p}::text IS NULL OR e.program_id = ${p})
        AND NOT EXISTS (SELECT 1 FROM program_versions v WHERE v.program_id = e.program_id AND v.version = e.program_version)
      UNION ALL
      SELECT 'posting ' || x.id || ' names journal entry ' || x.entry_id || ', which does not exist' FROM postings x
      WHERE (${p}::text IS NULL OR x.program_id = ${p})
        AND NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.id = x.entry_id AND e.program_id = x.program_id)
      UNION ALL
      SELECT 'posting ' || x.id || ' names lot ' || x.lot_id || ', which does not exist' FROM postings x
      WHERE (${p}::text IS NULL OR x.program_id = ${p}) AND x.lot_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM lots l WHERE l.id = x.lot_id)
      UNION ALL
      SELECT 'lot ' || l.id || ' names journal entry ' || l.entry_id || ', which does not exist' FROM lots l
      WHERE (${p}::text IS NULL OR l.program_id = ${p})
        AND NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.id = l.entry_id AND e.program_id = l.program_id)
      UNION ALL
      SELECT 'journal entry ' || e.id || ' names event ' || e.event_id || ', which does not exist' FROM journal_entries e
      WHERE (${p}::text IS NULL OR e.program_id = ${p}) AND e.event_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM events v WHERE v.program_id = e.program_id AND v.id = e.event_id)
      UNION ALL
      SELECT 'journal entry ' || e.id || ' corrects entry ' || e.corrects_entry_id || ', which does not exist'
      FROM journal_entries e
      WHERE (${p}::text IS NULL OR e.program_id = ${p}) AND e.corrects_entry_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM journal_entries c WHERE c.id = e.corrects_entry_id AND c.program_id = e.program_id)
      UNION ALL
      SELECT 'refund ' || r.program_id || '/' || r.id || ' refunds event ' || r.refund_of || ', which does not exist'
      FROM events r
      WHERE (${p}::text IS NULL OR r.program_id = ${p}) AND r.refund_of IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM events v WHERE v.program_id = r.program_id AND v.id = r.refund_of)
      UNION ALL
      SELECT 'member ' || m.program_id || '/' || m.id || ' belongs to no program' FROM members m
      WHERE (${p}::text IS NULL OR m.program_id = ${p}) AND NOT EXISTS (SELECT 1 FROM programs x WHERE x.id = m.program_id)
      LIMIT ${VIOLATIONS_PER_CHECK_MAX}`,
  },
  {
    name: 'balance-equals-postings',
    query: (p) => sql<{ detail: string }>`
      WITH sums AS (
        SELECT program_id, member_id,
          coalesce(sum(amount) FILTER (WHERE account = 'available'), 0)::bigint AS available,
          coalesce(sum(amount) FILTER (WHERE account = 'pending'), 0)::bigint AS pending,
          coalesce(sum(amount) FILTER (WHERE account = 'held'), 0)::bigint AS held
        FROM postings WHERE member_id IS NOT NULL AND (${p}::text IS NULL OR program_id = ${p})
        GROUP BY program_id, member_id)
      SELECT 'member ' || m.program_id || '/' || m.id || ' balance (' || m.available || ', ' || m.pending || ', ' || m.held
        || ') differs from its postings (' || coalesce(s.available, 0) || ', ' || coalesce(s.pending, 0) || ', '
        || coalesce(s.held, 0) || ')' AS detail
      FROM members m LEFT JOIN sums s ON s.program_id = m.program_id AND s.member_id = m.id
      WHERE (${p}::text IS NULL OR m.program_id = ${p})
        AND (m.available, m.pending, m.held) IS DISTINCT FROM (coalesce(s.available, 0), coalesce(s.pending, 0), coalesce(s.held, 0))
      LIMIT ${VIOLATIONS_PER_CHECK_MAX}`,
  },
  {
    name: 'lot-equals-postings',
    query: (p) => sql<{ detail: string }>`
      SELECT 'lot ' || l.id || ' has ' || l.remaining || ' remaining but its postings sum to ' || coalesce(s.total, 0) AS detail
      FROM lots l LEFT JOIN (SELECT lot_id, sum(amount)::bigint AS total FROM postings WHERE lot_id IS NOT NULL GROUP BY lot_id) s
        ON s.lot_id = l.id
      WHERE (${p}::text IS NULL OR l.program_id = ${p}) AND l.remaining IS DISTINCT FROM coalesce(s.total, 0)
      LIMIT ${VIOLATIONS_PER_CHECK_MAX}`,
  },
  {
    name: 'lot-account-matches-posting',
    query: (p) => sql<{ detail: string }>`
      SELECT 'posting ' || x.id || ' names lot ' || l.id || ' of another member or account' AS detail
      FROM postings x JOIN lots l ON l.id = x.lot_id
      WHERE (${p}::text IS NULL OR x.program_id = ${p})
        AND (x.member_id <> l.member_id OR x.account <> l.account OR x.program_id <> l.program_id)
      LIMIT ${VIOLATIONS_PER_CHECK_MAX}`,
  },
  {
    name: 'lots-equal-account',
    query: (p) => sql<{ detail: string }>`
      WITH lot_sums AS (
        SELECT program_id, member_id, account, sum(remaining)::bigint AS total FROM lots
        WHERE (${p}::text IS NULL OR program_id = ${p}) GROUP BY program_id, member_id, account),
      debts AS (
        SELECT program_id, member_id, account, sum(amount)::bigint AS total FROM postings
        WHERE lot_id IS NULL AND member_id IS NOT NULL AND account IN ('available', 'pending')
          AND (${p}::text IS NULL OR program_id = ${p})
        GROUP BY program_id, member_id, account)
      SELECT 'member ' || m.program_id || '/' || m.id || ' ' || a.account || ' is ' || a.balance
        || ' but its lots hold ' || coalesce(l.total, 0) || ' and its debt postings ' || coalesce(d.total, 0) AS detail
      FROM members m
      CROSS JOIN LATERAL (VALUES ('available', m.available), ('pending', m.pending)) AS a(account, balance)
      LEFT JOIN lot_sums l ON l.program_id = m.program_id AND l.member_id = m.id AND l.account = a.account
      LEFT JOIN debts d ON d.program_id = m.program_id AND d.member_id = m.id AND d.account = a.account
      WHERE (${p}::text IS NULL OR m.program_id = ${p})
        AND a.balance <> coalesce(l.total, 0) + coalesce(d.total, 0)
      LIMIT ${VIOLATIONS_PER_CHECK_MAX}`,
  },
  {
    name: 'debt-only-without-lots',
    query: (p) => sql<{ detail: string }>`
      SELECT 'member ' || m.program_id || '/' || m.id || ' owes ' || (-m.available) || ' points while lots hold points' AS detail
      FROM members m
      WHERE (${p}::text IS NULL OR m.program_id = ${p}) AND m.available < 0
        AND EXISTS (SELECT 1 FROM lots l WHERE l.program_id = m.program_id AND l.member_id = m.id
          AND l.account = 'available' AND l.remaining > 0)
      LIMIT ${VIOLATIONS_PER_CHECK_MAX}`,
  },
  {
    name: 'negative-balance-allowed',
    query: (p) => sql<{ detail: string }>`
      SELECT 'member ' || m.program_id || '/' || m.id || ' has a negative balance ' || m.available
        || ' but the program forbids negative balances' AS detail
      FROM members m
      JOIN programs pr ON pr.id = m.program_id
      JOIN program_versions v ON v.program_id = pr.id AND v.version = pr.current_version
      WHERE (${p}::text IS NULL OR m.program_id = ${p}) AND m.available < 0
        AND coalesce(v.document #>> '{settings,negativeBalance}', 'allow') = 'forbid'
      LIMIT ${VIOLATIONS_PER_CHECK_MAX}`,
  },
  {
    name: 'event-points-equal-postings',
    query: (p) => sql<{ detail: string }>`
      SELECT 'event ' || ev.program_id || '/' || ev.id || ' says ' || ev.points || ' points but its entries post '
        || coalesce(s.total, 0) AS detail
      FROM events ev
      LEFT JOIN (
        SELECT e.program_id, e.event_id, sum(x.amount)::bigint AS total
        FROM journal_entries e JOIN postings x ON x.entry_id = e.id
        WHERE e.event_id IS NOT NULL AND x.member_id IS NOT NULL GROUP BY e.program_id, e.event_id
      ) s ON s.program_id = ev.program_id AND s.event_id = ev.id
      WHERE (${p}::text IS NULL OR ev.program_id = ${p}) AND ev.points <> coalesce(s.total, 0)
      LIMIT ${VIOLATIONS_PER_CHECK_MAX}`,
  },
];

/** Re-checks every ledger invariant; an empty list means the ledger is sound. */
export async function verifyLedger(
  db: Kysely<Database>,
  programId: string | null = null,
): Promise<Violation[]> {
  const violations: Violation[] = [];
  for (const check of CHECKS) {
    const result = await check.query(programId).execute(db);
    for (const row of result.rows) violations.push({ check: check.name, detail: row.detail });
  }
  return violations;
}
