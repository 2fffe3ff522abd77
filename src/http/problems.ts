// One registry of error codes (as Fastify keeps its own): every error Patron answers is an
// RFC 9457 problem document whose `type` is `/problems/<code>`, a page Patron serves. The
// OpenAPI document lists every code; a test fails when one is missing.
import type { FastifyReply } from 'fastify';

export interface ProblemDefinition {
  status: number;
  title: string;
  description: string;
}

export const PROBLEMS = {
  'validation-failed': {
    status: 400,
    title: 'Your request is not valid',
    description:
      'A field is missing, malformed or not allowed. `errors` lists each one with a JSON Pointer into the request and what is wrong. Nothing was stored.',
  },
  'malformed-request': {
    status: 400,
    title: 'The request body is not valid JSON',
    description: 'The body could not be parsed as the declared content type. Nothing was stored.',
  },
  unauthorized: {
    status: 401,
    title: 'Authentication required',
    description:
      'The request has no bearer token, or the token is malformed, tampered with, signed by an unknown key, or expired. Get a token at POST /oauth/token.',
  },
  'insufficient-scope': {
    status: 403,
    title: 'The token lacks a scope this operation needs',
    description: 'Request a token with the scope named in `detail`; the client must hold it.',
  },
  'not-found': {
    status: 404,
    title: 'Not found',
    description:
      "The resource does not exist in your program. Another program's resources are never visible.",
  },
  'method-not-allowed': {
    status: 405,
    title: 'Method not allowed',
    description: 'The resource exists but does not support this method.',
  },
  'idempotency-conflict': {
    status: 409,
    title: 'This id was already used with a different body',
    description:
      'An event id (or Idempotency-Key) identifies one request. Resending it with the same body replays the stored answer; a different body is refused. Use a new id for a new event.',
  },
  'payload-too-large': {
    status: 413,
    title: 'The request body is too large',
    description:
      'Split the request: single events are limited to 64 KiB and batches to 1,000 events and 4 MiB.',
  },
  'unsupported-media-type': {
    status: 415,
    title: 'Unsupported content type',
    description: 'Send JSON (application/json).',
  },
  'refund-of-unknown-event': {
    status: 422,
    title: 'The refunded event is not known',
    description: '`refundOf` must name an event of this program that earned points with an amount.',
  },
  'refund-exceeds-remaining': {
    status: 422,
    title: 'The refund is larger than what remains of the purchase',
    description:
      'The sum of all refunds of an event cannot exceed its amount; `detail` says how much remains.',
  },
  'refund-not-allowed': {
    status: 422,
    title: 'This event cannot be refunded this way',
    description:
      'The refunded event belongs to another member, is itself a refund, has no amount, or was paid in another currency.',
  },
  'member-unknown': {
    status: 422,
    title: 'The member does not exist',
    description:
      'This program does not create members from events: create the member first with PUT /v1/members/{id}.',
  },
  'insufficient-points': {
    status: 422,
    title: 'The member does not have enough points',
    description:
      'A hold needs the points available now (held points do not count); `detail` says how many the member has.',
  },
  'reward-unavailable': {
    status: 422,
    title: 'The reward cannot be redeemed by this member now',
    description:
      'The reward is archived, outside its validity window, or reserved for other tiers; `detail` says which.',
  },
  'reward-out-of-stock': {
    status: 422,
    title: 'The reward is out of stock',
    description:
      'Every unit is held or redeemed. A unit comes back when a hold on it is cancelled or expires.',
  },
  'reward-limit-reached': {
    status: 422,
    title: 'The member has redeemed this reward as often as allowed',
    description:
      'The reward has a per-member limit, which held and confirmed redemptions count against.',
  },
  'redemption-not-held': {
    status: 409,
    title: 'The redemption is no longer held',
    description:
      'Only a held redemption can be confirmed or cancelled. `detail` gives its status: a confirmed one cannot be cancelled, a cancelled or expired one cannot be confirmed.',
  },
  'voucher-not-redeemable': {
    status: 409,
    title: 'The voucher cannot be redeemed',
    description:
      'A voucher is redeemed once, before it expires; `detail` says whether it was used or has expired.',
  },
  'no-pending-points': {
    status: 409,
    title: 'The event has no pending points',
    description:
      'Its points were never pending, or were already released, voided or refunded; `detail` says how many it earned.',
  },
  'draft-not-open': {
    status: 409,
    title: 'The draft can no longer change',
    description:
      'Only an open draft can be saved, published or discarded. `detail` gives its status: a published or discarded draft is kept read-only; a scheduled one opens again when its publication is cancelled.',
  },
  'draft-stale': {
    status: 409,
    title: 'The draft was saved by someone else',
    description:
      'The request named a `revision` the draft has moved past. Read the draft again, merge, and save with its current revision.',
  },
  'draft-outdated': {
    status: 409,
    title: 'A version was published after the draft was started',
    description:
      'Publishing it as it is would undo that version’s changes. Compare the draft with the version in force (`/diff`), then publish with `allowOutdated: true`, or start a new draft.',
  },
  'publication-not-scheduled': {
    status: 409,
    title: 'The publication is no longer scheduled',
    description: 'It has already taken effect or was cancelled; `detail` says which.',
  },
  'too-many-drafts': {
    status: 422,
    title: 'The program has as many open drafts as allowed',
    description: 'Publish or discard a draft before starting another.',
  },
  'rate-limited': {
    status: 429,
    title: 'Too many requests',
    description: 'Retry after the number of seconds in the Retry-After header.',
  },
  'internal-error': {
    status: 500,
    title: 'Internal error',
    description:
      'A bug in Patron: nothing was written by the failed request. Retrying with the same id is safe.',
  },
  'service-unavailable': {
    status: 503,
    title: 'Patron is not ready',
    description:
      'The database is unreachable, migrations are not done, or Patron is overloaded; retry after the Retry-After header.',
  },
} as const satisfies Record<string, ProblemDefinition>;

export type ProblemCode = keyof typeof PROBLEMS;

export interface FieldError {
  pointer: string;
  detail: string;
}

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: FieldError[];
}

export function problem(code: ProblemCode, detail: string, errors?: FieldError[]): ProblemDocument {
  const def = PROBLEMS[code];
  return {
    type: `/problems/${code}`,
    title: def.title,
    status: def.status,
    detail,
    ...(errors ? { errors } : {}),
  };
}

export function sendProblem(reply: FastifyReply, doc: ProblemDocument): FastifyReply {
  return reply.code(doc.status).type('application/problem+json').send(doc);
}

export function problemPage(code: ProblemCode): string {
  const def = PROBLEMS[code];
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${def.title} — Patron</title></head>
<body><h1>${def.title}</h1><p>HTTP status ${def.status}. Problem type <code>/problems/${code}</code>.</p><p>${def.description}</p></body></html>\n`;
}
