// TypeBox schemas of the rewards catalogue: they validate requests (shape, types, ranges,
// unknown fields) and document them; what needs the program or the stored reward (tier
// ids, the order of the validity window) is checked by src/rewards.
import { Type } from 'typebox';
import { ID_PATTERN } from '../events/index.ts';
import {
  PER_MEMBER_LIMIT_MAX,
  REWARD_DESCRIPTION_LENGTH_MAX,
  REWARD_NAME_LENGTH_MAX,
  REWARD_TIERS_MAX,
  MEMBER_REWARDS_MAX,
  VOUCHER_VALIDITY_DAYS_MAX,
} from '../rewards/index.ts';
import { POINTS_MAX } from '../rules/index.ts';
import { PageQuery } from './schemas.ts';

// Nullable fields are one JSON Schema type list rather than a union, so that a wrong value
// is reported once ("must be integer,null") instead of once per branch of an anyOf.
function nullable<T>(schema: Record<string, unknown>, type: string) {
  return Type.Unsafe<T | null>({ ...schema, type: [type, 'null'] });
}

const fields = {
  name: Type.String({
    minLength: 1,
    maxLength: REWARD_NAME_LENGTH_MAX,
    examples: ['Free coffee'],
  }),
  description: Type.String({
    maxLength: REWARD_DESCRIPTION_LENGTH_MAX,
    description: 'Shown to members; empty by default',
  }),
  cost: Type.Integer({
    minimum: 1,
    maximum: POINTS_MAX,
    description: 'Points a redemption takes',
    examples: [250],
  }),
  stock: nullable<number>(
    {
      minimum: 0,
      maximum: POINTS_MAX,
      description:
        'Units left to redeem; null for unlimited. Holds take units, cancels return them',
    },
    'integer',
  ),
  perMemberLimit: nullable<number>(
    {
      minimum: 1,
      maximum: PER_MEMBER_LIMIT_MAX,
      description: 'Held and confirmed redemptions allowed per member; null for no limit',
    },
    'integer',
  ),
  tiers: nullable<string[]>(
    {
      items: { type: 'string', minLength: 1, maxLength: 64 },
      minItems: 1,
      maxItems: REWARD_TIERS_MAX,
      uniqueItems: true,
      description: 'Tier ids of the program whose members may redeem it; null for every member',
    },
    'array',
  ),
  validFrom: nullable<string>(
    {
      format: 'date-time',
      description: 'RFC 3339 with offset; offered from this instant on; null: no start',
    },
    'string',
  ),
  validUntil: nullable<string>(
    {
      format: 'date-time',
      description: 'RFC 3339 with offset; offered before this instant only; null: no end',
    },
    'string',
  ),
  voucher: nullable<{ validityDays: number }>(
    {
      properties: {
        validityDays: {
          type: 'integer',
          minimum: 1,
          maximum: VOUCHER_VALIDITY_DAYS_MAX,
          description: 'Days a voucher issued by a confirmed redemption stays valid',
          examples: [30],
        },
      },
      required: ['validityDays'],
      additionalProperties: false,
      description: 'A single-use voucher issued when a redemption is confirmed; null: none',
    },
    'object',
  ),
};

const CREATE_EXAMPLE = {
  name: 'Free coffee',
  description: 'Any hot drink, any size',
  cost: 250,
  stock: 1000,
  perMemberLimit: 2,
  tiers: ['silver', 'gold', 'platinum'],
  validFrom: '2026-07-01T00:00:00+02:00',
  validUntil: '2026-09-01T00:00:00+02:00',
  voucher: { validityDays: 30 },
};

const REWARD_EXAMPLE = {
  id: 'rwd_01JY3Q5XK1G2W8H4N6P7R9S0TV',
  name: 'Free coffee',
  description: 'Any hot drink, any size',
  cost: 250,
  stock: 1000,
  perMemberLimit: 2,
  tiers: ['silver', 'gold', 'platinum'],
  validFrom: '2026-06-30T22:00:00.000Z',
  validUntil: '2026-08-31T22:00:00.000Z',
  voucher: { validityDays: 30 },
  archived: false,
  createdAt: '2026-06-15T10:00:00.000Z',
  updatedAt: '2026-06-15T10:00:00.000Z',
};

export const RewardCreateRequest = Type.Object(
  {
    name: fields.name,
    description: Type.Optional(fields.description),
    cost: fields.cost,
    stock: Type.Optional(fields.stock),
    perMemberLimit: Type.Optional(fields.perMemberLimit),
    tiers: Type.Optional(fields.tiers),
    validFrom: Type.Optional(fields.validFrom),
    validUntil: Type.Optional(fields.validUntil),
    voucher: Type.Optional(fields.voucher),
  },
  {
    additionalProperties: false,
    description: 'A new reward; fields left out are unlimited, unrestricted or empty',
    examples: [CREATE_EXAMPLE],
  },
);

export const RewardPatchRequest = Type.Object(
  {
    name: Type.Optional(fields.name),
    description: Type.Optional(fields.description),
    cost: Type.Optional(fields.cost),
    stock: Type.Optional(fields.stock),
    perMemberLimit: Type.Optional(fields.perMemberLimit),
    tiers: Type.Optional(fields.tiers),
    validFrom: Type.Optional(fields.validFrom),
    validUntil: Type.Optional(fields.validUntil),
    voucher: Type.Optional(fields.voucher),
  },
  {
    additionalProperties: false,
    description: 'The fields to change; a field left out keeps its value, null clears it',
    examples: [{ cost: 300, stock: null }],
  },
);

const rewardProperties = {
  id: Type.String({ examples: [REWARD_EXAMPLE.id] }),
  name: Type.String(),
  description: Type.String(),
  cost: Type.Integer(),
  stock: Type.Union([Type.Integer(), Type.Null()]),
  perMemberLimit: Type.Union([Type.Integer(), Type.Null()]),
  tiers: Type.Union([Type.Array(Type.String()), Type.Null()]),
  validFrom: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  validUntil: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  voucher: Type.Union([Type.Object({ validityDays: Type.Integer() }), Type.Null()]),
  archived: Type.Boolean({ description: 'Archived rewards are not listed nor offered' }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
};

export const RewardResponse = Type.Object(rewardProperties, { examples: [REWARD_EXAMPLE] });

export const RewardPage = Type.Object(
  {
    items: Type.Array(Type.Object(rewardProperties)),
    nextCursor: Type.Union([Type.String(), Type.Null()]),
  },
  {
    examples: [
      { items: [REWARD_EXAMPLE], nextCursor: 'cjpyd2RfMDFKWTNRNVhLMUcyVzhINE42UDdSOVMwVFY' },
    ],
  },
);

export const MemberRewards = Type.Object(
  {
    items: Type.Array(
      Type.Object({
        ...rewardProperties,
        affordable: Type.Boolean({
          description: "Whether the member's available points cover the cost now",
        }),
      }),
      { maxItems: MEMBER_REWARDS_MAX },
    ),
  },
  { examples: [{ items: [{ ...REWARD_EXAMPLE, affordable: true }] }] },
);

export const RewardListQuery = Type.Object({
  ...PageQuery.properties,
  archived: Type.Optional(
    Type.Enum(['true', 'false'], {
      description: 'true lists archived rewards too; default false',
    }),
  ),
});

export const RewardIdParam = Type.Object({
  rewardId: Type.String({ pattern: ID_PATTERN.source }),
});

export const MemberIdParam = Type.Object({
  memberId: Type.String({ pattern: ID_PATTERN.source }),
});
