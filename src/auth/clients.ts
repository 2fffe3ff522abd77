// OAuth clients: one program each, a fixed set of scopes, a secret stored only as a hash.
// A client is never deleted; revoking it (revoked_at) refuses its next token request, and
// tokens already issued lapse with their expiry (at most the token TTL).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { isScope, SCOPES, type Scope } from './scopes.ts';
import { hashSecret } from './secrets.ts';

const CLIENT_ID_PREFIX = 'cli_';
const CLIENT_ID_RANDOM_CHARS = 20; // 20 × 5 bits = 100 bits
const CLIENT_SECRET_BYTES = 32;
const CLIENT_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/; // as the clients table's CHECK
// Lower-case Crockford base32: 32 symbols, so a random byte masked to 5 bits is unbiased.
const BASE32 = '0123456789abcdefghjkmnpqrstvwxyz';

export interface NewClient {
  programId: string;
  /** Generated (`cli_…`) when omitted. */
  clientId?: string;
  /** Generated (32 random bytes, base64url) when omitted. */
  secret?: string;
  scopes: readonly string[];
  now?: Date;
}

export type CreateClientOutcome =
  | { status: 'created'; clientId: string; secret: string }
  | { status: 'exists' }
  | { status: 'unknown_scope'; scope: string }
  | { status: 'unknown_program' };

export type EnsureClientOutcome =
  | { status: 'created'; clientId: string }
  | { status: 'exists'; clientId: string }
  | { status: 'unknown_scope'; scope: string }
  | { status: 'unknown_program' };

export interface ClientRecord {
  id: string;
  programId: string;
  secretHash: string;
  scopes: readonly Scope[];
  revoked: boolean;
}

export function generateClientId(): string {
  const bytes = randomBytes(CLIENT_ID_RANDOM_CHARS);
  let id = CLIENT_ID_PREFIX;
  for (const byte of bytes) id += BASE32[byte & 31];
  return id;
}

export function generateClientSecret(): string {
  return randomBytes(CLIENT_SECRET_BYTES).toString('base64url');
}

/** Scopes deduplicated, in the order of SCOPES, so stored rows and tokens read the same. */
export function canonicalScopes(scopes: Iterable<Scope>): Scope[] {
  const wanted = new Set(scopes);
  return SCOPES.filter((scope) => wanted.has(scope));
}

export async function createClient(
  db: Kysely<Database>,
  input: NewClient,
): Promise<CreateClientOutcome> {
  const clientId = input.clientId ?? generateClientId();
  assert.match(clientId, CLIENT_ID_PATTERN, 'client id must match [A-Za-z0-9._-]{1,128}');
  const unknown = input.scopes.find((scope) => !isScope(scope));
  if (unknown !== undefined) return { status: 'unknown_scope', scope: unknown };
  const scopes = canonicalScopes(input.scopes.filter(isScope));

  const program = await db
    .selectFrom('programs')
    .select('id')
    .where('id', '=', input.programId)
    .executeTakeFirst();
  if (!program) return { status: 'unknown_program' };

  const secret = input.secret ?? generateClientSecret();
  const inserted = await db
    .insertInto('clients')
    .values({
      id: clientId,
      program_id: input.programId,
      secret_hash: await hashSecret(secret),
      scopes,
      ...(input.now ? { created_at: input.now } : {}),
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!inserted) return { status: 'exists' };
  return { status: 'created', clientId, secret };
}

/** Creates the client unless one with this id exists, which it then leaves as it is (seeding). */
export async function ensureClient(
  db: Kysely<Database>,
  input: NewClient & { clientId: string; secret: string },
): Promise<EnsureClientOutcome> {
  const existing = await findClient(db, input.clientId);
  if (existing) return { status: 'exists', clientId: input.clientId };
  const outcome = await createClient(db, input);
  switch (outcome.status) {
    case 'created':
      return { status: 'created', clientId: outcome.clientId };
    case 'exists':
      return { status: 'exists', clientId: input.clientId };
    default:
      return outcome;
  }
}

export async function findClient(
  db: Kysely<Database>,
  clientId: string,
): Promise<ClientRecord | undefined> {
  if (!CLIENT_ID_PATTERN.test(clientId)) return undefined;
  const row = await db
    .selectFrom('clients')
    .select(['id', 'program_id', 'secret_hash', 'scopes', 'revoked_at'])
    .where('id', '=', clientId)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    id: row.id,
    programId: row.program_id,
    secretHash: row.secret_hash,
    // A scope dropped from SCOPES in a later version is no longer granted.
    scopes: canonicalScopes(row.scopes.filter(isScope)),
    revoked: row.revoked_at !== null,
  };
}
