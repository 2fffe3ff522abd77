import { sql } from 'kysely';
import { Type } from 'typebox';
import { migrationsDone } from '../../db/migrate.ts';
import type { App, AppDeps } from '../app.ts';
import { PROBLEMS, problem, problemPage, sendProblem, type ProblemCode } from '../problems.ts';
import { Problem, problems } from '../schemas.ts';

export function registerSystemRoutes(app: App, deps: AppDeps): void {
  app.addSchema(Problem);

  app.get(
    '/health',
    {
      schema: {
        tags: ['system'],
        operationId: 'getHealth',
        summary: 'The process is up',
        security: [],
        response: {
          200: Type.Object({ status: Type.Literal('ok') }, { examples: [{ status: 'ok' }] }),
        },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      schema: {
        tags: ['system'],
        operationId: 'getReady',
        summary: 'The database is reachable and migrated',
        security: [],
        response: {
          200: Type.Object({ status: Type.Literal('ready') }, { examples: [{ status: 'ready' }] }),
          ...problems(503),
        },
      },
    },
    async (_request, reply) => {
      try {
        await sql`SELECT 1`.execute(deps.handle.db);
        if (await migrationsDone(deps.handle.db)) return { status: 'ready' as const };
        reply.header('retry-after', '5');
        return sendProblem(
          reply,
          problem('service-unavailable', 'database migrations are not done'),
        );
      } catch {
        reply.header('retry-after', '5');
        return sendProblem(reply, problem('service-unavailable', 'the database is unreachable'));
      }
    },
  );

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get(
    '/problems/:code',
    {
      schema: {
        tags: ['system'],
        operationId: 'getProblem',
        summary: 'Explains an error code',
        security: [],
        params: Type.Object({ code: Type.String({ maxLength: 64 }) }),
        response: {
          200: {
            description:
              'The page explaining the code (HTML), or its registry entry with Accept: application/json',
            content: {
              'application/json': {
                schema: Type.Object(
                  {
                    type: Type.String(),
                    code: Type.String(),
                    status: Type.Integer(),
                    title: Type.String(),
                    description: Type.String(),
                  },
                  {
                    examples: [
                      {
                        type: '/problems/insufficient-scope',
                        code: 'insufficient-scope',
                        status: 403,
                        title: 'The token lacks a scope this operation needs',
                        description:
                          'Request a token with the scope named in `detail`; the client must hold it.',
                      },
                    ],
                  },
                ),
              },
              'text/html': {
                schema: Type.String({ examples: ['<!doctype html><html>…</html>'] }),
              },
            },
          },
          ...problems(404),
        },
      },
    },
    async (request, reply) => {
      const code = request.params.code as ProblemCode;
      if (!Object.hasOwn(PROBLEMS, code))
        return sendProblem(reply, problem('not-found', `no problem type ${code}`));
      if ((request.headers.accept ?? '').includes('application/json')) {
        return { type: `/problems/${code}`, code, ...PROBLEMS[code] };
      }
      return reply.type('text/html; charset=utf-8').send(problemPage(code));
    },
  );
}
