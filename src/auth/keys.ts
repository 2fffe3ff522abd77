// Token signing keys live in the database so that every process, and every restart,
// signs and verifies with the same keys.
//
// Key lifecycle: created (newest unretired key signs) → retired (a newer key signs; the old
// one still verifies and stays in the JWKS for KEY_RETIRED_KEEP_MS, longer than any token
// it signed lives) → gone from the JWKS. Rows are never deleted.
import { sql, type Kysely } from 'kysely';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
} from 'jose';
import type { Database } from '../db/schema.ts';

export const SIGNING_ALG = 'EdDSA';
export const KEY_RETIRED_KEEP_MS = 24 * 60 * 60 * 1000;
// Serialises key creation between processes that start together (pg_advisory_xact_lock).
const SIGNING_KEY_LOCK_ID = 73_461_732;

export interface PublicJwk extends JWK {
  kid: string;
  alg: string;
  use: 'sig';
}

export interface Jwks {
  keys: PublicJwk[];
}

export interface KeySet {
  signing: { kid: string; key: CryptoKey } | undefined;
  verifying: Map<string, CryptoKey>;
}

async function newKeyRow() {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return {
    kid,
    alg: SIGNING_ALG,
    private_jwk: JSON.stringify(privateJwk),
    public_jwk: JSON.stringify(publicJwk),
  };
}

async function currentKid(db: Kysely<Database>): Promise<string | undefined> {
  const row = await db
    .selectFrom('signing_keys')
    .select('kid')
    .where('retired_at', 'is', null)
    .orderBy('created_at', 'desc')
    .orderBy('kid')
    .limit(1)
    .executeTakeFirst();
  return row?.kid;
}

/** Creates a signing key unless an unretired one exists; answers the kid that signs. */
export async function ensureSigningKey(db: Kysely<Database>): Promise<{ kid: string }> {
  const existing = await currentKid(db);
  if (existing !== undefined) return { kid: existing };
  const row = await newKeyRow();
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${sql.lit(SIGNING_KEY_LOCK_ID)})`.execute(trx);
    // Another process may have created one while we generated ours.
    const raced = await currentKid(trx);
    if (raced !== undefined) return { kid: raced };
    await trx.insertInto('signing_keys').values(row).execute();
    return { kid: row.kid };
  });
}

/** Adds a new signing key and retires the others; tokens they signed keep verifying. */
export async function rotateSigningKey(
  db: Kysely<Database>,
  now: Date = new Date(),
): Promise<{ kid: string }> {
  const row = await newKeyRow();
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${sql.lit(SIGNING_KEY_LOCK_ID)})`.execute(trx);
    await trx
      .updateTable('signing_keys')
      .set({ retired_at: now })
      .where('retired_at', 'is', null)
      .execute();
    await trx
      .insertInto('signing_keys')
      .values({ ...row, created_at: now })
      .execute();
    return { kid: row.kid };
  });
}

async function publishedKeyRows(db: Kysely<Database>, now: Date) {
  return db
    .selectFrom('signing_keys')
    .select(['kid', 'alg', 'private_jwk', 'public_jwk', 'retired_at', 'created_at'])
    .where((eb) =>
      eb.or([
        eb('retired_at', 'is', null),
        eb('retired_at', '>', new Date(now.getTime() - KEY_RETIRED_KEEP_MS)),
      ]),
    )
    .orderBy('created_at', 'desc')
    .orderBy('kid')
    .execute();
}

/** The public keys that verify tokens: unretired ones and those retired less than a day ago. */
export async function getJwks(db: Kysely<Database>, now: Date = new Date()): Promise<Jwks> {
  const rows = await publishedKeyRows(db, now);
  return {
    keys: rows.map((row) => ({
      ...(row.public_jwk as JWK),
      kid: row.kid,
      alg: row.alg,
      use: 'sig' as const,
    })),
  };
}

/** Imports the keys for an AuthService: the newest unretired one signs, all published verify. */
export async function loadKeySet(db: Kysely<Database>, now: Date): Promise<KeySet> {
  const rows = await publishedKeyRows(db, now);
  const verifying = new Map<string, CryptoKey>();
  let signing: KeySet['signing'];
  for (const row of rows) {
    verifying.set(row.kid, (await importJWK(row.public_jwk as JWK, row.alg)) as CryptoKey);
    if (signing === undefined && row.retired_at === null) {
      signing = {
        kid: row.kid,
        key: (await importJWK(row.private_jwk as JWK, row.alg)) as CryptoKey,
      };
    }
  }
  return { signing, verifying };
}
