// TypeBox schemas of the HTTP API: they validate requests (where Fastify validates) and are
// the OpenAPI document's source, with an example for every request and response.
import { Type } from 'typebox';
import { BATCH_SIZE_MAX, ID_PATTERN } from '../events/index.ts';
import { MEMBER_ATTRIBUTES_MAX, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX } from '../members/index.ts';

export const Problem = Type.Object(
  {
    type: Type.String({
      description: 'A stable URI reference per error code, served as a page',
      examples: ['/problems/validation-failed'],
    }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    instance: Type.Optional(Type.String()),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          pointer: Type.String({ description: 'JSON Pointer into the request' }),
          detail: Type.String(),
        }),
      ),
    ),
  },
  {
    $id: 'Problem',
    description: 'RFC 9457 problem document',
    examples: [
      {
        type: '/problems/validation-failed',
        title: 'Your request is not valid',
        status: 400,
        detail: '1 field is invalid',
        errors: [
          {
            pointer: '/amount/value',
            detail: 'amount.value "12,50" is not a decimal number such as "12.50"',
          },
        ],
      },
    ],
  },
);

const Money = Type.Object(
  {
    value: Type.String({
      pattern: '^[0-9]+(\\.[0-9]+)?$',
      description: 'Decimal string, never a float',
      examples: ['12.50'],
    }),
    currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217', examples: ['EUR'] }),
  },
  { additionalProperties: false },
);

const EVENT_EXAMPLE = {
  id: 'ord-1001',
  type: 'purchase',
  memberId: 'alice',
  occurredAt: '2026-11-21T23:30:00+01:00',
  amount: { value: '12.50', currency: 'EUR' },
  attributes: { category: 'electronics' },
};

const EVENT_RESPONSE_EXAMPLE = {
  eventId: 'ord-1001',
  memberId: 'alice',
  pointsEarned: 75,
  replayed: false,
  balance: { available: 1234, pending: 0, held: 0 },
  tier: { id: 'silver', name: 'Silver' },
  programVersion: 3,
};

