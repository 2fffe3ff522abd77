// TypeBox schemas of redemptions and vouchers (see schemas.ts for the conventions).
import { Type } from 'typebox';
import { ID_PATTERN } from '../events/index.ts';

const Points = (description: string) =>
  Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description });

const HELD_EXAMPLE = {
  id: 'rdm_01JD3Q5M8Z4X2N7P9K6R3T1V0W',
  memberId: 'alice',
  rewardId: null,
  status: 'held',
  points: 1000,
  value: { value: '10.00', currency: 'EUR' },
  createdAt: '2026-11-23T10:00:00.000Z',
  expiresAt: '2026-11-23T10:05:00.000Z',
  settledAt: null,
  voucher: null,
};

export const RedemptionRequest = Type.Union(
  [
    Type.Object(
      {
        memberId: Type.String({ pattern: ID_PATTERN.source }),
        rewardId: Type.String({
          pattern: ID_PATTERN.source,
          description: 'A reward of the catalogue: its cost is held',
        }),
      },
      { additionalProperties: false, title: 'A reward' },
    ),
    Type.Object(
      {
        memberId: Type.String({ pattern: ID_PATTERN.source }),
        points: Points(
          'Pay with points: this many points, worth the program’s rate (rounded down to the cent)',
        ),
      },
      { additionalProperties: false, title: 'Pay with points' },
    ),
  ],
  {
    description:
      'What to hold: a reward, or a number of points to pay with. Send an Idempotency-Key header.',
    examples: [
      { memberId: 'alice', points: 1000 },
      { memberId: 'alice', rewardId: 'rwd_01JD3Q5M8Z4X2N7P9K6R3T1V0W' },
    ],
  },
);

export const Redemption = Type.Object(
  {
    id: Type.String({ description: 'rdm_ and a ULID' }),
    memberId: Type.String(),
    rewardId: Type.Union([Type.String(), Type.Null()]),
    status: Type.Union(
      [
        Type.Literal('held'),
        Type.Literal('confirmed'),
        Type.Literal('cancelled'),
        Type.Literal('expired'),
      ],
      {
        description:
          'held, then confirmed or cancelled; a hold not settled within its time to live expires',
      },
    ),
    points: Type.Integer(),
    value: Type.Union(
      [
        Type.Object({
          value: Type.String({ description: 'Decimal string' }),
          currency: Type.String(),
        }),
        Type.Null(),
      ],
      { description: 'Pay with points: what the points are worth, rounded down to the minor unit' },
    ),
    createdAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.String({
      format: 'date-time',
      description: 'When a hold not yet settled is released',
    }),
    settledAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    voucher: Type.Union([
      Type.Object({
        code: Type.String({
          description: 'Single use; redeem with POST /v1/vouchers/{code}:redeem',
        }),
        expiresAt: Type.String({ format: 'date-time' }),
        redeemedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
      }),
      Type.Null(),
    ]),
  },
  { examples: [HELD_EXAMPLE] },
);

export const RedemptionIdParam = Type.Object({
  id: Type.String({ pattern: '^rdm_[0-9A-Z]{26}$' }),
});

export const Voucher = Type.Object(
  {
    code: Type.String(),
    redemptionId: Type.String(),
    memberId: Type.String(),
    rewardId: Type.String(),
    issuedAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.String({ format: 'date-time' }),
    redeemedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  {
    examples: [
      {
        code: '7KQ2-MX9D-4HRT-ZB8W',
        redemptionId: 'rdm_01JD3Q5M8Z4X2N7P9K6R3T1V0W',
        memberId: 'alice',
        rewardId: 'rwd_01JD3Q5M8Z4X2N7P9K6R3T1V0W',
        issuedAt: '2026-11-23T10:01:00.000Z',
        expiresAt: '2026-12-23T10:01:00.000Z',
        redeemedAt: '2026-11-24T09:30:00.000Z',
      },
    ],
  },
);

export const VoucherCodeParam = Type.Object({
  code: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }),
});
