// The transactional outbox: domain events (points.earned, redemption.held, …) written in the
// same statement as the change they describe, so none is lost between a commit and its
// delivery. The event path writes its own (src/events/write-round.ts, set-based per batch);
// the single-member changes (redemptions, pending points, expiry) end their write statement
// with `memberChangeCtes`.
import { sql } from 'kysely';
import { invalidationPayloads, INVALIDATION_CHANNEL } from '../members/cache.ts';

export interface OutboxMessage {
  type: string;
  data: unknown;
}

export interface Balance {
  available: bigint;
  pending: bigint;
  held: bigint;
}

/**
 * The common table expressions that end a change of one member's points, after its ledger
 * CTEs: the balance row, the change's domain events, and the notice that makes every other
 * process evict the member's cached view when the transaction commits. The statement must
 * select from `notified` (a CTE that is not referenced may not run).
 */
export function memberChangeCtes(
  programId: string,
  memberId: string,
  balance: Balance,
  now: Date,
  messages: OutboxMessage[],
) {
  const at = now.toISOString();
  return sql`written_member AS (
      UPDATE members SET available = ${String(balance.available)}::bigint, pending = ${String(balance.pending)}::bigint,
        held = ${String(balance.held)}::bigint, updated_at = ${at}::timestamptz
      WHERE program_id = ${programId} AND id = ${memberId} RETURNING 1),
    written_outbox AS (
      INSERT INTO outbox (program_id, type, member_id, occurred_at, data)
      SELECT ${programId}, type, ${memberId}, ${at}::timestamptz, data
      FROM json_to_recordset(${JSON.stringify(messages)}::json) AS t(type text, data json)
      RETURNING 1),
    notified AS (
      SELECT pg_notify(${INVALIDATION_CHANNEL}, payload)
      FROM json_array_elements_text(${JSON.stringify(invalidationPayloads(programId, [memberId]))}::json) AS payload)`;
}

/** A balance as JSON numbers, as messages and answers carry it. */
export function wireBalance(b: Balance): { available: number; pending: number; held: number } {
  return { available: Number(b.available), pending: Number(b.pending), held: Number(b.held) };
}