export const EventRequest = Type.Object(
  {
    id: Type.String({
      pattern: ID_PATTERN.source,
      description: "The caller's id of the event: its idempotency key",
    }),
    type: Type.String({
      minLength: 1,
      maxLength: 64,
      description: "An event type of the program (purchase, refund, or the program's own)",
    }),
    memberId: Type.String({ pattern: ID_PATTERN.source }),
    occurredAt: Type.String({
      format: 'date-time',
      description:
        'RFC 3339 with offset; up to 5 minutes ahead and the backdating window (default 90 days) behind',
    }),
    amount: Type.Optional(Money),
    attributes: Type.Optional(
      Type.Record(
        Type.String({ maxLength: 64 }),
        Type.Union([Type.String({ maxLength: 1024 }), Type.Number(), Type.Boolean(), Type.Null()]),
        {
          maxProperties: 64,
          description: 'What rules may test, e.g. category',
        },
      ),
    ),
    refundOf: Type.Optional(
      Type.String({
        pattern: ID_PATTERN.source,
        description: 'For refunds: the event refunded',
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      {
        id: 'ord-1001',
        type: 'purchase',
        memberId: 'alice',
        occurredAt: '2026-11-21T23:30:00+01:00',
        amount: { value: '12.50', currency: 'EUR' },
        attributes: { category: 'electronics' },
      },
    ],
  },
);

const Balance = Type.Object({
  available: Type.Integer(),
  pending: Type.Integer(),
  held: Type.Integer(),
});

export const EventResponse = Type.Object(
  {
    eventId: Type.String(),
    memberId: Type.String(),
    pointsEarned: Type.Integer({ description: 'Negative for a refund' }),
    replayed: Type.Boolean(),
    balance: Balance,
    tier: Type.Union([Type.Object({ id: Type.String(), name: Type.String() }), Type.Null()]),
    programVersion: Type.Integer(),
  },
  {
    examples: [
      {
        eventId: 'ord-1001',
        memberId: 'alice',
        pointsEarned: 75,
        replayed: false,
        balance: { available: 1234, pending: 0, held: 0 },
        tier: { id: 'silver', name: 'Silver' },
        programVersion: 3,
      },
    ],
  },
);

export const BatchRequest = Type.Object(
  {
    events: Type.Array(
      Type.Unknown({
        description: 'An event, as for POST /v1/events; each is validated on its own',
      }),
      {
        minItems: 1,
        maxItems: BATCH_SIZE_MAX,
      },
    ),
  },
  { additionalProperties: false, examples: [{ events: [EVENT_EXAMPLE] }] },
);

export const BatchResponse = Type.Object(
  {
    results: Type.Array(
      Type.Object({
        status: Type.Integer({ description: 'The status this event would have had on its own' }),
        body: Type.Optional(EventResponse),
        problem: Type.Optional(Problem),
      }),
    ),
  },
  { examples: [{ results: [{ status: 201, body: EVENT_RESPONSE_EXAMPLE }] }] },
);

export const MemberResponse = Type.Object(
  {
    id: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
    attributes: Type.Record(Type.String(), Type.Unknown()),
    balance: Balance,
    tier: Type.Union([
      Type.Object({
        id: Type.String(),
        name: Type.String(),
        since: Type.Union([Type.String(), Type.Null()]),
      }),
      Type.Null(),
    ]),
    progress: Type.Union([
      Type.Object({
        nextTier: Type.Union([
          Type.Object({ id: Type.String(), name: Type.String() }),
          Type.Null(),
        ]),
        metric: Type.String(),
        current: Type.Union([Type.Integer(), Type.String()]),
        required: Type.Union([Type.Integer(), Type.String(), Type.Null()]),
        remaining: Type.Union([Type.Integer(), Type.String(), Type.Null()]),
        currency: Type.Optional(Type.String()),
      }),
      Type.Null(),
    ]),
    nextExpiry: Type.Union(
      [
        Type.Object({
          at: Type.String({ format: 'date-time' }),
          points: Type.Integer({ description: 'Points that expire at that instant' }),
        }),
        Type.Null(),
      ],
      {
        description:
          "The soonest instant some of the member's available points expire (inactivity: the member's deadline, for all of them); null when none will",
      },
    ),
    segments: Type.Array(Type.Object({ id: Type.String(), name: Type.String() }), {
      description:
        "The member's segments: rule segments as of the member's last event, and static ones it was imported into",
    }),
    metrics: Type.Object(
      {
        lifetimeSpend: Type.Object({ value: Type.String(), currency: Type.String() }),
        points: Type.Integer({ description: 'Points earned by events, net of refunds' }),
        events: Type.Integer(),
        firstEventAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
        lastEventAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
        counters: Type.Record(Type.String(), Type.Integer()),
      },
      { description: 'Computed metrics, updated with every event' },
    ),
  },
  {
    examples: [
      {
        id: 'alice',
        createdAt: '2026-11-21T22:30:00.000Z',
        attributes: { email: 'alice@example.com' },
        balance: { available: 1234, pending: 0, held: 0 },
        tier: { id: 'silver', name: 'Silver', since: '2026-11-21T22:30:00.000Z' },
        progress: {
          nextTier: { id: 'gold', name: 'Gold' },
          metric: 'points',
          current: 1234,
          required: 5000,
          remaining: 3766,
        },
        nextExpiry: { at: '2027-12-31T23:00:00.000Z', points: 1234 },
        segments: [{ id: 'big-spenders', name: 'Big spenders' }],
        metrics: {
          lifetimeSpend: { value: '1180.40', currency: 'EUR' },
          points: 1234,
          events: 17,
          firstEventAt: '2026-02-01T10:12:00.000Z',
          lastEventAt: '2026-11-21T22:30:00.000Z',
          counters: { reviews: 3 },
        },
      },
    ],
  },
);

export const MemberPutRequest = Type.Object(
  {
    attributes: Type.Record(Type.String({ minLength: 1, maxLength: 64 }), Type.Unknown(), {
      maxProperties: MEMBER_ATTRIBUTES_MAX,
      // TypeBox does not carry the key's limits into the JSON Schema; state them here.
      propertyNames: { minLength: 1, maxLength: 64 },
      description: 'Profile attributes rules can test (member.attributes)',
    }),
  },
  {
    additionalProperties: false,
    examples: [{ attributes: { email: 'alice@example.com', segment: 'vip' } }],
  },
);

export const LedgerItem = Type.Object({
  id: Type.String(),
  entryId: Type.String(),
  kind: Type.String({ examples: ['earn'] }),
  account: Type.String({ examples: ['available'] }),
  amount: Type.Integer(),
  eventId: Type.Union([Type.String(), Type.Null()]),
  correctsEntryId: Type.Union([Type.String(), Type.Null()]),
  lotId: Type.Union([Type.String(), Type.Null()]),
  programVersion: Type.Union([Type.Integer(), Type.Null()]),
  effectiveAt: Type.String({ format: 'date-time' }),
  createdAt: Type.String({ format: 'date-time' }),
});

export const LedgerPage = Type.Object(
  { items: Type.Array(LedgerItem), nextCursor: Type.Union([Type.String(), Type.Null()]) },
  {
    examples: [
      {
        items: [
          {
            id: '42',
            entryId: '17',
            kind: 'earn',
            account: 'available',
            amount: 75,
            eventId: 'ord-1001',
            correctsEntryId: null,
            lotId: '17',
            programVersion: 3,
            effectiveAt: '2026-11-21T22:30:00.000Z',
            createdAt: '2026-11-21T22:30:00.120Z',
          },
        ],
        nextCursor: null,
      },
    ],
  },
);

export const PageQuery = Type.Object({
  cursor: Type.Optional(
    Type.String({ maxLength: 200, description: 'Opaque cursor from nextCursor' }),
  ),
  // Query strings are text; Ajv does not coerce here (bodies stay strict), so the digits
  // are checked by pattern and converted by the route.
  limit: Type.Optional(
    Type.String({
      pattern: '^(?:[1-9]|[1-9][0-9]|[1-4][0-9]{2}|500)$',
      description: `1 to ${PAGE_SIZE_MAX}, default ${PAGE_SIZE_DEFAULT}`,
    }),
  ),
});

export const PendingDecision = Type.Object(
  {
    eventId: Type.String(),
    memberId: Type.String(),
    points: Type.Integer({ description: 'Points released to available, or voided' }),
    balance: Type.Object({
      available: Type.Integer(),
      pending: Type.Integer(),
      held: Type.Integer(),
    }),
  },
  {
    examples: [
      {
        eventId: 'ord-1001',
        memberId: 'alice',
        points: 75,
        balance: { available: 1309, pending: 0, held: 0 },
      },
    ],
  },
);

export const IdParam = Type.Object({ id: Type.String({ pattern: ID_PATTERN.source }) });

/** An error response: an RFC 9457 problem document, served as application/problem+json. */
export function problemResponse(description: string) {
  return {
    description,
    content: { 'application/problem+json': { schema: Type.Ref('Problem') } },
  };
}

const PROBLEM_TEXT = {
  400: 'Invalid input: validation-failed (errors name each field) or malformed-request',
  401: 'No token, or a bad or expired one: unauthorized',
  403: 'The token lacks the scope: insufficient-scope',
  404: 'Not found in your program: not-found',
  409: 'A conflict: idempotency-conflict (an id or Idempotency-Key reused with another request), redemption-not-held, voucher-not-redeemable, draft-not-open, draft-stale, draft-outdated, publication-not-scheduled',
  413: 'The body is too large: payload-too-large',
  415: 'Not JSON: unsupported-media-type',
  422: 'Refused by the business rules: refund-of-unknown-event, refund-exceeds-remaining, refund-not-allowed, member-unknown, insufficient-points, reward-unavailable, reward-out-of-stock, reward-limit-reached, too-many-drafts',
  503: 'Not ready or overloaded: service-unavailable',
} as const;

/** Error responses for the given statuses, for a route's `response` schema. */
export function problems<const S extends keyof typeof PROBLEM_TEXT>(
  ...statuses: S[]
): Record<S, ReturnType<typeof problemResponse>> {
  return Object.fromEntries(
    statuses.map((status) => [status, problemResponse(PROBLEM_TEXT[status])]),
  ) as Record<S, ReturnType<typeof problemResponse>>;
}

/** The optional Idempotency-Key header of a POST (API.md), documented once. */
export const IDEMPOTENCY_KEY_HEADER = {
  type: 'object',
  properties: {
    'idempotency-key': {
      type: 'string',
      description: 'A unique key per intended operation; resending it replays the stored answer',
    },
  },
} as const;
