import { Type } from 'typebox';
import {
  QueueFullError,
  explainEvent,
  processEvents,
  type EventOutcome,
  type EventResponse as EventAnswer,
} from '../../events/index.ts';
import {
  BATCH_BODY_BYTES_MAX,
  describeCount,
  principalOf,
  type App,
  type AppDeps,
} from '../app.ts';
import { problem, sendProblem, type ProblemDocument } from '../problems.ts';
import {
  BatchRequest,
  BatchResponse,
  EventRequest,
  EventResponse,
  IdParam,
  problems,
} from '../schemas.ts';

const errorResponses = {
  ...problems(400, 401, 403, 409, 413, 422),
};

/** Maps a domain outcome to an HTTP status and body (problem documents for failures). */
export function outcomeToHttp(
  outcome: EventOutcome,
):
  | { status: 200 | 201; body: EventAnswer; problem?: never }
  | { status: number; problem: ProblemDocument } {
  switch (outcome.status) {
    case 'created':
      return { status: 201, body: outcome.body };
    case 'replayed':
      return { status: 200, body: outcome.body };
    case 'invalid':
      return {
        status: 400,
        problem: problem('validation-failed', describeCount(outcome.errors.length), outcome.errors),
      };
    case 'conflict':
      return { status: 409, problem: problem('idempotency-conflict', outcome.detail) };
    case 'rejected':
      return {
        status: 422,
        problem: problem(outcome.code, outcome.detail, [
          { pointer: outcome.pointer, detail: outcome.detail },
        ]),
      };
    case 'unknown_program':
      return {
        status: 404,
        problem: problem('not-found', 'the program of this token does not exist'),
      };
  }
}

export function registerEventRoutes(app: App, deps: AppDeps): void {
  app.post(
    '/v1/events',
    {
      config: { scope: 'events:write' },
      // Events are validated by the domain (src/events/validate.ts) against the same rules
      // this schema states, because a batch must validate each item on its own; the schema
      // documents the body and Fastify's own check is not applied (attachValidation).
      attachValidation: true,
      schema: {
        tags: ['events'],
        operationId: 'createEvent',
        summary: 'Ingest one event (idempotent by id)',
        description:
          '201 the first time, 200 with `replayed: true` when the same id comes again with the same body, 409 with another body. A refund is `type: "refund"` with `refundOf` and an amount; its pointsEarned is negative.',
        security: [{ oauth2: ['events:write'] }],
        body: EventRequest,
        response: { 200: EventResponse, 201: EventResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      let outcome: EventOutcome;
      try {
        outcome = await deps.events.submit(principal.programId, {
          raw: request.body,
          at: '',
          partnerId: principal.clientId,
        });
      } catch (error) {
        if (error instanceof QueueFullError)
          throw Object.assign(new Error(error.message), { code: 'PATRON_OVERLOADED' });
        throw error;
      }
      const http = outcomeToHttp(outcome);
      if (http.problem) return sendProblem(reply, http.problem);
      return reply.code(http.status).send(http.body);
    },
  );

  app.post(
    '/v1/events::batch',
    {
      config: { scope: 'events:write' },
      bodyLimit: BATCH_BODY_BYTES_MAX,
      schema: {
        tags: ['events'],
        operationId: 'createEventsBatch',
        summary: 'Ingest 1 to 1,000 events in one request',
        description:
          'Answers 200 with one result per event, in order: the status and body (or problem) the event would have had on its own. One bad event fails only itself.',
        security: [{ oauth2: ['events:write'] }],
        body: BatchRequest,
        response: {
          200: BatchResponse,
          ...problems(400, 401, 403, 413),
        },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const outcomes = await processEvents(
        { db: deps.handle.events, programs: deps.programs, now: deps.now, members: deps.members },
        principal.programId,
        request.body.events.map((raw, i) => ({
          raw,
          at: `/events/${i}`,
          partnerId: principal.clientId,
        })),
      );
      return {
        results: outcomes.map((outcome) => {
          const http = outcomeToHttp(outcome);
          return http.problem
            ? { status: http.status, problem: http.problem }
            : { status: http.status, body: http.body };
        }),
      };
    },
  );

  app.get(
    '/v1/events/:id/explain',
    {
      config: { scope: 'events:read' },
      schema: {
        tags: ['events'],
        operationId: 'explainEvent',
        summary: 'Why an event earned what it did',
        description:
          'The program version, each rule (fired or not, why not, its contribution), multipliers, rounding, the tier decision, and the postings — as recorded when the event was processed.',
        security: [{ oauth2: ['events:read'] }],
        params: IdParam,
        response: {
          200: Type.Object(
            {
              eventId: Type.String(),
              type: Type.String(),
              memberId: Type.String(),
              occurredAt: Type.String({ format: 'date-time' }),
              receivedAt: Type.String({ format: 'date-time' }),
              programVersion: Type.Integer(),
              pointsEarned: Type.Integer(),
              refundOf: Type.Union([Type.String(), Type.Null()]),
              refunds: Type.Array(Type.Object({ eventId: Type.String(), points: Type.Integer() })),
              postings: Type.Array(
                Type.Object({
                  entryId: Type.String(),
                  kind: Type.String(),
                  account: Type.String(),
                  amount: Type.Integer(),
                  lotId: Type.Union([Type.String(), Type.Null()]),
                }),
              ),
              trace: Type.Unknown({ description: 'The rule trace recorded with the event' }),
            },
            {
              examples: [
                {
                  eventId: 'ord-1001',
                  type: 'purchase',
                  memberId: 'alice',
                  occurredAt: '2026-11-21T22:30:00.000Z',
                  receivedAt: '2026-11-21T22:30:00.120Z',
                  programVersion: 1,
                  pointsEarned: 75,
                  refundOf: null,
                  refunds: [],
                  postings: [
                    { entryId: '17', kind: 'earn', account: 'available', amount: 75, lotId: '17' },
                    { entryId: '17', kind: 'earn', account: 'issued', amount: -75, lotId: null },
                  ],
                  trace: { points: 75 },
                },
              ],
            },
          ),
          ...problems(401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const explanation = await explainEvent(
        deps.handle.db,
        principal.programId,
        request.params.id,
      );
      if (!explanation)
        return sendProblem(reply, problem('not-found', `no event ${request.params.id}`));
      return explanation;
    },
  );
}
