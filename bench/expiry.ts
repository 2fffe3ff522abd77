// `npm run bench:expiry`: the expiry job over a million due lots on PostgreSQL.
//
// Creates a fresh database patron_bench_<timestamp> on DATABASE_URL's server (default
// postgres://postgres@127.0.0.1:5432/postgres), migrates it, and bulk-inserts
// BENCH_EXPIRY_LOTS lots (default 1,000,000) over a tenth as many members, all past their
// expiry, each with its earn entry and two postings and the members' balance rows, so the
// ledger verifies before and after. It then measures, in the same run:
//   - baseline 1: one-row INSERT per transaction (bench/database.ts): what a commit costs;
//   - baseline 2: one plain `UPDATE … SET remaining = 0` over a copy of the same lots: the
//     set-based floor, with no ledger, no locks, no outbox;
//   - runExpiry until done: time and lots/s, with progress;
// and checks the ledger (`verify`) at the end. The database is dropped at the end, also on
// failure or Ctrl-C. BENCH_EXPIRY_MEMBERS_PER_TRANSACTION (default 100, runExpiry's own)
// sets how many members one expiry transaction locks.
import { sql } from 'kysely';
import { openPostgres } from '../src/db/connect.ts';
import { migrate } from '../src/db/migrate.ts';
import { runExpiry } from '../src/expiry/index.ts';
import { verifyLedger } from '../src/ledger/index.ts';
import { ProgramCache, createProgram } from '../src/programs/index.ts';
import { programTemplate } from '../src/rules/index.ts';
import {
  benchDatabaseName,
  createBenchDatabase,
  dropBenchDatabase,
  runBaseline,
} from './database.ts';

const LOTS_DEFAULT = 1_000_000;
const LOTS_PER_MEMBER = 10;
/** Lots inserted per statement group (one transaction each), for progress and bounded WAL. */
const INSERT_CHUNK_LOTS = 100_000;
const PROGRESS_INTERVAL_MS = 5_000;
const PROGRAM = 'bench';

function positiveInteger(name: string, fallback: number, minimum = LOTS_PER_MEMBER): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < minimum) {
    throw new Error(`${name} must be an integer of at least ${minimum}, got "${text}"`);
  }
  return value;
}

function log(line: string): void {
  console.log(`[bench:expiry] ${line}`);
}

