// Opaque list cursors (API.md): the last key of the previous page, tagged by the kind of list
// so that a cursor of one list is refused by another.
import type { FastifyReply } from 'fastify';
import { problem, sendProblem } from './problems.ts';

export function encodeCursor(tag: string, key: string | number): string {
  return Buffer.from(`${tag}:${key}`).toString('base64url');
}

/** The key inside a cursor of this list, or undefined when the cursor is not one Patron issued. */
export function decodeCursor(tag: string, cursor: string, key: RegExp): string | undefined {
  const text = Buffer.from(cursor, 'base64url').toString();
  const prefix = `${tag}:`;
  if (!text.startsWith(prefix)) return undefined;
  const value = text.slice(prefix.length);
  return key.test(value) ? value : undefined;
}

export function sendBadCursor(reply: FastifyReply): FastifyReply {
  return sendProblem(
    reply,
    problem('validation-failed', '1 field is invalid', [
      { pointer: '/querystring/cursor', detail: 'cursor is not one Patron issued' },
    ]),
  );
}
