// The benchmark's settings, read once from the environment (bench/ is allowed to read
// process.env; Patron's own code reads it only in src/config.ts).
//
// BENCH_SECONDS shortens (or lengthens) every measured phase to that many seconds, so a
// smoke run is `BENCH_SECONDS=2 npm run bench`. Warm-ups shrink with it.

export interface PhaseTiming {
  warmupSeconds: number;
  durationSeconds: number;
}

export interface BenchSettings {
  adminDatabaseUrl: string;
  baseline: PhaseTiming;
  /** The baseline measured again before each phase divided by it (see bench/run.ts). */
  baselineAgain: PhaseTiming;
  openLoop: PhaseTiming & { ratePerSecond: number; connectionsMax: number };
  closedLoop: PhaseTiming & { connections: number };
  batches: PhaseTiming & { connections: number; batchSize: number };
  reads: PhaseTiming & { connections: number };
  redemptions: PhaseTiming & { connections: number };
  health: PhaseTiming & { connections: number };
  memberPoolSize: number;
  /** The server's entry point, relative to the repository root (BENCH_PATRON_ENTRY). */
  patronEntry: string;
}

const DEFAULT_ADMIN_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const BENCH_SECONDS_MAX = 600;

function timing(warmupSeconds: number, durationSeconds: number, override: number | undefined) {
  if (override === undefined) return { warmupSeconds, durationSeconds };
  // Warm-ups stay at most their default and at most a fifth of the shortened phase.
  return {
    warmupSeconds: Math.min(warmupSeconds, Math.max(0.2, override / 5)),
    durationSeconds: override,
  };
}

export function parseBenchSettings(env: Record<string, string | undefined>): BenchSettings {
  const adminDatabaseUrl = env['DATABASE_URL']?.trim() || DEFAULT_ADMIN_DATABASE_URL;
  if (!/^postgres(ql)?:\/\//.test(adminDatabaseUrl)) {
    throw new Error('DATABASE_URL: expected a postgres:// or postgresql:// URL');
  }
  const host = new URL(adminDatabaseUrl).hostname;
  if (!isLoopback(host)) {
    // The benchmark creates and drops databases: keep it on this machine.
    throw new Error(`DATABASE_URL: the benchmark only talks to loopback hosts, got "${host}"`);
  }

  let seconds: number | undefined;
  const secondsText = env['BENCH_SECONDS']?.trim();
  if (secondsText) {
    seconds = Number(secondsText);
    if (!Number.isFinite(seconds) || seconds < 0.5 || seconds > BENCH_SECONDS_MAX) {
      throw new Error(
        `BENCH_SECONDS: expected a number of seconds 0.5-${BENCH_SECONDS_MAX}, got "${secondsText}"`,
      );
    }
  }

  return {
    adminDatabaseUrl,
    baseline: timing(1, 5, seconds),
    baselineAgain: timing(0.5, 3, seconds),
    // Latency and reads are measured in steady state: Patron has just started when the open
    // loop begins (measured: its p99 falls from about 80 ms to about 30 ms over the first
    // five seconds at 500/s while V8 compiles the hot path), and the read phase starts
    // with the member cache emptied by the writes before it (2,000 misses to refill).
    openLoop: { ...timing(5, 10, seconds), ratePerSecond: 500, connectionsMax: 256 },
    closedLoop: { ...timing(1, 10, seconds), connections: 64 },
    batches: { ...timing(1, 10, seconds), connections: 4, batchSize: 500 },
    reads: { ...timing(3, 5, seconds), connections: 64 },
    redemptions: { ...timing(1, 5, seconds), connections: 16 },
    health: { ...timing(3, 5, seconds), connections: 64 },
    memberPoolSize: 20_000,
    // Overridable to bench another entry point (or a stand-in while testing the bench).
    patronEntry: env['BENCH_PATRON_ENTRY']?.trim() || 'src/main.ts',
  };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\./.test(host);
}