async function main(): Promise<number> {
  const adminUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const lots = positiveInteger('BENCH_EXPIRY_LOTS', LOTS_DEFAULT);
  const members = Math.ceil(lots / LOTS_PER_MEMBER);
  // 1 measures the one-member-per-transaction variant against the batched default.
  const perTransaction = positiveInteger('BENCH_EXPIRY_MEMBERS_PER_TRANSACTION', 0, 1);
  const name = benchDatabaseName(new Date());
  const database = await createBenchDatabase(adminUrl, name);
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await dropBenchDatabase(adminUrl, name);
  };
  const onSignal = () => {
    void drop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  const handle = openPostgres(database.url, 4);
  try {
    await migrate(handle);
    const document = programTemplate('retail');
    document.settings = {
      ...document.settings,
      expiry: { policy: { type: 'lot', months: 12 }, warningDays: 30 },
    };
    const created = await createProgram(handle.db, PROGRAM, document, 'bench');
    if (created.status !== 'created') throw new Error(`program: ${JSON.stringify(created)}`);

    // Earned 13 months before `now`, expired a month ago: every lot is due.
    const now = new Date();
    const earnedAt = new Date(now.getTime() - 395 * 86_400_000).toISOString();
    const expiresAt = new Date(now.getTime() - 30 * 86_400_000).toISOString();
    log(`database ${name}: inserting ${lots} lots over ${members} members…`);
    const insertStarted = performance.now();
    await sql`INSERT INTO members (program_id, id, created_at, updated_at, available)
      SELECT ${PROGRAM}, 'm' || lpad(g::text, 7, '0'), ${earnedAt}::timestamptz, ${earnedAt}::timestamptz, 0
      FROM generate_series(1, ${members}) AS g`.execute(handle.db);
    // Ids are given explicitly (entry = lot = n) and the sequences moved past them at the end.
    for (let from = 1; from <= lots; from += INSERT_CHUNK_LOTS) {
      const to = Math.min(lots, from + INSERT_CHUNK_LOTS - 1);
      const member = sql`'m' || lpad((((g - 1) / ${LOTS_PER_MEMBER}) + 1)::text, 7, '0')`;
      await handle.db.transaction().execute(async (trx) => {
        await sql`INSERT INTO journal_entries (id, program_id, member_id, kind, program_version, effective_at)
          SELECT g, ${PROGRAM}, ${member}, 'earn', 1, ${earnedAt}::timestamptz
          FROM generate_series(${from}::bigint, ${to}::bigint) AS g`.execute(trx);
        await sql`INSERT INTO lots (id, program_id, member_id, account, entry_id, earned_at, expires_at, amount, remaining)
          SELECT g, ${PROGRAM}, ${member}, 'available', g, ${earnedAt}::timestamptz, ${expiresAt}::timestamptz, 10, 10
          FROM generate_series(${from}::bigint, ${to}::bigint) AS g`.execute(trx);
        await sql`INSERT INTO postings (entry_id, program_id, member_id, account, amount, lot_id)
          SELECT g, ${PROGRAM}, ${member}, 'available', 10, g FROM generate_series(${from}::bigint, ${to}::bigint) AS g
          UNION ALL
          SELECT g, ${PROGRAM}, NULL, 'issued', -10, NULL FROM generate_series(${from}::bigint, ${to}::bigint) AS g`.execute(
          trx,
        );
      });
      log(`  ${to} lots inserted (${((performance.now() - insertStarted) / 1000).toFixed(1)} s)`);
    }
    await sql`UPDATE members m SET available = s.total
      FROM (SELECT member_id, sum(remaining)::bigint AS total FROM lots GROUP BY member_id) s
      WHERE m.program_id = ${PROGRAM} AND m.id = s.member_id`.execute(handle.db);
    await sql`SELECT setval('journal_entry_ids', ${lots}::bigint), setval('lot_ids', ${lots}::bigint)`.execute(
      handle.db,
    );
    await sql`ANALYZE`.execute(handle.db);
    log(`inserted in ${((performance.now() - insertStarted) / 1000).toFixed(1)} s`);

    log('baseline 1: one-row INSERT per transaction, 1 s warm-up + 5 s…');
    const baseline = await runBaseline(database.url, { warmupSeconds: 1, durationSeconds: 5 });
    log(
      `  ${baseline.insertsPerSecond.toFixed(0)} inserts/s (PostgreSQL ${baseline.serverVersion}, synchronous_commit ${baseline.synchronousCommit}, fsync ${baseline.fsync})`,
    );

    log('baseline 2: one UPDATE lots SET remaining = 0 over a copy of the same lots…');
    await sql`CREATE TABLE bench_lots_copy AS SELECT * FROM lots WHERE program_id = ${PROGRAM}`.execute(
      handle.db,
    );
    const updateStarted = performance.now();
    const updated = await sql`UPDATE bench_lots_copy SET remaining = 0 WHERE remaining > 0`.execute(
      handle.db,
    );
    const updateSeconds = (performance.now() - updateStarted) / 1000;
    const updateRate = Number(updated.numAffectedRows ?? 0n) / updateSeconds;
    log(
      `  ${updated.numAffectedRows} lots in ${updateSeconds.toFixed(2)} s: ${updateRate.toFixed(0)} lots/s`,
    );
    await sql`DROP TABLE bench_lots_copy`.execute(handle.db);

    log('runExpiry until done…');
    const programs = new ProgramCache();
    const totals = { members: 0, lots: 0, points: 0n };
    const started = performance.now();
    let lastReport = started;
    for (let done = false; !done;) {
      const base = { ...totals };
      const result = await runExpiry(handle.db, programs, PROGRAM, now, {
        ...(perTransaction > 0 ? { membersPerTransaction: perTransaction } : {}),
        onProgress: (p) => {
          const at = performance.now();
          if (at - lastReport < PROGRESS_INTERVAL_MS) return;
          lastReport = at;
          const expired = base.lots + p.lots;
          const seconds = (at - started) / 1000;
          log(
            `  ${expired} lots of ${base.members + p.members} members (${seconds.toFixed(1)} s, ${(expired / seconds).toFixed(0)} lots/s)`,
          );
        },
      });
      totals.members += result.members;
      totals.lots += result.lots;
      totals.points += result.points;
      done = result.done;
    }
    const seconds = (performance.now() - started) / 1000;
    const rate = totals.lots / seconds;
    if (totals.lots !== lots) throw new Error(`expired ${totals.lots} lots, expected ${lots}`);

    log('verify…');
    const verifyStarted = performance.now();
    const violations = await verifyLedger(handle.db, PROGRAM);
    const verifySeconds = (performance.now() - verifyStarted) / 1000;
    if (violations.length > 0) {
      for (const v of violations.slice(0, 10)) log(`  VIOLATION ${v.check}: ${v.detail}`);
      throw new Error(`${violations.length} ledger violations after the expiry`);
    }
    log(`  no violations (${verifySeconds.toFixed(1)} s)`);
    console.log(
      `expiry ${totals.lots} lots of ${totals.members} members in ${seconds.toFixed(1)} s: ${rate.toFixed(0)} lots/s ` +
        `(${(rate / updateRate).toFixed(3)}x a plain UPDATE of the same lots, ${updateRate.toFixed(0)} lots/s); ` +
        `one-row commits ${baseline.insertsPerSecond.toFixed(0)}/s`,
    );
    return 0;
  } finally {
    await handle.close();
    await drop();
    process.off('SIGINT', onSignal);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
