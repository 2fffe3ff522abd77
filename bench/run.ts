// `npm run bench`: Patron's performance on PostgreSQL, measured in one run.
//
//   1. a fresh database patron_bench_<timestamp> on DATABASE_URL's server (dropped at the end,
//      also on failure or Ctrl-C);
//   2. the baseline: sequential one-row autocommit INSERTs on one pg connection, measured
//      again before each phase that is divided by it; the ratios use the median of them all;
//   3. Patron as a child process with the demo program, and a real token from /oauth/token;
//   4. over HTTP, from a load generator in a worker thread: single events open loop at a fixed
//      rate, single events closed loop, batches of 500, member reads and /health;
//   5. a table, a latency histogram, bench/results/latest.json, and as the last line the
//      summary the README quotes.
//
// A run in which any request failed says so in capitals and exits 1: its figures are not
// comparable to a clean run's. BENCH_SECONDS=N runs every measured phase for N seconds.

import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { request } from 'undici';
import {
  benchDatabaseName,
  createBenchDatabase,
  dropBenchDatabase,
  runBaseline,
  type BaselineResult,
} from './database.ts';
import { startLoadGenerator, type LoadGenerator } from './load-client.ts';
import type { PhaseResult, PhaseSpec, Target } from './load-protocol.ts';
import { fetchToken, sampleRss, startPatron, type PatronProcess } from './patron-process.ts';
import {
  fixed,
  latencyHistogram,
  median,
  ms,
  sortedCopy,
  summarizeLatencies,
  summaryLine,
  table,
  whole,
  type LatencySummary,
} from './report.ts';
import { measurePropagation } from './propagation.ts';
import { runRuleBench } from './rules.ts';
import { SIMULATION_EVENTS_DEFAULT, runSimulationBench } from './simulation.ts';
import { parseBenchSettings } from './settings.ts';

const PAUSE_BETWEEN_PHASES_MS = 1_000;
/** Enough for a stable median; json-rules-engine takes about 2 s per round at this size. */
const RULE_BENCH_EVENTS = 5_000;
const SMOKE_TIMEOUT_MS = 10_000;
const RESULTS_FILE = new URL('./results/latest.json', import.meta.url);
const MB = 1024 * 1024;
/** A 1-minute load average above this per core means the machine was not idle. */
const BUSY_LOAD_PER_CORE = 0.5;

const startedAt = performance.now();
function log(message: string): void {
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1).padStart(6);
  console.log(`[${seconds}s] ${message}`);
}

/** Undo steps, run once, newest first, whether the run ends well, badly or by a signal. */
class Cleanup {
  private readonly steps: { name: string; run: () => Promise<void> }[] = [];
  private running: Promise<void> | undefined;

  add(name: string, run: () => Promise<void>): void {
    this.steps.push({ name, run });
  }

  runAll(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) {
        try {
          await step.run();
        } catch (error) {
          console.error(`cleanup: ${step.name} failed: ${(error as Error).message}`);
        }
      }
    })();
    return this.running;
  }
}

interface PhaseFigures {
  result: PhaseResult;
  latency: LatencySummary;
  sortedLatencies: Float64Array;
  itemsPerSecond: number;
  requestsPerSecond: number;
}

function figures(result: PhaseResult): PhaseFigures {
  const sortedLatencies = sortedCopy(result.latenciesMs);
  return {
    result,
    latency: summarizeLatencies(sortedLatencies),
    sortedLatencies,
    itemsPerSecond: result.itemsOk / result.measuredSeconds,
    requestsPerSecond: result.requestsOk / result.measuredSeconds,
  };
}

function failedCount(result: PhaseResult): number {
  const failed = Object.values(result.failuresByStatus).reduce((a, b) => a + b, 0);
  return failed + result.abandoned;
}

function describeFailures(result: PhaseResult): string {
  const byStatus = Object.entries(result.failuresByStatus)
    .map(([status, count]) => `${status === '0' ? 'transport' : status} x${count}`)
    .join(', ');
  const abandoned = result.abandoned ? `, ${result.abandoned} unanswered` : '';
  return `${byStatus}${abandoned}`;
}

/** The reward the redemption phase holds and confirms: 1 point, unlimited stock. */
async function createBenchReward(origin: string, token: string): Promise<string> {
  const res = await request(`${origin}/v1/rewards`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Bench coffee', cost: 1 }),
  });
  const text = await res.body.text();
  if (res.statusCode !== 201) throw new Error(`POST /v1/rewards → ${res.statusCode}: ${text}`);
  return (JSON.parse(text) as { id: string }).id;
}

