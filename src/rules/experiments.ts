// Deterministic assignment of members to an experiment's groups. A member's bucket is a hash
// of program, experiment and member id, so it is the same in every process and on every
// event, needs no stored assignment, and differs between experiments (a member in the first
// variant of one experiment is not thereby in the first variant of every other).
import { createHash } from 'node:crypto';
import { CONTROL_GROUP, type Experiment } from './document.ts';

/** Buckets per experiment: percents have two decimals. */
export const BUCKETS = 10_000;

/** The member's bucket in [0, BUCKETS): the first 32 bits of a SHA-256, reduced. */
export function experimentBucket(
  programId: string,
  experimentId: string,
  memberId: string,
): number {
  const digest = createHash('sha256')
    .update(`${programId}\u0000${experimentId}\u0000${memberId}`)
    .digest();
  // 2^32 = 429,496 × 10,000 + 7,296: the first 7,296 buckets get one hash value more than the
  // others (429,497 against 429,496), a bias far below any effect an experiment measures.
  return digest.readUInt32BE(0) % BUCKETS;
}

/** The group of a bucket: control takes the first buckets, then each variant in order. */
export function groupOf(experiment: Experiment, bucket: number): string {
  let upper = Math.round(experiment.controlPercent * 100);
  if (bucket < upper) return CONTROL_GROUP;
  for (const variant of experiment.variants) {
    upper += Math.round(variant.percent * 100);
    if (bucket < upper) return variant.id;
  }
  // Validation makes the percents add up to 100, so every bucket has a group.
  return CONTROL_GROUP;
}

/** Whether an event at `at` is in the experiment's window (and the experiment is on). */
export function experimentActive(experiment: Experiment, at: Date): boolean {
  if (experiment.enabled === false) return false;
  const t = at.getTime();
  if (experiment.start !== undefined && t < Date.parse(experiment.start)) return false;
  if (experiment.end !== undefined && t >= Date.parse(experiment.end)) return false;
  return true;
}
