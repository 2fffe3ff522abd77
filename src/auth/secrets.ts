// Client secrets are stored only as scrypt hashes: `scrypt$N$r$p$salt$hash`, salt and hash
// in base64url. The parameters travel with the hash so they can be raised later without
// invalidating the secrets already issued.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const SCRYPT_N = 16_384;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
// Bounds on parameters read back from the database, so a corrupt row cannot make one
// comparison take minutes or gigabytes.
const SCRYPT_N_MAX = 1_048_576;
const SCRYPT_R_MAX = 32;
const SCRYPT_P_MAX = 16;
const SECRET_CHARS_MAX = 1_024;

function scryptAsync(secret: string, salt: Buffer, keyBytes: number, options: ScryptOptions) {
  return new Promise<Buffer>((resolve, reject) => {
    scrypt(secret, salt, keyBytes, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

function memoryFor(n: number, r: number): number {
  // scrypt needs 128 * N * r bytes; Node refuses above maxmem (32 MiB by default).
  return 128 * n * r * 2;
}

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await scryptAsync(secret, salt, KEY_BYTES, {
    N: SCRYPT_N,
    r: SCRYPT_R,
    p: SCRYPT_P,
    maxmem: memoryFor(SCRYPT_N, SCRYPT_R),
  });
  return [
    'scrypt',
    SCRYPT_N,
    SCRYPT_R,
    SCRYPT_P,
    salt.toString('base64url'),
    key.toString('base64url'),
  ].join('$');
}

/** Compares in constant time; a malformed stored hash never matches. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  if (secret.length > SECRET_CHARS_MAX) return false;
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const ok =
    Number.isInteger(n) &&
    n > 1 &&
    n <= SCRYPT_N_MAX &&
    (n & (n - 1)) === 0 &&
    Number.isInteger(r) &&
    r > 0 &&
    r <= SCRYPT_R_MAX &&
    Number.isInteger(p) &&
    p > 0 &&
    p <= SCRYPT_P_MAX;
  if (!ok) return false;
  const salt = Buffer.from(parts[4] ?? '', 'base64url');
  const expected = Buffer.from(parts[5] ?? '', 'base64url');
  if (salt.length === 0 || expected.length === 0) return false;
  const actual = await scryptAsync(secret, salt, expected.length, {
    N: n,
    r,
    p,
    maxmem: memoryFor(n, r),
  });
  return timingSafeEqual(actual, expected);
}

/** A hash of a secret nobody knows, compared against when the client is unknown, so that an
 * unknown client id costs as long as a wrong secret and does not reveal which ids exist. */
let decoyHash: Promise<string> | undefined;
export function decoySecretHash(): Promise<string> {
  decoyHash ??= hashSecret(randomBytes(32).toString('base64url'));
  return decoyHash;
}
