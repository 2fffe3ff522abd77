// Authentication: OAuth2 client credentials (RFC 6749 §4.4) issuing RFC 9068 JWT access
// tokens bound to one program. This module knows nothing of HTTP; src/http/oauth-routes.ts
// maps its outcomes to RFC 6749 responses.
//
// Flow
//   1. An operator (CLI, demo seeding) creates a client: createClient / ensureClient. The
//      client belongs to one program and holds a fixed set of scopes; only an scrypt hash of
//      its secret is stored. The secret is shown once.
//   2. The client asks for a token: AuthService.issueToken({ clientId, clientSecret, scope }).
//      Unknown id, wrong secret or revoked client → invalid_client (indistinguishable, and
//      unknown ids cost one hash comparison too). A `scope` not within the client's scopes →
//      invalid_scope; no `scope` → all of the client's scopes. Otherwise a JWT signed with
//      the newest unretired key: header { alg: EdDSA, typ: at+jwt, kid }, claims iss, sub =
//      client_id, aud, iat, exp = iat + TTL, jti, scope, program.
//   3. Every API request presents it: AuthService.verifyAccessToken(token) → valid (with the
//      principal) | expired | invalid. A verified token is cached until its exp (bounded,
//      oldest evicted first), so the hot path is one Map lookup and a clock comparison.
//      Tokens are not looked up in the database: revoking a client stops new tokens, and
//      the ones already issued lapse within the TTL.
//
// Signing keys (keys.ts) live in the database so that every process and restart signs and
// verifies with the same ones: created once (race-safe) → retired by a rotation, after
// which they still verify and stay published at /.well-known/jwks.json for a day. An
// AuthService re-reads them every few minutes, and at once (at most once a second) when a
// token names a kid it does not know.

export { SCOPES, isScope, type Scope } from './scopes.ts';
export {
  createClient,
  ensureClient,
  findClient,
  type ClientRecord,
  type CreateClientOutcome,
  type EnsureClientOutcome,
  type NewClient,
} from './clients.ts';
export { ensureSigningKey, getJwks, rotateSigningKey, type Jwks, type PublicJwk } from './keys.ts';
export {
  AuthService,
  type AuthServiceOptions,
  type IssueTokenOutcome,
  type Principal,
  type TokenRequest,
  type VerifyTokenOutcome,
} from './tokens.ts';
