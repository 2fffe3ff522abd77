import { releaseEventPending, voidEventPending, type PendingOutcome } from '../../pending/index.ts';
import { principalOf, type App, type AppDeps } from '../app.ts';
import { idempotent, problemAnswer, type Answer } from '../idempotency.ts';
import { problem } from '../problems.ts';
import { IdParam, PendingDecision, problems } from '../schemas.ts';

function answer(outcome: PendingOutcome, eventId: string, step: 'release' | 'void'): Answer {
  switch (outcome.status) {
    case 'done': {
      const d = outcome.decision;
      return {
        status: 200,
        body: {
          eventId: d.eventId,
          memberId: d.memberId,
          points: Number(d.points),
          balance: {
            available: Number(d.balance.available),
            pending: Number(d.balance.pending),
            held: Number(d.balance.held),
          },
        },
      };
    }
    case 'unknown_event':
      return problemAnswer(problem('not-found', `no event ${eventId}`));
    case 'nothing_pending':
      return problemAnswer(
        problem(
          'no-pending-points',
          `event ${eventId} earned ${outcome.earned} points and none of them is pending: nothing to ${step}`,
        ),
      );
  }
}

export function registerPendingRoutes(app: App, deps: AppDeps): void {
  for (const step of ['release', 'void'] as const) {
    app.post(
      // The id's pattern ends the parameter, so that the router sees the `:release` after it.
      `/v1/events/:id(^[A-Za-z0-9._-]+)::${step}`,
      {
        config: { scope: 'events:write' },
        schema: {
          tags: ['events'],
          operationId: `${step}EventPoints`,
          summary:
            step === 'release'
              ? 'Release the pending points of an event now (a review approved them)'
              : 'Void the pending points of an event (a review refused them)',
          description:
            'Points of the event types in settings.pending wait in the pending account until their window ends; a review decides early. Takes an optional Idempotency-Key.',
          security: [{ oauth2: ['events:write'] }],
          params: IdParam,
          response: { 200: PendingDecision, ...problems(400, 401, 403, 404, 409) },
        },
      },
      async (request, reply) => {
        const { programId } = principalOf(request);
        const id = request.params.id;
        const now = deps.now();
        const decide = step === 'release' ? releaseEventPending : voidEventPending;
        let memberId: string | undefined;
        const answered = await idempotent(
          deps.handle.db,
          request,
          reply,
          { programId, operation: `POST /v1/events/{id}:${step}`, required: false },
          async (trx) => {
            const outcome = await decide(trx, deps.programs, programId, id, now);
            if (outcome.status === 'done') memberId = outcome.decision.memberId;
            return answer(outcome, id, step);
          },
        );
        if (memberId !== undefined) deps.members.invalidate(programId, [memberId]);
        return answered;
      },
    );
  }
}
