import {
  cancelRedemption,
  confirmRedemption,
  placeHold,
  readRedemption,
  redeemVoucher,
  wire,
  type HoldOutcome,
  type SettleOutcome,
  type VoucherView,
} from '../../redemptions/index.ts';
import { principalOf, type App, type AppDeps } from '../app.ts';
import { idempotent, problemAnswer, type Answer } from '../idempotency.ts';
import { problem, sendProblem } from '../problems.ts';
import {
  Redemption,
  RedemptionIdParam,
  RedemptionRequest,
  Voucher,
  VoucherCodeParam,
} from '../redemption-schemas.ts';
import { IDEMPOTENCY_KEY_HEADER, problems } from '../schemas.ts';

function holdAnswer(outcome: HoldOutcome, memberId: string, rewardId?: string): Answer {
  switch (outcome.status) {
    case 'held':
      return { status: 201, body: wire(outcome.redemption) };
    case 'unknown_program':
      return problemAnswer(problem('not-found', 'the program of this token does not exist'));
    case 'unknown_member':
      return problemAnswer(problem('member-unknown', `member ${memberId} does not exist`));
    case 'unknown_reward':
      return problemAnswer(
        problem('reward-unavailable', `reward ${rewardId} is not in this program's catalogue`),
      );
    case 'insufficient_points':
      return problemAnswer(
        problem(
          'insufficient-points',
          `member ${memberId} has ${outcome.available} points available; ${outcome.needed} are needed`,
        ),
      );
    case 'reward_unavailable':
      return problemAnswer(problem('reward-unavailable', outcome.reason));
    case 'out_of_stock':
      return problemAnswer(problem('reward-out-of-stock', `reward ${rewardId} is out of stock`));
    case 'limit_reached':
      return problemAnswer(
        problem(
          'reward-limit-reached',
          `member ${memberId} has redeemed reward ${rewardId} ${outcome.limit} times, the most allowed`,
        ),
      );
    case 'no_point_value':
      return problemAnswer(
        problem('validation-failed', '1 field is invalid', [
          {
            pointer: '/points',
            detail:
              'this program sets no value for points (settings.redemption.pointValue): hold a reward instead',
          },
        ]),
      );
  }
}

function settleAnswer(outcome: SettleOutcome, id: string): Answer {
  switch (outcome.status) {
    case 'settled':
      return { status: 200, body: wire(outcome.redemption) };
    case 'not_found':
      return problemAnswer(problem('not-found', `no redemption ${id}`));
    case 'not_held': {
      const r = outcome.redemption;
      const when =
        r.status === 'expired' ? `expired at ${r.expiresAt.toISOString()}` : `is ${r.status}`;
      return problemAnswer(problem('redemption-not-held', `redemption ${id} ${when}`));
    }
  }
}

function wireVoucher(v: VoucherView) {
  return {
    code: v.code,
    redemptionId: v.redemptionId,
    memberId: v.memberId,
    rewardId: v.rewardId,
    issuedAt: v.issuedAt.toISOString(),
    expiresAt: v.expiresAt.toISOString(),
    redeemedAt: v.redeemedAt?.toISOString() ?? null,
  };
}

