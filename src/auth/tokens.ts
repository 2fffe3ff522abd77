// Access tokens: RFC 9068 JWTs signed with the database's newest signing key (keys.ts).
// See index.ts for the whole flow.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Kysely } from 'kysely';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { Database } from '../db/schema.ts';
import { canonicalScopes, findClient } from './clients.ts';
import {
  ensureSigningKey,
  getJwks,
  loadKeySet,
  SIGNING_ALG,
  type Jwks,
  type KeySet,
} from './keys.ts';
import { isScope, type Scope } from './scopes.ts';
import { decoySecretHash, verifySecret } from './secrets.ts';

export const ACCESS_TOKEN_TYP = 'at+jwt';
const TOKEN_ID_BYTES = 16;
/** Verified tokens remembered so the hot path does not check a signature per request. */
const VERIFIED_CACHE_ENTRIES_MAX = 10_000;
/** Longer than any real token; longer input is refused before any parsing. */
const TOKEN_CHARS_MAX = 4_096;
const SCOPE_CHARS_MAX = 1_024;
/** Keys are re-read this often, so a rotation made by another process is picked up. */
const KEYS_REFRESH_MS = 5 * 60 * 1000;
/** An unknown kid re-reads the keys at most this often, so junk tokens cannot flood the DB. */
const KEYS_RELOAD_ON_UNKNOWN_KID_MS_MIN = 1_000;

export interface AuthServiceOptions {
  db: Kysely<Database>;
  issuer: string;
  audience: string;
  tokenTtlSeconds: number;
  now?: () => Date;
}

export interface TokenRequest {
  clientId: string;
  clientSecret: string;
  /** Space-separated scopes (RFC 6749 §3.3); omitted means all of the client's scopes. */
  scope?: string;
}

export type IssueTokenOutcome =
  | { status: 'issued'; accessToken: string; tokenType: 'Bearer'; expiresIn: number; scope: string }
  | { status: 'invalid_client' }
  | { status: 'invalid_scope' };

export interface Principal {
  programId: string;
  clientId: string;
  scopes: ReadonlySet<string>;
  tokenId: string;
}

export type VerifyTokenOutcome =
  | { status: 'valid'; principal: Principal }
  | { status: 'invalid'; reason: string }
  | { status: 'expired' };

interface CachedToken {
  principal: Principal;
  expSeconds: number;
}

function epochSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/** The scopes a request may have: all of the client's without `scope`, else a subset of them. */
function grantScopes(
  clientScopes: readonly Scope[],
  requested: string | undefined,
): Scope[] | undefined {
  if (requested === undefined) return [...clientScopes];
  if (requested.length > SCOPE_CHARS_MAX) return undefined;
  const tokens = requested.split(' ').filter((token) => token !== '');
  if (tokens.length === 0) return undefined;
  const held = new Set<string>(clientScopes);
  if (!tokens.every((token) => held.has(token) && isScope(token))) return undefined;
  return canonicalScopes(tokens.filter(isScope));
}

export class AuthService {
  readonly #db: Kysely<Database>;
  readonly #issuer: string;
  readonly #audience: string;
  readonly #tokenTtlSeconds: number;
  readonly #now: () => Date;
  readonly #verified = new Map<string, CachedToken>();
  #keys: Promise<KeySet> | undefined;
  #keysLoadedAtMs = 0; // performance.now(), not the injected clock: it paces DB reads
  #lastUnknownKidReloadMs = Number.NEGATIVE_INFINITY;

  constructor(options: AuthServiceOptions) {
    assert.ok(Number.isInteger(options.tokenTtlSeconds) && options.tokenTtlSeconds > 0);
    assert.ok(options.issuer !== '' && options.audience !== '');
    this.#db = options.db;
    this.#issuer = options.issuer;
    this.#audience = options.audience;
    this.#tokenTtlSeconds = options.tokenTtlSeconds;
    this.#now = options.now ?? (() => new Date());
  }

