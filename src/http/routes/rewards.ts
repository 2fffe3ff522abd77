import { Type } from 'typebox';
import {
  REWARDS_PAGE_SIZE_DEFAULT,
  archiveReward,
  createReward,
  decodeRewardCursor,
  getReward,
  listRewards,
  listRewardsForMember,
  updateReward,
  type Reward,
  type RewardPatch,
} from '../../rewards/index.ts';
import { describeCount, principalOf, type App, type AppDeps } from '../app.ts';
import { idempotent, problemAnswer } from '../idempotency.ts';
import { problem, sendProblem } from '../problems.ts';
import {
  MemberIdParam,
  MemberRewards,
  RewardCreateRequest,
  RewardIdParam,
  RewardListQuery,
  RewardPage,
  RewardPatchRequest,
  RewardResponse,
} from '../reward-schemas.ts';
import { problems } from '../schemas.ts';

const readErrors = problems(400, 401, 403, 404);
const writeErrors = problems(400, 401, 403, 404, 413, 415);

/** The reward as JSON: points as numbers (the domain keeps them within 2^53 − 1). */
export function rewardJson(reward: Reward) {
  return {
    id: reward.id,
    name: reward.name,
    description: reward.description,
    cost: Number(reward.cost),
    stock: reward.stock === null ? null : Number(reward.stock),
    perMemberLimit: reward.perMemberLimit,
    tiers: reward.tiers,
    validFrom: reward.validFrom?.toISOString() ?? null,
    validUntil: reward.validUntil?.toISOString() ?? null,
    voucher: reward.voucher,
    archived: reward.archivedAt !== null,
    createdAt: reward.createdAt.toISOString(),
    updatedAt: reward.updatedAt.toISOString(),
  };
}

type Body = Partial<{
  name: string;
  description: string;
  cost: number;
  stock: number | null;
  perMemberLimit: number | null;
  tiers: string[] | null;
  validFrom: string | null;
  validUntil: string | null;
  voucher: { validityDays: number } | null;
}>;

/** The request's fields as the domain takes them: points as bigint, absent stays absent. */
function patchOf(body: Body): RewardPatch {
  const { cost, stock, ...rest } = body;
  return {
    ...rest,
    ...(cost === undefined ? {} : { cost: BigInt(cost) }),
    ...(stock === undefined ? {} : { stock: stock === null ? null : BigInt(stock) }),
  };
}

function notFound(rewardId: string) {
  return problem('not-found', `no reward ${rewardId}`);
}