export function registerRedemptionRoutes(app: App, deps: AppDeps): void {
  app.post(
    '/v1/redemptions',
    {
      config: { scope: 'redemptions:write' },
      schema: {
        tags: ['redemptions'],
        operationId: 'createRedemption',
        summary: 'Hold points for a reward or a payment (two-phase: confirm or cancel next)',
        description:
          'Moves the points from available to held, soonest-expiring first. The hold is released if it is neither confirmed nor cancelled within the program’s hold time to live. Requires an Idempotency-Key.',
        security: [{ oauth2: ['redemptions:write'] }],
        headers: IDEMPOTENCY_KEY_HEADER,
        body: RedemptionRequest,
        response: { 201: Redemption, ...problems(400, 401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const body = request.body;
      const now = deps.now();
      const hold =
        'rewardId' in body
          ? { memberId: body.memberId, rewardId: body.rewardId }
          : { memberId: body.memberId, points: BigInt(body.points) };
      const answered = await idempotent(
        deps.handle.db,
        request,
        reply,
        { programId, operation: 'POST /v1/redemptions', required: true },
        async (trx) =>
          holdAnswer(
            await placeHold(trx, deps.programs, programId, hold, now),
            body.memberId,
            'rewardId' in body ? body.rewardId : undefined,
          ),
      );
      deps.members.invalidate(programId, [body.memberId]);
      return answered;
    },
  );

  app.get(
    '/v1/redemptions/:id',
    {
      config: { scope: 'members:read' },
      schema: {
        tags: ['redemptions'],
        operationId: 'getRedemption',
        summary: 'A redemption and its status',
        security: [{ oauth2: ['members:read'] }],
        params: RedemptionIdParam,
        response: { 200: Redemption, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const redemption = await readRedemption(deps.handle.db, programId, request.params.id);
      if (!redemption)
        return sendProblem(reply, problem('not-found', `no redemption ${request.params.id}`));
      return wire(redemption);
    },
  );

  for (const step of ['confirm', 'cancel'] as const) {
    app.post(
      // The id's pattern ends the parameter, so that the router sees the `:confirm` after it.
      `/v1/redemptions/:id(^[A-Za-z0-9._-]+)::${step}`,
      {
        config: { scope: 'redemptions:write' },
        schema: {
          tags: ['redemptions'],
          operationId: `${step}Redemption`,
          summary:
            step === 'confirm'
              ? 'Confirm a hold: the points are spent (and a voucher issued if the reward has one)'
              : 'Cancel a hold: the points go back to the member’s lots',
          description:
            'Idempotent: repeating the step answers the same redemption. Confirming a cancelled or expired redemption, or cancelling a confirmed one, is 409 redemption-not-held.',
          security: [{ oauth2: ['redemptions:write'] }],
          headers: IDEMPOTENCY_KEY_HEADER,
          params: RedemptionIdParam,
          response: { 200: Redemption, ...problems(400, 401, 403, 404, 409) },
        },
      },
      async (request, reply) => {
        const { programId } = principalOf(request);
        const id = request.params.id;
        const now = deps.now();
        const settle = step === 'confirm' ? confirmRedemption : cancelRedemption;
        let memberId: string | undefined;
        const answered = await idempotent(
          deps.handle.db,
          request,
          reply,
          { programId, operation: `POST /v1/redemptions/{id}:${step}`, required: false },
          async (trx) => {
            const outcome = await settle(trx, deps.programs, programId, id, now);
            if (outcome.status !== 'not_found') memberId = outcome.redemption.memberId;
            return settleAnswer(outcome, id);
          },
        );
        if (memberId !== undefined) deps.members.invalidate(programId, [memberId]);
        return answered;
      },
    );
  }

  app.post(
    '/v1/vouchers/:code(^[A-Za-z0-9._-]+)::redeem',
    {
      config: { scope: 'redemptions:write' },
      schema: {
        tags: ['redemptions'],
        operationId: 'redeemVoucher',
        summary: 'Redeem a single-use voucher (once, before it expires)',
        description:
          'Codes are read case-insensitively, with or without dashes. A second redemption is 409 voucher-not-redeemable, unless it repeats the first with the same Idempotency-Key.',
        security: [{ oauth2: ['redemptions:write'] }],
        headers: IDEMPOTENCY_KEY_HEADER,
        params: VoucherCodeParam,
        response: { 200: Voucher, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const code = request.params.code;
      const now = deps.now();
      return idempotent(
        deps.handle.db,
        request,
        reply,
        { programId, operation: 'POST /v1/vouchers/{code}:redeem', required: false },
        async (trx) => {
          const outcome = await redeemVoucher(trx, programId, code, now);
          switch (outcome.status) {
            case 'redeemed':
              return { status: 200, body: wireVoucher(outcome.voucher) };
            case 'not_found':
              return problemAnswer(problem('not-found', `no voucher ${code}`));
            case 'not_redeemable':
              return problemAnswer(
                problem(
                  'voucher-not-redeemable',
                  outcome.reason === 'redeemed'
                    ? `voucher ${outcome.voucher.code} was redeemed at ${outcome.voucher.redeemedAt?.toISOString()}`
                    : `voucher ${outcome.voucher.code} expired at ${outcome.voucher.expiresAt.toISOString()}`,
                ),
              );
          }
        },
      );
    },
  );
}