  async issueToken(request: TokenRequest): Promise<IssueTokenOutcome> {
    const client = await findClient(this.#db, request.clientId);
    // Unknown clients pay for a hash comparison too, so timing does not reveal which ids exist.
    const secretOk = await verifySecret(
      request.clientSecret,
      client?.secretHash ?? (await decoySecretHash()),
    );
    if (!client || !secretOk || client.revoked) return { status: 'invalid_client' };

    const scopes = grantScopes(client.scopes, request.scope);
    if (scopes === undefined) return { status: 'invalid_scope' };
    const scope = scopes.join(' ');

    const signing = await this.#signingKey();
    const issuedAt = epochSeconds(this.#now());
    const accessToken = await new SignJWT({
      client_id: client.id,
      scope,
      program: client.programId,
    })
      .setProtectedHeader({ alg: SIGNING_ALG, typ: ACCESS_TOKEN_TYP, kid: signing.kid })
      .setIssuer(this.#issuer)
      .setSubject(client.id)
      .setAudience(this.#audience)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + this.#tokenTtlSeconds)
      .setJti(randomBytes(TOKEN_ID_BYTES).toString('base64url'))
      .sign(signing.key);
    return {
      status: 'issued',
      accessToken,
      tokenType: 'Bearer',
      expiresIn: this.#tokenTtlSeconds,
      scope,
    };
  }

  async verifyAccessToken(token: string): Promise<VerifyTokenOutcome> {
    const nowSeconds = epochSeconds(this.#now());
    const cached = this.#verified.get(token);
    if (cached) {
      // Same rule as jose: a token is expired from its exp second on.
      if (nowSeconds < cached.expSeconds) return { status: 'valid', principal: cached.principal };
      this.#verified.delete(token);
      return { status: 'expired' };
    }
    if (token.length > TOKEN_CHARS_MAX) return { status: 'invalid', reason: 'token too long' };

    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg !== SIGNING_ALG) return { status: 'invalid', reason: 'unexpected alg' };
      kid = header.kid;
    } catch {
      return { status: 'invalid', reason: 'malformed token' };
    }
    if (typeof kid !== 'string') return { status: 'invalid', reason: 'no kid' };
    const key = await this.#verifyingKey(kid);
    if (!key) return { status: 'invalid', reason: 'unknown kid' };

    let payload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: [SIGNING_ALG],
        typ: ACCESS_TOKEN_TYP,
        issuer: this.#issuer,
        audience: this.#audience,
        currentDate: this.#now(),
        requiredClaims: ['exp', 'iat', 'jti', 'sub'],
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) return { status: 'expired' };
      if (error instanceof joseErrors.JOSEError) return { status: 'invalid', reason: error.code };
      throw error;
    }

    const { sub, client_id: clientId, scope, program, jti, exp } = payload;
    if (
      typeof program !== 'string' ||
      typeof clientId !== 'string' ||
      clientId !== sub ||
      typeof scope !== 'string' ||
      typeof jti !== 'string' ||
      typeof exp !== 'number'
    ) {
      return { status: 'invalid', reason: 'claims' };
    }
    const principal: Principal = {
      programId: program,
      clientId,
      scopes: new Set(scope.split(' ').filter((s) => s !== '')),
      tokenId: jti,
    };
    this.#remember(token, { principal, expSeconds: exp });
    return { status: 'valid', principal };
  }

  /** The published verification keys; creates the first signing key if there is none yet. */
  async jwks(): Promise<Jwks> {
    await this.#signingKey();
    return getJwks(this.#db, this.#now());
  }

  #remember(token: string, entry: CachedToken): void {
    if (this.#verified.size >= VERIFIED_CACHE_ENTRIES_MAX) {
      // A Map iterates in insertion order: the first key is the oldest entry.
      const oldest = this.#verified.keys().next();
      if (!oldest.done) this.#verified.delete(oldest.value);
    }
    this.#verified.set(token, entry);
  }

  #loadKeys(): Promise<KeySet> {
    const loading = loadKeySet(this.#db, this.#now());
    this.#keys = loading;
    this.#keysLoadedAtMs = performance.now();
    // A failed load is not cached: the next call tries the database again.
    loading.catch(() => {
      if (this.#keys === loading) this.#keys = undefined;
    });
    return loading;
  }

  #currentKeys(): Promise<KeySet> {
    if (this.#keys === undefined || performance.now() - this.#keysLoadedAtMs > KEYS_REFRESH_MS) {
      return this.#loadKeys();
    }
    return this.#keys;
  }

  async #signingKey(): Promise<NonNullable<KeySet['signing']>> {
    const keys = await this.#currentKeys();
    if (keys.signing) return keys.signing;
    await ensureSigningKey(this.#db);
    const reloaded = await this.#loadKeys();
    assert.ok(reloaded.signing, 'a signing key exists after ensureSigningKey');
    return reloaded.signing;
  }

  async #verifyingKey(kid: string) {
    const key = (await this.#currentKeys()).verifying.get(kid);
    if (key) return key;
    // Another process may have created or rotated a key since we loaded ours: re-read once.
    const nowMs = performance.now();
    if (nowMs - this.#lastUnknownKidReloadMs < KEYS_RELOAD_ON_UNKNOWN_KID_MS_MIN) {
      return (await this.#currentKeys()).verifying.get(kid);
    }
    this.#lastUnknownKidReloadMs = nowMs;
    return (await this.#loadKeys()).verifying.get(kid);
  }
}