export function registerRewardRoutes(app: App, deps: AppDeps): void {
  app.post(
    '/v1/rewards',
    {
      config: { scope: 'rewards:write' },
      schema: {
        tags: ['rewards'],
        operationId: 'createReward',
        summary: 'Add a reward to the catalogue',
        description:
          'Accepts an optional Idempotency-Key header: the same key and body replay the first answer with `Idempotent-Replayed: true`; the same key with another body is 409.',
        security: [{ oauth2: ['rewards:write'] }],
        headers: Type.Object({
          'idempotency-key': Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 255,
              description: 'A unique string per intended create, reused only to retry it',
            }),
          ),
        }),
        body: RewardCreateRequest,
        response: { 201: RewardResponse, ...writeErrors, ...problems(409) },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const now = deps.now();
      const body = request.body;
      return idempotent(
        deps.handle.db,
        request,
        reply,
        { programId, operation: 'POST /v1/rewards', required: false },
        async (trx) => {
          const outcome = await createReward(
            trx,
            deps.programs,
            programId,
            { ...patchOf(body), name: body.name, cost: BigInt(body.cost) },
            now,
          );
          switch (outcome.status) {
            case 'created':
              return { status: 201, body: rewardJson(outcome.reward) };
            case 'invalid':
              return problemAnswer(
                problem('validation-failed', describeCount(outcome.errors.length), outcome.errors),
              );
            case 'unknown_program':
              return problemAnswer(
                problem('not-found', 'the program of this token does not exist'),
              );
          }
        },
      );
    },
  );

  app.get(
    '/v1/rewards',
    {
      config: { scope: 'rewards:read' },
      schema: {
        tags: ['rewards'],
        operationId: 'listRewards',
        summary: 'The catalogue, oldest first, paged',
        security: [{ oauth2: ['rewards:read'] }],
        querystring: RewardListQuery,
        response: { 200: RewardPage, ...readErrors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const { cursor, limit, archived } = request.query;
      const after = cursor === undefined ? undefined : decodeRewardCursor(cursor);
      if (cursor !== undefined && after === undefined) {
        return sendProblem(
          reply,
          problem('validation-failed', '1 field is invalid', [
            { pointer: '/querystring/cursor', detail: 'cursor is not one Patron issued' },
          ]),
        );
      }
      const page = await listRewards(deps.handle.db, programId, {
        after,
        limit: limit === undefined ? REWARDS_PAGE_SIZE_DEFAULT : Number(limit),
        archived: archived === 'true',
      });
      return { items: page.items.map(rewardJson), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/rewards/:rewardId',
    {
      config: { scope: 'rewards:read' },
      schema: {
        tags: ['rewards'],
        operationId: 'getReward',
        summary: 'A reward, archived or not',
        security: [{ oauth2: ['rewards:read'] }],
        params: RewardIdParam,
        response: { 200: RewardResponse, ...readErrors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const reward = await getReward(deps.handle.db, programId, request.params.rewardId);
      if (!reward) return sendProblem(reply, notFound(request.params.rewardId));
      return rewardJson(reward);
    },
  );

  app.patch(
    '/v1/rewards/:rewardId',
    {
      config: { scope: 'rewards:write' },
      schema: {
        tags: ['rewards'],
        operationId: 'updateReward',
        summary: 'Change some fields of a reward',
        description:
          'A field left out keeps its value; null clears a nullable one (stock null is unlimited). Redemptions already held keep the cost they were held at.',
        security: [{ oauth2: ['rewards:write'] }],
        params: RewardIdParam,
        body: RewardPatchRequest,
        response: { 200: RewardResponse, ...writeErrors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const outcome = await updateReward(
        deps.handle.db,
        deps.programs,
        programId,
        request.params.rewardId,
        patchOf(request.body),
        deps.now(),
      );
      switch (outcome.status) {
        case 'updated':
          return rewardJson(outcome.reward);
        case 'invalid':
          return sendProblem(
            reply,
            problem('validation-failed', describeCount(outcome.errors.length), outcome.errors),
          );
        case 'not_found':
          return sendProblem(reply, notFound(request.params.rewardId));
      }
    },
  );

  app.delete(
    '/v1/rewards/:rewardId',
    {
      config: { scope: 'rewards:write' },
      schema: {
        tags: ['rewards'],
        operationId: 'archiveReward',
        summary: 'Archive a reward',
        description:
          'An archived reward is no longer listed (unless `archived=true`) nor offered to members, but stays readable by id, as do its redemptions and vouchers. Archiving it again is also 204.',
        security: [{ oauth2: ['rewards:write'] }],
        params: RewardIdParam,
        response: { 204: Type.Null({ description: 'Archived' }), ...readErrors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const outcome = await archiveReward(
        deps.handle.db,
        programId,
        request.params.rewardId,
        deps.now(),
      );
      if (outcome.status === 'not_found')
        return sendProblem(reply, notFound(request.params.rewardId));
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/members/:memberId/rewards',
    {
      config: { scope: 'rewards:read' },
      schema: {
        tags: ['rewards'],
        operationId: 'listMemberRewards',
        summary: 'The rewards a member can redeem now, cheapest first',
        description:
          "Rewards that are not archived, inside their validity window, allowed to the member's tier, in stock and under the member's limit; `affordable` says whether the member's available points cover the cost. Not paged: at most 500 rewards, the cheapest.",
        security: [{ oauth2: ['rewards:read'] }],
        params: MemberIdParam,
        response: { 200: MemberRewards, ...readErrors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const outcome = await listRewardsForMember(
        deps.handle.db,
        programId,
        request.params.memberId,
        deps.now(),
      );
      if (outcome.status === 'not_found')
        return sendProblem(reply, problem('not-found', `no member ${request.params.memberId}`));
      return {
        items: outcome.items.map((item) => ({
          ...rewardJson(item),
          affordable: item.affordable,
        })),
      };
    },
  );
}
