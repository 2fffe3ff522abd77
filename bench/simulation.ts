// Simulation of a draft over 1,000,000 past events on PostgreSQL: a fresh database, the retail
// program, a million earning events of 100,000 members over 60 days inserted in SQL (with
// the stored traces a simulation reads), then one simulation of a draft (weekend ×3) against
// the version in force, timed. The baseline, measured in the same run, is reading the same
// events in the same chunks without evaluating them: what is left is the rules' cost.
//
//   npm run bench:simulation                 # 1,000,000 events
//   BENCH_SIMULATION_EVENTS=100000 npm run bench:simulation
//
// `npm run bench` runs it too, as its last phase.
import { sql } from 'kysely';
import { fileURLToPath } from 'node:url';
import { openPostgres } from '../src/db/connect.ts';
import { migrate } from '../src/db/migrate.ts';
import { ProgramCache, createProgram, readProgramVersion } from '../src/programs/index.ts';
import { programTemplate, validateProgramDocument } from '../src/rules/index.ts';
import { createSimulation, readSimulation, runSimulation } from '../src/simulations/index.ts';
import { benchDatabaseName, createBenchDatabase, dropBenchDatabase } from './database.ts';

export const SIMULATION_EVENTS_DEFAULT = 1_000_000;
const MEMBERS_PER_EVENTS = 10;
const INSERT_CHUNK = 100_000;
const PROGRAM = 'bench-simulation';
const FROM = '2026-03-01T00:00:00Z';
const TO = '2026-04-30T00:00:00Z';

export interface SimulationBenchResult {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  readSeconds: number;
  pointsPublished: number;
  pointsDraft: number;
}

