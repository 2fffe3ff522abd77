// The bench database's life cycle and the baseline every Patron figure is divided by: the
// rate of one-row INSERTs, one per transaction (autocommit), sequential, on one connection.
// That is what one durable commit costs on this machine; Patron beats it only by putting
// several events into one commit (group commit, batches).

import pg from 'pg';
import type { PhaseTiming } from './settings.ts';

export interface BenchDatabase {
  name: string;
  url: string;
}

export interface BaselineResult {
  insertsPerSecond: number;
  inserts: number;
  durationSeconds: number;
  latencyMsP50: number;
  latencyMsP99: number;
  serverVersion: string;
  synchronousCommit: string;
  fsync: string;
}

const CONNECT_TIMEOUT_MS = 10_000;
const STATEMENT_TIMEOUT_MS = 30_000;
/** A bound on the loop besides its duration; no machine commits this fast. */
const BASELINE_INSERTS_MAX = 10_000_000;
const PAYLOAD = JSON.stringify({
  id: 'evt-00000000-0000-0000-0000-000000000000',
  type: 'purchase',
  memberId: 'm-12345',
  amount: { value: '12.50', currency: 'EUR' },
  attributes: { category: 'electronics' },
});

function client(url: string): pg.Client {
  return new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    application_name: 'patron-bench',
  });
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function benchDatabaseName(now: Date): string {
  // patron_bench_20250612t143012123: sortable, unique per millisecond, a valid identifier.
  const stamp = now
    .toISOString()
    .replace(/[-:.Z]/g, '')
    .toLowerCase();
  return `patron_bench_${stamp}`;
}

export async function createBenchDatabase(adminUrl: string, name: string): Promise<BenchDatabase> {
  const admin = client(adminUrl);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${quoteIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

export async function dropBenchDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = client(adminUrl);
  await admin.connect();
  try {
    // FORCE (PostgreSQL 13+) ends sessions a killed Patron may have left behind.
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

export async function runBaseline(url: string, timing: PhaseTiming): Promise<BaselineResult> {
  const db = client(url);
  await db.connect();
  try {
    const settings = await db.query<{ version: string; sc: string; fsync: string }>(
      `SELECT current_setting('server_version') AS version,
              current_setting('synchronous_commit') AS sc,
              current_setting('fsync') AS fsync`,
    );
    await db.query(
      'CREATE TABLE IF NOT EXISTS bench_baseline (id bigserial PRIMARY KEY, payload text NOT NULL)',
    );
    const insert = {
      name: 'bench_baseline_insert',
      text: 'INSERT INTO bench_baseline (payload) VALUES ($1)',
      values: [PAYLOAD],
    };

    const start = performance.now();
    const measureFrom = start + timing.warmupSeconds * 1000;
    const end = measureFrom + timing.durationSeconds * 1000;
    const latenciesMs: number[] = [];
    let now = start;
    for (let i = 0; i < BASELINE_INSERTS_MAX && now < end; i++) {
      const sent = now;
      await db.query(insert);
      now = performance.now();
      if (sent >= measureFrom) latenciesMs.push(now - sent);
    }
    const measuredSeconds = (now - measureFrom) / 1000;
    latenciesMs.sort((a, b) => a - b);
    const row = settings.rows[0];
    return {
      insertsPerSecond: latenciesMs.length / measuredSeconds,
      inserts: latenciesMs.length,
      durationSeconds: measuredSeconds,
      latencyMsP50: quantileSorted(latenciesMs, 0.5),
      latencyMsP99: quantileSorted(latenciesMs, 0.99),
      serverVersion: row?.version ?? 'unknown',
      synchronousCommit: row?.sc ?? 'unknown',
      fsync: row?.fsync ?? 'unknown',
    };
  } finally {
    await db.end();
  }
}

/** Nearest-rank quantile of an ascending array; NaN when empty. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}
