// Ids Patron creates: a prefix naming the kind (`rdm_`, `rwd_`) and a ULID — 48 bits of
// milliseconds then 80 random bits, in Crockford's base32 — so they sort by creation time
// (API.md) and cannot be guessed.
import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 10;
const RANDOM_BYTES = 10;

export type IdPrefix = 'rdm' | 'rwd' | 'drf' | 'pub' | 'chg' | 'sim';

export function newId(prefix: IdPrefix, now: Date = new Date()): string {
  let time = now.getTime();
  let head = '';
  for (let i = 0; i < TIME_CHARS; i += 1) {
    head = CROCKFORD[time % 32] + head;
    time = Math.floor(time / 32);
  }
  return `${prefix}_${head}${base32(randomBytes(RANDOM_BYTES))}`;
}

/** Crockford base32 of the bytes, 5 bits per character (8 characters per 5 bytes). */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += CROCKFORD[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += CROCKFORD[(buffer << (5 - bits)) & 31];
  return out;
}