export async function runSimulationBench(
  adminUrl: string,
  options: { events?: number; log?: (line: string) => void } = {},
): Promise<SimulationBenchResult> {
  const events = options.events ?? SIMULATION_EVENTS_DEFAULT;
  const log = options.log ?? ((line: string) => console.log(`[bench:simulation] ${line}`));
  const name = benchDatabaseName(new Date());
  const database = await createBenchDatabase(adminUrl, name);
  const handle = openPostgres(database.url, 4);
  try {
    await migrate(handle);
    const db = handle.db;
    const created = await createProgram(db, PROGRAM, programTemplate('retail'), 'bench');
    if (created.status !== 'created') throw new Error(`program: ${created.status}`);
    const members = Math.max(1, Math.floor(events / MEMBERS_PER_EVENTS));
    const insertStarted = performance.now();
    await sql`INSERT INTO members (program_id, id, tier_id, tier_since)
      SELECT ${PROGRAM}, 'm-' || g, 'bronze', ${FROM}::timestamptz FROM generate_series(1, ${members}::int) g`.execute(
      db,
    );
    for (let start = 0; start < events; start += INSERT_CHUNK) {
      const end = Math.min(events, start + INSERT_CHUNK);
      // Spread over 60 days and every hour; amounts 1.00-299.99 EUR; a third electronics.
      await sql`INSERT INTO events (program_id, id, type, member_id, occurred_at, received_at, body_hash, body,
          amount_minor, currency, points, program_version, response, trace)
        SELECT ${PROGRAM}, 'e-' || g, 'purchase', 'm-' || (1 + (g::bigint * 7919) % ${members}::int),
          ${FROM}::timestamptz + ((g::bigint * 5183) % (60 * 86400)) * interval '1 second',
          ${FROM}::timestamptz, 'h', json_build_object('amount', json_build_object('value', a.value, 'currency', 'EUR'),
            'attributes', CASE WHEN g % 3 = 0 THEN json_build_object('category', 'electronics') ELSE '{}'::json END),
          a.minor, 'EUR', a.minor / 100, 1, '{}'::json,
          json_build_object('tier', json_build_object('before', 'bronze'), 'partnerId', 'bench')
        FROM generate_series(${start + 1}::int, ${end}::int) g,
          LATERAL (SELECT 100 + (g::bigint * 104729) % 29900 AS minor) m,
          LATERAL (SELECT m.minor, to_char(m.minor / 100.0, 'FM99990.00') AS value) a`.execute(db);
      log(`inserted ${end} of ${events} events`);
    }
    await sql`ANALYZE events`.execute(db);
    log(
      `${events} events of ${members} members inserted in ${((performance.now() - insertStarted) / 1000).toFixed(1)} s`,
    );

    // Baseline: the same chunked read, nothing evaluated.
    const readStarted = performance.now();
    let after: { at: string; id: string } | null = null;
    let read = 0;
    for (;;) {
      const rows: { rows: { id: string; occurred_at: Date }[] } = await sql<{
        id: string;
        occurred_at: Date;
      }>`SELECT e.id, e.type, e.member_id, e.occurred_at, e.amount_minor, e.body -> 'amount' ->> 'value' AS v,
          e.currency, e.points, e.body -> 'attributes' AS attributes, e.trace ->> 'partnerId' AS p,
          e.trace -> 'tier' ->> 'before' AS t, m.attributes, m.created_at = e.received_at AS n
        FROM events e LEFT JOIN members m ON m.program_id = e.program_id AND m.id = e.member_id
        WHERE e.program_id = ${PROGRAM} AND e.refund_of IS NULL
          AND e.occurred_at >= ${FROM}::timestamptz AND e.occurred_at < ${TO}::timestamptz
          ${after ? sql`AND (e.occurred_at, e.id) > (${after.at}::timestamptz, ${after.id})` : sql``}
        ORDER BY e.occurred_at, e.id LIMIT 5000`.execute(db);
      if (rows.rows.length === 0) break;
      read += rows.rows.length;
      const last = rows.rows.at(-1) as { id: string; occurred_at: Date };
      after = { at: last.occurred_at.toISOString(), id: last.id };
    }
    const readSeconds = (performance.now() - readStarted) / 1000;
    log(`baseline: read ${read} events in chunks of 5000 in ${readSeconds.toFixed(1)} s`);

    const current = await readProgramVersion(db, PROGRAM);
    if (!current) throw new Error('no version');
    const draft = structuredClone(current.document);
    for (const rule of draft.rules)
      if (rule.id === 'weekend' && rule.effect.type === 'multiplier') rule.effect.factor = '3';
    const validated = validateProgramDocument(draft);
    if (!validated.ok) throw new Error('draft invalid');
    const simulation = await createSimulation(
      db,
      PROGRAM,
      {
        draftId: 'drf_BENCH0000000000000000000000',
        document: validated.document,
        baseVersion: current.version,
        from: new Date(FROM),
        to: new Date(TO),
      },
      'bench',
      new Date(),
    );
    const started = performance.now();
    const progress = setInterval(() => {
      void readSimulation(db, PROGRAM, simulation.id).then((s) => {
        if (s) log(`simulating: ${s.eventsDone} of ${s.eventsTotal ?? '?'} events`);
      });
    }, 10_000);
    const status = await runSimulation(db, new ProgramCache(), PROGRAM, simulation.id).finally(() =>
      clearInterval(progress),
    );
    const seconds = (performance.now() - started) / 1000;
    const done = await readSimulation(db, PROGRAM, simulation.id);
    if (status !== 'done' || !done?.result) throw new Error(`simulation ${status}: ${done?.error}`);
    const totals = done.result.totals;
    log(
      `simulation: ${totals.events} events in ${seconds.toFixed(1)} s (${Math.round(totals.events / seconds)} ev/s); ` +
        `published ${totals.published} points, draft ${totals.draft} (${totals.difference >= 0 ? '+' : ''}${totals.difference})`,
    );
    return {
      events: totals.events,
      seconds,
      eventsPerSecond: totals.events / seconds,
      readSeconds,
      pointsPublished: totals.published,
      pointsDraft: totals.draft,
    };
  } finally {
    await handle.close();
    await dropBenchDatabase(adminUrl, name);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const adminUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const text = process.env.BENCH_SIMULATION_EVENTS;
  const events = text ? Number(text) : SIMULATION_EVENTS_DEFAULT;
  if (!Number.isInteger(events) || events < 1)
    throw new Error(`BENCH_SIMULATION_EVENTS must be a positive integer, got "${text}"`);
  const result = await runSimulationBench(adminUrl, { events });
  console.log(
    `simulation ${result.events} events in ${result.seconds.toFixed(1)} s: ${Math.round(result.eventsPerSecond)} ev/s ` +
      `(reading them alone: ${result.readSeconds.toFixed(1)} s, ${(result.seconds / result.readSeconds).toFixed(1)}x)`,
  );
}
