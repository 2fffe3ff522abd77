import { Type } from 'typebox';
import {
  publishProgram,
  readProgramVersion,
  type ProgramVersionView,
} from '../../programs/index.ts';
import { ProgramDocumentSchema, RETAIL_EXAMPLE } from '../../rules/index.ts';
import { describeCount, principalOf, type App, type AppDeps } from '../app.ts';
import { problem, sendProblem } from '../problems.ts';
import { problems } from '../schemas.ts';

const ProgramVersion = Type.Object(
  {
    programId: Type.String(),
    version: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
    createdBy: Type.String(),
    document: ProgramDocumentSchema,
  },
  {
    examples: [
      {
        programId: 'demo',
        version: 3,
        createdAt: '2026-11-21T09:00:00.000Z',
        createdBy: 'client:demo',
        document: RETAIL_EXAMPLE,
      },
    ],
  },
);

const errors = {
  ...problems(401, 403, 404),
};

function view(v: ProgramVersionView) {
  return {
    programId: v.programId,
    version: v.version,
    createdAt: v.createdAt.toISOString(),
    createdBy: v.createdBy,
    document: v.document,
  };
}

export function registerProgramRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/v1/program',
    {
      config: { scope: 'program:read' },
      schema: {
        tags: ['program'],
        operationId: 'getProgram',
        summary: 'The program document in force',
        security: [{ oauth2: ['program:read'] }],
        response: { 200: ProgramVersion, ...errors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const current = await readProgramVersion(deps.handle.db, programId);
      if (!current)
        return sendProblem(reply, problem('not-found', 'the program of this token does not exist'));
      return view(current);
    },
  );

  app.put(
    '/v1/program',
    {
      config: { scope: 'program:write' },
      // The document is validated in full by the domain (schema, references, CEL type
      // checks with positions), which reports every error at once; Fastify's check would
      // stop at the schema, so it only documents the body here.
      attachValidation: true,
      schema: {
        tags: ['program'],
        operationId: 'putProgram',
        summary: 'Validate a new document and publish it as the next version',
        description:
          'Publishes at once as the next immutable version; events evaluate against exactly one version, named in their answer.',
        security: [{ oauth2: ['program:write'] }],
        body: ProgramDocumentSchema,
        response: { 200: ProgramVersion, ...problems(400), ...errors },
      },
    },
    async (request, reply) => {
      const { programId, clientId } = principalOf(request);
      const outcome = await publishProgram(
        deps.handle.db,
        programId,
        request.body,
        `client:${clientId}`,
      );
      if (outcome.status === 'invalid') {
        return sendProblem(
          reply,
          problem('validation-failed', describeCount(outcome.errors.length), outcome.errors),
        );
      }
      if (outcome.status === 'unknown_program')
        return sendProblem(reply, problem('not-found', 'the program of this token does not exist'));
      deps.programs.forgetLatest(programId);
      const published = await readProgramVersion(deps.handle.db, programId, outcome.version);
      return view(published as ProgramVersionView);
    },
  );

  app.get(
    '/v1/program/versions/:version',
    {
      config: { scope: 'program:read' },
      schema: {
        tags: ['program'],
        operationId: 'getProgramVersion',
        summary: 'An earlier (immutable) version of the program document',
        security: [{ oauth2: ['program:read'] }],
        params: Type.Object({ version: Type.String({ pattern: '^[1-9][0-9]{0,8}$' }) }),
        response: { 200: ProgramVersion, ...problems(400), ...errors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const found = await readProgramVersion(
        deps.handle.db,
        programId,
        Number(request.params.version),
      );
      if (!found)
        return sendProblem(reply, problem('not-found', `no version ${request.params.version}`));
      return view(found);
    },
  );
}
