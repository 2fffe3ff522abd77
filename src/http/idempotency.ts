// Idempotency-Key for POSTs other than events (API.md, as Stripe): the key, with a hash of
// the request, is stored with the answer in the same transaction as the change it answers.
// The same key and request replays the stored answer with `Idempotent-Replayed: true`; the
// same key with another request (or on another operation) is 409 `idempotency-conflict`.
//
// Two requests with one key at once: the second's INSERT of the key waits for the first's
// transaction; when that commits, the second rolls its own work back and replays the
// first's answer. An answer of 5xx is never stored (its transaction rolled back), so a retry
// runs again.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Database } from '../db/schema.ts';
import { bodyHash } from '../events/index.ts';
import { problem, sendProblem, type ProblemDocument } from './problems.ts';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const IDEMPOTENCY_KEY_LENGTH_MAX = 255;
/** Printable ASCII without spaces at the ends: what clients put in a header. */
const KEY_PATTERN = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

export interface Answer {
  status: number;
  body: unknown;
}

class KeyTaken extends Error {}

/** The answer of a domain outcome that refused the request: stored like any other. */
export function problemAnswer(doc: ProblemDocument): Answer {
  return { status: doc.status, body: doc };
}

/**
 * Runs `work` in a transaction that also records its answer under the request's
 * Idempotency-Key, or replays the answer recorded before. Without a key, `work` runs in a
 * transaction of its own (or, when `required`, the request is refused with 400).
 */
export async function idempotent(
  db: Kysely<Database>,
  request: FastifyRequest,
  reply: FastifyReply,
  options: { programId: string; operation: string; required: boolean },
  work: (trx: Transaction<Database>) => Promise<Answer>,
): Promise<FastifyReply> {
  const header = request.headers[IDEMPOTENCY_HEADER];
  const key = Array.isArray(header) ? header[0] : header;
  if (key === undefined) {
    if (options.required) {
      return sendProblem(
        reply,
        problem('validation-failed', '1 field is invalid', [
          {
            pointer: '/headers/idempotency-key',
            detail:
              'Idempotency-Key is required: a unique string per intended operation, reused only to retry it',
          },
        ]),
      );
    }
    return send(reply, await db.transaction().execute(work), false);
  }
  if (key.length > IDEMPOTENCY_KEY_LENGTH_MAX || !KEY_PATTERN.test(key)) {
    return sendProblem(
      reply,
      problem('validation-failed', '1 field is invalid', [
        {
          pointer: '/headers/idempotency-key',
          detail: `Idempotency-Key must be 1-${IDEMPOTENCY_KEY_LENGTH_MAX} printable ASCII characters`,
        },
      ]),
    );
  }
  // The request is its path (which names the resource) and its body.
  const requestHash = bodyHash({ path: request.url.split('?')[0], body: request.body ?? null });
  const stored = await lookup(db, options.programId, key);
  if (stored) return replay(reply, stored, options.operation, requestHash);
  try {
    const answer = await db.transaction().execute(async (trx) => {
      const result = await work(trx);
      if (result.status >= 500) return result;
      const inserted = await sql<{ key: string }>`
        INSERT INTO idempotency_keys (program_id, key, operation, request_hash, status, response, created_at)
        VALUES (${options.programId}, ${key}, ${options.operation}, ${requestHash}, ${result.status},
          ${JSON.stringify(result.body)}::json, now())
        ON CONFLICT (program_id, key) DO NOTHING RETURNING key`.execute(trx);
      // Another request with this key committed first: undo this one, answer as it did.
      if (inserted.rows.length === 0) throw new KeyTaken();
      return result;
    });
    return send(reply, answer, false);
  } catch (error) {
    if (!(error instanceof KeyTaken)) throw error;
    const first = await lookup(db, options.programId, key);
    if (!first) throw new Error(`idempotency key ${key} vanished`, { cause: error });
    return replay(reply, first, options.operation, requestHash);
  }
}

interface StoredAnswer extends Answer {
  operation: string;
  requestHash: string;
}

async function lookup(
  db: Kysely<Database>,
  programId: string,
  key: string,
): Promise<StoredAnswer | undefined> {
  const row = await db
    .selectFrom('idempotency_keys')
    .select(['operation', 'request_hash', 'status', 'response'])
    .where('program_id', '=', programId)
    .where('key', '=', key)
    .executeTakeFirst();
  return row
    ? {
        operation: row.operation,
        requestHash: row.request_hash,
        status: row.status,
        body: row.response,
      }
    : undefined;
}

function replay(
  reply: FastifyReply,
  stored: StoredAnswer,
  operation: string,
  requestHash: string,
): FastifyReply {
  if (stored.operation !== operation || stored.requestHash !== requestHash) {
    return sendProblem(
      reply,
      problem(
        'idempotency-conflict',
        stored.operation !== operation
          ? `this Idempotency-Key was used for ${stored.operation}`
          : 'this Idempotency-Key was used with a different request',
      ),
    );
  }
  return send(reply, stored, true);
}

/** Sends an answer as it was (or would be) stored. */
export function send(reply: FastifyReply, answer: Answer, replayed = false): FastifyReply {
  if (replayed) reply.header('idempotent-replayed', 'true');
  if (answer.status >= 400) reply.type('application/problem+json');
  return reply.code(answer.status).send(answer.body);
}

/** Stored answers are kept at least this long (API.md asks for 24 hours), then purged. */
export const IDEMPOTENCY_KEEP_HOURS = 48;
/** Keys one purge statement deletes at most: a long backlog goes in bounded steps. */
export const IDEMPOTENCY_PURGE_BATCH = 5_000;

/** Deletes stored answers older than the keep period, one bounded batch; answers how many. */
export async function purgeIdempotencyKeys(db: Kysely<Database>, now: Date): Promise<number> {
  const cutoff = new Date(now.getTime() - IDEMPOTENCY_KEEP_HOURS * 3_600_000);
  const result = await sql`DELETE FROM idempotency_keys WHERE ctid IN (
      SELECT ctid FROM idempotency_keys WHERE created_at < ${cutoff.toISOString()}::timestamptz
      LIMIT ${IDEMPOTENCY_PURGE_BATCH})`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}
