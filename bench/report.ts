// Turning raw latencies and counts into the figures people read: quantiles, an aligned
// table, a latency histogram drawn in ASCII, and the one-line summary the README quotes.

import { quantileSorted } from './database.ts';

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export function sortedCopy(values: Float64Array): Float64Array {
  return values.slice().sort();
}

export function summarizeLatencies(sorted: Float64Array): LatencySummary {
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    p50: quantileSorted(sorted, 0.5),
    p90: quantileSorted(sorted, 0.9),
    p99: quantileSorted(sorted, 0.99),
    p999: quantileSorted(sorted, 0.999),
    max: sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
  };
}

/** "12.3", or "n/a" for a figure that could not be measured. */
/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

export function whole(value: number): string {
  return Number.isFinite(value) ? String(Math.round(value)) : 'n/a';
}

export function ms(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value < 10 ? `${value.toFixed(2)} ms` : `${value.toFixed(1)} ms`;
}

export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

const BAR_WIDTH_MAX = 50;
const HISTOGRAM_BUCKETS_TARGET = 20;

/** A step of 1, 2 or 5 times a power of ten, at least `raw`. */
function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

/**
 * Linear buckets up to the 99.9th percentile and one overflow bucket for the tail, so one
 * slow outlier does not squash the shape of everything else into a single bar.
 */
export function latencyHistogram(sorted: Float64Array, summary: LatencySummary): string[] {
  if (sorted.length === 0) return ['  (no latencies recorded)'];
  const top = Math.max(summary.p999, 0.01);
  const step = niceStep(top / HISTOGRAM_BUCKETS_TARGET);
  const linearBuckets = Math.max(1, Math.ceil(top / step));
  const counts = new Array<number>(linearBuckets + 1).fill(0);
  for (const v of sorted) {
    const b = Math.min(linearBuckets, Math.floor(v / step));
    counts[b] = (counts[b] ?? 0) + 1;
  }
  const digits = step < 1 ? (step < 0.1 ? 2 : 1) : 0;
  const labels = counts.map((_, b) =>
    b < linearBuckets
      ? `${(b * step).toFixed(digits)}-${((b + 1) * step).toFixed(digits)} ms`
      : `>= ${(linearBuckets * step).toFixed(digits)} ms`,
  );
  const labelWidth = Math.max(...labels.map((l) => l.length));
  const countMax = Math.max(...counts);
  const countWidth = String(countMax).length;
  const bucketOf = (v: number) => Math.min(linearBuckets, Math.floor(v / step));
  const lines: string[] = [];
  for (let b = 0; b < counts.length; b++) {
    const count = counts[b] ?? 0;
    if (b === linearBuckets && count === 0) continue;
    const bar =
      count === 0 ? '' : '#'.repeat(Math.max(1, Math.round((count / countMax) * BAR_WIDTH_MAX)));
    const marks = [
      bucketOf(summary.p50) === b ? 'p50' : '',
      bucketOf(summary.p99) === b ? 'p99' : '',
      b === linearBuckets ? `max ${ms(summary.max)}` : '',
    ].filter(Boolean);
    const percent = ((count / sorted.length) * 100).toFixed(1).padStart(5);
    lines.push(
      `  ${(labels[b] ?? '').padStart(labelWidth)} |${bar.padEnd(BAR_WIDTH_MAX)} ` +
        `${String(count).padStart(countWidth)} ${percent}%${marks.length ? `  <- ${marks.join(', ')}` : ''}`,
    );
  }
  return lines;
}

export interface SummaryFigures {
  openLoopP99Ms: number;
  openLoopRatePerSecond: number;
  singleEventsPerSecond: number;
  singleRatio: number;
  batchEventsPerSecond: number;
  batchRatio: number;
  readsPerSecond: number;
  readsToHealthRatio: number;
  rssMb: number;
  redemptionsPerSecond: number;
  redemptionRatio: number;
  rulesPerSecond: number;
  rulesRatio: number;
  propagationP50Ms: number;
  simulationEvents: number;
  simulationSeconds: number;
}

/** The last line of the run, in the format the README and the issue quote. */
export function summaryLine(f: SummaryFigures): string {
  return (
    `accrual p99 ${fixed(f.openLoopP99Ms, 1)} ms @${whole(f.openLoopRatePerSecond)}/s; ` +
    `single ${whole(f.singleEventsPerSecond)} ev/s (${fixed(f.singleRatio, 1)}x); ` +
    `batch ${whole(f.batchEventsPerSecond)} ev/s (${fixed(f.batchRatio, 1)}x); ` +
    `reads ${whole(f.readsPerSecond)}/s (${fixed(f.readsToHealthRatio, 2)}x health); ` +
    `rss ${whole(f.rssMb)} MB; ` +
    `redeem ${whole(f.redemptionsPerSecond)}/s (${fixed(f.redemptionRatio, 1)}x); ` +
    `rules ${whole(f.rulesPerSecond)} ev/s (${fixed(f.rulesRatio, 1)}x json-rules-engine); ` +
    `publish→2nd process ${fixed(f.propagationP50Ms, 1)} ms; ` +
    `simulation ${whole(f.simulationEvents)} events ${fixed(f.simulationSeconds, 1)} s`
  );
}