async function smokeCheck(origin: string, token: string, runId: string): Promise<string[]> {
  // One event and one read before the load, so a broken route shows its answer plainly.
  const problems: string[] = [];
  const event = {
    id: `bench-${runId}-smoke`,
    type: 'purchase',
    memberId: 'm-smoke',
    occurredAt: new Date().toISOString(),
    amount: { value: '12.50', currency: 'EUR' },
    attributes: { category: 'electronics' },
  };
  const timeouts = { headersTimeout: SMOKE_TIMEOUT_MS, bodyTimeout: SMOKE_TIMEOUT_MS };
  const posted = await request(`${origin}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(event),
    ...timeouts,
  });
  const postedBody = await posted.body.text();
  log(`  POST /v1/events → ${posted.statusCode} ${postedBody.slice(0, 300)}`);
  if (posted.statusCode !== 201)
    problems.push(`smoke POST /v1/events → ${posted.statusCode}: ${postedBody.slice(0, 300)}`);
  const read = await request(`${origin}/v1/members/m-smoke`, {
    headers: { authorization: `Bearer ${token}` },
    ...timeouts,
  });
  const readBody = await read.body.text();
  log(`  GET /v1/members/m-smoke → ${read.statusCode} ${readBody.slice(0, 300)}`);
  if (read.statusCode !== 200)
    problems.push(`smoke GET /v1/members/m-smoke → ${read.statusCode}: ${readBody.slice(0, 300)}`);
  return problems;
}

async function runPhase(
  generator: LoadGenerator,
  patron: PatronProcess,
  target: Target,
  phase: PhaseSpec,
  describe: (f: PhaseFigures) => string,
): Promise<PhaseFigures> {
  const shape =
    phase.mode === 'open'
      ? `open loop ${phase.ratePerSecond}/s, up to ${phase.connectionsMax} connections`
      : `closed loop, ${phase.connections} connections`;
  log(`${phase.name}: ${shape}, ${phase.warmupSeconds} s warm-up + ${phase.durationSeconds} s …`);
  const result = await generator.run(target, phase);
  const exit = patron.exitDescription();
  if (exit !== undefined) {
    throw new Error(`Patron ${exit} during ${phase.name}:\n  ${patron.outputTail().join('\n  ')}`);
  }
  const f = figures(result);
  const failed = failedCount(result);
  log(`  ${describe(f)}${failed ? `  — ${failed} FAILED (${describeFailures(result)})` : ''}`);
  log(`  per second: ${result.itemsOkPerSecond.map((n) => whole(n)).join(' ')}`);
  for (const sample of result.errorSamples.slice(0, 2)) log(`  error: ${sample.detail}`);
  await new Promise((resolve) => setTimeout(resolve, PAUSE_BETWEEN_PHASES_MS));
  return f;
}

function phaseJson(f: PhaseFigures) {
  const r = f.result;
  return {
    itemsOk: r.itemsOk,
    itemsFailed: r.itemsFailed,
    requestsOk: r.requestsOk,
    measuredSeconds: r.measuredSeconds,
    itemsPerSecond: Math.round(f.itemsPerSecond),
    requestsPerSecond: Math.round(f.requestsPerSecond),
    latencyMs: {
      p50: round3(f.latency.p50),
      p90: round3(f.latency.p90),
      p99: round3(f.latency.p99),
      p999: round3(f.latency.p999),
      max: round3(f.latency.max),
      mean: round3(f.latency.mean),
    },
    itemsOkPerSecond: r.itemsOkPerSecond,
    failuresByStatus: r.failuresByStatus,
    abandoned: r.abandoned,
    errorSamples: r.errorSamples,
  };
}

/**
 * JSON as Prettier would write it: the repository's format check covers bench/results too
 * (Prettier does not read nested .gitignore files), so a bench run must not break it.
 */
async function formatJson(value: unknown): Promise<string> {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(fileURLToPath(RESULTS_FILE))) ?? {};
  return prettier.format(text, { ...options, parser: 'json' });
}

function withoutPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

function round3(value: number): number | null {
  return Number.isFinite(value) ? Math.round(value * 1000) / 1000 : null;
}

async function main(): Promise<number> {
  const settings = parseBenchSettings(process.env);
  const cleanup = new Cleanup();
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = signal;
    console.error(`\n${signal}: cleaning up …`);
    void cleanup.runAll().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const cpuModel = cpus()[0]?.model ?? 'unknown cpu';
  log(
    `Patron bench — node ${process.version}, ${availableParallelism()} cores (${cpuModel}), ` +
      `${Math.round(totalmem() / MB / 1024)} GB RAM`,
  );

  // Other work on the machine steals the cores this measures; say so rather than hide it.
  const loadAtStart = loadavg()[0] ?? 0;
  const busy = loadAtStart > availableParallelism() * BUSY_LOAD_PER_CORE;
  if (busy) {
    log(
      `WARNING: load average ${loadAtStart.toFixed(2)} on ${availableParallelism()} cores before ` +
        'the run: other processes compete for the CPU and the figures will be low and noisy',
    );
  }

  try {
    // 1. Database.
    const admin = new URL(settings.adminDatabaseUrl);
    const name = benchDatabaseName(new Date());
    log(`database: creating ${name} on ${admin.host} …`);
    const db = await createBenchDatabase(settings.adminDatabaseUrl, name);
    cleanup.add('drop database', async () => {
      await dropBenchDatabase(settings.adminDatabaseUrl, name);
      log(`database: dropped ${name}`);
    });

    // 2. Baseline.
    log(
      `baseline: one-row INSERT per transaction, 1 pg connection, ` +
        `${settings.baseline.warmupSeconds} s warm-up + ${settings.baseline.durationSeconds} s …`,
    );
    const baseline: BaselineResult = await runBaseline(db.url, settings.baseline);
    log(
      `  ${whole(baseline.insertsPerSecond)} inserts/s (p50 ${ms(baseline.latencyMsP50)}, ` +
        `p99 ${ms(baseline.latencyMsP99)}; PostgreSQL ${baseline.serverVersion}, ` +
        `synchronous_commit=${baseline.synchronousCommit}, fsync=${baseline.fsync})`,
    );
    // The baseline is bound by the disk's flush, which on this kind of machine was measured
    // between 3,100 and 5,300 commits/s within the hour: it is measured again right before
    // each phase divided by it, and every ratio uses the median of all its measurements.
    const baselines: BaselineResult[] = [baseline];
    const baselineAgain = async (before: string): Promise<BaselineResult> => {
      const again = await runBaseline(db.url, settings.baselineAgain);
      baselines.push(again);
      log(
        `baseline again, before ${before}: ${whole(again.insertsPerSecond)} inserts/s ` +
          `(p50 ${ms(again.latencyMsP50)}, p99 ${ms(again.latencyMsP99)})`,
      );
      return again;
    };

    // 3. Patron.
    log(`patron: starting node --import tsx ${settings.patronEntry} …`);
    const patron = await startPatron(settings.patronEntry, db.url);
    cleanup.add('stop patron', () => patron.stop());
    const rss = sampleRss(patron.pid);
    let rssResult: { maxBytes: number | null; samples: number } | undefined;
    cleanup.add('stop rss sampling', async () => {
      rssResult ??= rss.stop();
    });
    log(`  ready at ${patron.origin} (pid ${patron.pid})`);
    const token = await fetchToken(patron.origin);
    log(`  token: ${token.length} characters`);
    const runId = Date.now().toString(36);
    const smokeProblems = await smokeCheck(patron.origin, token, runId);

    // 4. Load.
    const generator = startLoadGenerator();
    cleanup.add('stop load generator', () => generator.close());
    const target: Target = {
      origin: patron.origin,
      token,
      memberPoolSize: settings.memberPoolSize,
      runId,
    };
    const open = await runPhase(
      generator,
      patron,
      target,
      { mode: 'open', name: 'a. single events, fixed rate', kind: 'event', ...settings.openLoop },
      (f) =>
        `${f.result.itemsOk} ok; latency from scheduled send: p50 ${ms(f.latency.p50)}, ` +
        `p99 ${ms(f.latency.p99)}, max ${ms(f.latency.max)}`,
    );
    const beforeSingle = await baselineAgain('b');
    const single = await runPhase(
      generator,
      patron,
      target,
      {
        mode: 'closed',
        name: 'b. single events, max rate',
        kind: 'event',
        batchSize: 1,
        ...settings.closedLoop,
      },
      (f) =>
        `${whole(f.itemsPerSecond)} ev/s (${fixed(f.itemsPerSecond / beforeSingle.insertsPerSecond, 2)}x the baseline before it); ` +
        `p50 ${ms(f.latency.p50)}, p99 ${ms(f.latency.p99)}`,
    );
    const beforeBatch = await baselineAgain('c');
    const batch = await runPhase(
      generator,
      patron,
      target,
      {
        mode: 'closed',
        name: `c. batches of ${settings.batches.batchSize}`,
        kind: 'batch',
        ...settings.batches,
      },
      (f) =>
        `${whole(f.itemsPerSecond)} ev/s (${fixed(f.itemsPerSecond / beforeBatch.insertsPerSecond, 2)}x the baseline before it), ` +
        `${fixed(f.requestsPerSecond, 1)} batches/s; batch p50 ${ms(f.latency.p50)}, p99 ${ms(f.latency.p99)}`,
    );
    // Redemptions: a reward of 1 point, held and confirmed by members who earned above.
    target.rewardId = await createBenchReward(patron.origin, token);
    const beforeRedemptions = await baselineAgain('d');
    const redemptions = await runPhase(
      generator,
      patron,
      target,
      {
        mode: 'closed',
        name: 'd. redemptions, hold + confirm',
        kind: 'redemption',
        batchSize: 1,
        ...settings.redemptions,
      },
      (f) =>
        `${whole(f.itemsPerSecond)} /s (${fixed(f.itemsPerSecond / beforeRedemptions.insertsPerSecond, 2)}x the baseline before it); ` +
        `p50 ${ms(f.latency.p50)}, p99 ${ms(f.latency.p99)} for both requests`,
    );
    const reads = await runPhase(
      generator,
      patron,
      target,
      {
        mode: 'closed',
        name: 'e. GET /v1/members/{id}',
        kind: 'member',
        batchSize: 1,
        ...settings.reads,
      },
      (f) =>
        `${whole(f.itemsPerSecond)} reads/s; p50 ${ms(f.latency.p50)}, p99 ${ms(f.latency.p99)}`,
    );
    const health = await runPhase(
      generator,
      patron,
      target,
      { mode: 'closed', name: 'e. GET /health', kind: 'health', batchSize: 1, ...settings.health },
      (f) => `${whole(f.itemsPerSecond)} /s; p50 ${ms(f.latency.p50)}, p99 ${ms(f.latency.p99)}`,
    );
    rssResult ??= rss.stop();

    // A second process on the same database: how fast a publish through the first reaches it.
    log('g. publish → second process: starting another Patron on the same database …');
    const second = await startPatron(settings.patronEntry, db.url);
    cleanup.add('stop second patron', () => second.stop());
    const propagation = await measurePropagation(patron.origin, second.origin, token, runId);
    log(
      `  ${propagation.publishes} publishes: p50 ${ms(propagation.propagationMs.p50)}, ` +
        `max ${ms(propagation.propagationMs.max)} (an event's round trip alone: ` +
        `p50 ${ms(propagation.eventRoundTripMs.p50)}); ${propagation.staleEvents} events evaluated by an older version after a publish answered`,
    );
    await cleanup.runAll();

    // Rule evaluation alone, in this process, with Patron stopped.
    log(`h. rule evaluation: ${RULE_BENCH_EVENTS} events, Patron's engine and json-rules-engine …`);
    const rules = await runRuleBench({ events: RULE_BENCH_EVENTS, log: (l) => log(`  ${l}`) });

    // A draft simulated over a million past events, on a database of its own.
    log(`i. simulation: ${SIMULATION_EVENTS_DEFAULT} events inserted, then one simulation …`);
    const simulation = await runSimulationBench(settings.adminDatabaseUrl, {
      log: (l) => log(`  ${l}`),
    });

    // 5. Report.
    const rssMb = rssResult.maxBytes === null ? Number.NaN : rssResult.maxBytes / MB;
    const baselineRates = baselines.map((b) => b.insertsPerSecond);
    const baselineMedian = median(baselineRates);
    const singleRatio = single.itemsPerSecond / baselineMedian;
    const batchRatio = batch.itemsPerSecond / baselineMedian;
    const readsRatio = reads.itemsPerSecond / health.itemsPerSecond;
    const redemptionRatio = redemptions.itemsPerSecond / baselineMedian;
    const phases = { open, single, batch, redemptions, reads, health };
    const failures = Object.entries(phases).filter(([, f]) => failedCount(f.result) > 0);
    const failedTotal = failures.reduce((sum, [, f]) => sum + failedCount(f.result), 0);

    console.log('');
    const rows: string[][] = [
      [
        'baseline INSERT (pg, 1 conn)',
        `${whole(baselineMedian)} inserts/s`,
        '1.0x',
        `median of ${baselines.length}: ${baselineRates.map((r) => whole(r)).join(', ')} (at the start, before b, c, d); ` +
          `first p50 ${ms(baseline.latencyMsP50)}, p99 ${ms(baseline.latencyMsP99)}`,
      ],
      [
        `events @${settings.openLoop.ratePerSecond}/s open loop`,
        `p99 ${ms(open.latency.p99)}`,
        '',
        `p50 ${ms(open.latency.p50)}, p99.9 ${ms(open.latency.p999)}, max ${ms(open.latency.max)}, ` +
          `${open.result.itemsOk} ok`,
      ],
      [
        `single events, ${settings.closedLoop.connections} conns`,
        `${whole(single.itemsPerSecond)} ev/s`,
        `${fixed(singleRatio, 2)}x`,
        `p50 ${ms(single.latency.p50)}, p99 ${ms(single.latency.p99)}`,
      ],
      [
        `batches of ${settings.batches.batchSize}, ${settings.batches.connections} conns`,
        `${whole(batch.itemsPerSecond)} ev/s`,
        `${fixed(batchRatio, 2)}x`,
        `${fixed(batch.requestsPerSecond, 1)} batches/s, batch p50 ${ms(batch.latency.p50)}, p99 ${ms(batch.latency.p99)}`,
      ],
      [
        `hold + confirm, ${settings.redemptions.connections} conns`,
        `${whole(redemptions.itemsPerSecond)} /s`,
        `${fixed(redemptionRatio, 2)}x`,
        `p50 ${ms(redemptions.latency.p50)}, p99 ${ms(redemptions.latency.p99)} (both requests)`,
      ],
      [
        `GET /v1/members/{id}, ${settings.reads.connections} conns`,
        `${whole(reads.itemsPerSecond)} /s`,
        `${fixed(readsRatio, 2)}x health`,
        `p50 ${ms(reads.latency.p50)}, p99 ${ms(reads.latency.p99)}`,
      ],
      [
        `GET /health, ${settings.health.connections} conns`,
        `${whole(health.itemsPerSecond)} /s`,
        '',
        `p50 ${ms(health.latency.p50)}, p99 ${ms(health.latency.p99)}`,
      ],
      ['Patron RSS, max', `${whole(rssMb)} MB`, '', `${rssResult.samples} samples`],
      [
        `publish → 2nd process (${propagation.publishes}×)`,
        `p50 ${ms(propagation.propagationMs.p50)}`,
        `${fixed(propagation.propagationMs.p50 / propagation.eventRoundTripMs.p50, 1)}x event`,
        `max ${ms(propagation.propagationMs.max)}; one event round trip p50 ${ms(propagation.eventRoundTripMs.p50)}`,
      ],
      [
        `simulation of ${whole(simulation.events)} events`,
        `${fixed(simulation.seconds, 1)} s`,
        `${fixed(simulation.seconds / simulation.readSeconds, 1)}x read`,
        `${whole(simulation.eventsPerSecond)} ev/s; reading the same events alone ${fixed(simulation.readSeconds, 1)} s`,
      ],
      [
        `rules: ${rules.rules} per event, 1 core`,
        `${whole(rules.patronPerSecond)} ev/s`,
        `${fixed(rules.ratio, 1)}x`,
        `json-rules-engine on the same rules and events: ${whole(rules.baselinePerSecond)} ev/s`,
      ],
    ];
    for (const line of table(['measure', 'result', 'ratio', 'details'], rows)) console.log(line);
    const lag = summarizeLatencies(sortedCopy(open.result.sendLagMs));
    console.log('');
    console.log(
      `Open-loop latency at ${settings.openLoop.ratePerSecond}/s, from scheduled send to answer ` +
        `(${open.latency.count} requests; generator send lag p99 ${ms(lag.p99)}):`,
    );
    for (const line of latencyHistogram(open.sortedLatencies, open.latency)) console.log(line);
    console.log('');

    const problems = [
      ...smokeProblems,
      ...failures.map(
        ([key, f]) => `${key}: ${failedCount(f.result)} failed (${describeFailures(f.result)})`,
      ),
      ...failures.flatMap(([, f]) => f.result.errorSamples.slice(0, 3).map((s) => `  ${s.detail}`)),
    ];
    const line = summaryLine({
      openLoopP99Ms: open.latency.p99,
      openLoopRatePerSecond: settings.openLoop.ratePerSecond,
      singleEventsPerSecond: single.itemsPerSecond,
      singleRatio,
      batchEventsPerSecond: batch.itemsPerSecond,
      batchRatio,
      readsPerSecond: reads.itemsPerSecond,
      readsToHealthRatio: readsRatio,
      rssMb,
      redemptionsPerSecond: redemptions.itemsPerSecond,
      redemptionRatio,
      rulesPerSecond: rules.patronPerSecond,
      rulesRatio: rules.ratio,
      propagationP50Ms: propagation.propagationMs.p50,
      simulationEvents: simulation.events,
      simulationSeconds: simulation.seconds,
    });

    mkdirSync(new URL('.', RESULTS_FILE), { recursive: true });
    const json = {
      generatedAt: new Date().toISOString(),
      command: 'npm run bench',
      valid: problems.length === 0,
      problems,
      machine: {
        node: process.version,
        platform: `${process.platform} ${process.arch}`,
        cores: availableParallelism(),
        cpu: cpuModel,
        memoryGb: Math.round(totalmem() / MB / 1024),
        loadAverageAtStart: Math.round(loadAtStart * 100) / 100,
        loadAverageAtEnd: Math.round((loadavg()[0] ?? 0) * 100) / 100,
      },
      postgres: {
        version: baseline.serverVersion,
        synchronousCommit: baseline.synchronousCommit,
        fsync: baseline.fsync,
      },
      settings: { ...settings, adminDatabaseUrl: withoutPassword(settings.adminDatabaseUrl) },
      baseline: {
        insertsPerSecond: Math.round(baselineMedian),
        windows: baselines.map((b) => ({
          insertsPerSecond: Math.round(b.insertsPerSecond),
          inserts: b.inserts,
          latencyMsP50: round3(b.latencyMsP50),
          latencyMsP99: round3(b.latencyMsP99),
        })),
      },
      openLoop: {
        ratePerSecond: settings.openLoop.ratePerSecond,
        ...phaseJson(open),
        sendLagMsP99: round3(lag.p99),
      },
      single: { ...phaseJson(single), ratioToBaseline: round3(singleRatio) },
      batch: {
        batchSize: settings.batches.batchSize,
        ...phaseJson(batch),
        ratioToBaseline: round3(batchRatio),
      },
      redemptions: { ...phaseJson(redemptions), ratioToBaseline: round3(redemptionRatio) },
      reads: { ...phaseJson(reads), ratioToHealth: round3(readsRatio) },
      health: phaseJson(health),
      propagation: {
        publishes: propagation.publishes,
        msP50: round3(propagation.propagationMs.p50),
        msMax: round3(propagation.propagationMs.max),
        eventRoundTripMsP50: round3(propagation.eventRoundTripMs.p50),
        staleEvents: propagation.staleEvents,
      },
      simulation: {
        events: simulation.events,
        seconds: round3(simulation.seconds),
        eventsPerSecond: Math.round(simulation.eventsPerSecond),
        readSeconds: round3(simulation.readSeconds),
      },
      rules: {
        rules: rules.rules,
        events: rules.events,
        patronPerSecond: Math.round(rules.patronPerSecond),
        jsonRulesEnginePerSecond: Math.round(rules.baselinePerSecond),
        ratio: round3(rules.ratio),
      },
      rss: {
        mbMax: rssResult.maxBytes === null ? null : Math.round(rssMb),
        samples: rssResult.samples,
      },
      summaryLine: line,
    };
    writeFileSync(RESULTS_FILE, await formatJson(json));
    console.log(`figures written to bench/results/latest.json`);

    if (busy) {
      console.log(
        `note: the machine was busy (load average ${loadAtStart.toFixed(2)} at start); rerun on an idle machine for the README`,
      );
    }
    if (problems.length > 0) {
      const bang = '!'.repeat(78);
      console.log(bang);
      console.log(
        `!!! THIS RUN HAD ERRORS (${failedTotal} failed requests or items): its figures are NOT valid`,
      );
      for (const p of problems) console.log(`!!! ${p}`);
      console.log(bang);
    }
    console.log(line);
    return problems.length > 0 ? 1 : 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`\nBENCH FAILED: ${interrupted ? `interrupted by ${interrupted}` : message}`);
    await cleanup.runAll();
    return 1;
  } finally {
    await cleanup.runAll();
  }
}

process.exitCode = await main();
