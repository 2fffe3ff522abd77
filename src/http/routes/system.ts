import { sql } from 'kysely';
import { Type } from 'typebox';
import { migrationsDone } from '../../db/migrate.ts';
import type { App, AppDeps } from '../app.ts';
import { PROBLEMS, problem, problemPage, sendProblem, type ProblemCode } from '../problems.ts';
import { Problem } from '../schemas.ts';

export function registerSystemRoutes(app: App, deps: AppDeps): void {
  app.addSchema(Problem);

  app.get(
    '/health',
    {
      schema: {
        tags: ['system'],
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
        summary: 'The database is reachable and migrated',
        security: [],
        response: {
          200: Type.Object({ status: Type.Literal('ready') }, { examples: [{ status: 'ready' }] }),
          503: Type.Ref('Problem'),
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
        summary: 'Explains an error code',
        security: [],
        params: Type.Object({ code: Type.String({ maxLength: 64 }) }),
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
