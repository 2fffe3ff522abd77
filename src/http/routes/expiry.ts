// Members with points expiring soon (C7): the list the expiry warnings are drawn from, for
// support and marketing to act on before the points are gone.
import { Type } from 'typebox';
import {
  decodeExpiringCursor,
  EXPIRING_PAGE_SIZE_DEFAULT,
  EXPIRING_PAGE_SIZE_MAX,
  expiryWarningDays,
  listExpiringMembers,
} from '../../expiry/index.ts';
import { EXPIRY_WARNING_DAYS_MAX } from '../../rules/index.ts';
import { principalOf, type App, type AppDeps } from '../app.ts';
import { problem, sendProblem } from '../problems.ts';
import { problems } from '../schemas.ts';

const ExpiringQuery = Type.Object({
  // Query strings are text and Ajv does not coerce them: digits by pattern, converted here.
  withinDays: Type.Optional(
    Type.String({
      pattern: '^(?:[0-9]|[1-9][0-9]|[1-2][0-9]{2}|3[0-5][0-9]|36[0-5])$',
      description: `0 to ${EXPIRY_WARNING_DAYS_MAX} days from now; default the program's settings.expiry.warningDays`,
      examples: ['30'],
    }),
  ),
  cursor: Type.Optional(
    Type.String({ maxLength: 200, description: 'Opaque cursor from nextCursor' }),
  ),
  limit: Type.Optional(
    Type.String({
      pattern: '^(?:[1-9]|[1-9][0-9]|[1-4][0-9]{2}|500)$',
      description: `1 to ${EXPIRING_PAGE_SIZE_MAX}, default ${EXPIRING_PAGE_SIZE_DEFAULT}`,
    }),
  ),
});

const ExpiringPage = Type.Object(
  {
    items: Type.Array(
      Type.Object({
        memberId: Type.String(),
        points: Type.Integer({ description: 'Points that expire at `at`' }),
        at: Type.String({
          format: 'date-time',
          description: "The member's next expiry (past when the expiry job has yet to run)",
        }),
      }),
    ),
    nextCursor: Type.Union([Type.String(), Type.Null()]),
  },
  {
    examples: [
      {
        items: [{ memberId: 'alice', points: 1234, at: '2027-12-31T23:00:00.000Z' }],
        nextCursor: null,
      },
    ],
  },
);

export function registerExpiryRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/v1/members::expiring',
    {
      config: { scope: 'members:read' },
      schema: {
        tags: ['members'],
        operationId: 'listExpiringMembers',
        summary: 'Members with points expiring within a number of days, in member id order',
        security: [{ oauth2: ['members:read'] }],
        querystring: ExpiringQuery,
        response: { 200: ExpiringPage, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const { cursor, limit, withinDays } = request.query;
      const after = cursor === undefined ? undefined : decodeExpiringCursor(cursor);
      if (cursor !== undefined && after === undefined) {
        return sendProblem(
          reply,
          problem('validation-failed', '1 field is invalid', [
            { pointer: '/querystring/cursor', detail: 'cursor is not one Patron issued' },
          ]),
        );
      }
      const now = deps.now();
      const program = await deps.programs.current(deps.handle.db, programId);
      if (!program)
        return sendProblem(reply, problem('not-found', 'the program of this token does not exist'));
      const page = await listExpiringMembers(
        deps.handle.db,
        deps.programs,
        programId,
        now,
        withinDays === undefined ? expiryWarningDays(program.document) : Number(withinDays),
        after,
        limit === undefined ? EXPIRING_PAGE_SIZE_DEFAULT : Number(limit),
      );
      if (!page)
        return sendProblem(reply, problem('not-found', 'the program of this token does not exist'));
      return {
        items: page.items.map((i) => ({
          memberId: i.memberId,
          points: Number(i.points),
          at: i.at.toISOString(),
        })),
        nextCursor: page.nextCursor,
      };
    },
  );
}
