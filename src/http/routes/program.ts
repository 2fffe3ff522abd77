import { Type } from 'typebox';
import { listChanges, type ProgramChange } from '../../programs/changes.ts';
import { SEGMENTS_REFRESH_JOB } from '../../segments/refresh.ts';
import { diffPrograms } from '../../programs/diff.ts';
import {
  currentVersion,
  listProgramVersions,
  publishProgram,
  REASON_LENGTH_MAX,
  readProgramVersion,
  rollbackProgram,
  type ProgramVersionSummary,
  type ProgramVersionView,
} from '../../programs/index.ts';
import { ProgramDocumentSchema } from '../../rules/index.ts';
import { describeCount, principalOf, type App, type AppDeps } from '../app.ts';
import { decodeCursor, encodeCursor, sendBadCursor } from '../cursor.ts';
import { idempotent, problemAnswer } from '../idempotency.ts';
import { problem, sendProblem } from '../problems.ts';
import {
  ChangePage,
  Diff,
  DiffQuery,
  ListQuery,
  ProgramVersion,
  Reason,
  RequiredReasonRequest,
  VersionPage,
  VersionParam,
} from '../program-schemas.ts';
import { IDEMPOTENCY_KEY_HEADER, problems } from '../schemas.ts';

/** Program documents are larger than other bodies: up to 500 rules with their conditions. */
export const PROGRAM_BODY_BYTES_MAX = 1024 * 1024;
const PAGE_SIZE_DEFAULT = 50;

const errors = {
  ...problems(401, 403, 404),
};

export function versionSummaryJson(v: ProgramVersionSummary, current: number | undefined) {
  return {
    programId: v.programId,
    version: v.version,
    current: v.version === current,
    createdAt: v.createdAt.toISOString(),
    createdBy: v.createdBy,
    reason: v.reason,
    origin: v.origin,
    draftId: v.draftId,
    rollbackOf: v.rollbackOf,
  };
}

export function versionJson(v: ProgramVersionView, current: number | undefined) {
  return { ...versionSummaryJson(v, current), document: v.document };
}

function changeJson(c: ProgramChange) {
  return {
    id: c.id,
    at: c.at.toISOString(),
    actor: c.actor,
    action: c.action,
    reason: c.reason,
    version: c.version,
    draftId: c.draftId,
    publicationId: c.publicationId,
  };
}

/**
 * After a publish: members' rule segments follow the new definitions without waiting for
 * their events. Best effort: the publish has committed, and the daily pass catches up if
 * the job cannot be queued now.
 */
export async function refreshSegmentsSoon(deps: AppDeps, programId: string): Promise<void> {
  try {
    await deps.sendJob?.(SEGMENTS_REFRESH_JOB, { programId });
  } catch (error) {
    if (deps.logger) deps.logger.warn({ err: error, programId }, 'segment refresh not queued');
  }
}

export function registerProgramRoutes(app: App, deps: AppDeps): void {
  const db = deps.handle.db;

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
      const current = await readProgramVersion(db, programId);
      if (!current)
        return sendProblem(reply, problem('not-found', 'the program of this token does not exist'));
      return versionJson(current, current.version);
    },
  );

  app.put(
    '/v1/program',
    {
      config: { scope: 'program:write' },
      bodyLimit: PROGRAM_BODY_BYTES_MAX,
      // The document is validated in full by the domain (schema, references, CEL type
      // checks with positions), which reports every error at once; Fastify's check would
      // stop at the schema, so it only documents the body here.
      attachValidation: true,
      schema: {
        tags: ['program'],
        operationId: 'putProgram',
        summary: 'Validate a new document and publish it as the next version',
        description:
          'Publishes at once as the next immutable version; events evaluate against exactly one version, named in their answer. To prepare a change first, use a draft.',
        security: [{ oauth2: ['program:write'] }],
        querystring: Type.Object({ reason: Type.Optional(Reason) }),
        body: ProgramDocumentSchema,
        response: { 200: ProgramVersion, ...problems(400, 413), ...errors },
      },
    },
    async (request, reply) => {
      const { programId, clientId } = principalOf(request);
      // Only the body may fail Fastify's check here (see attachValidation above).
      const reason = (request.query as { reason?: unknown }).reason;
      if (
        reason !== undefined &&
        (typeof reason !== 'string' || reason.length === 0 || reason.length > REASON_LENGTH_MAX)
      ) {
        return sendProblem(
          reply,
          problem('validation-failed', '1 field is invalid', [
            {
              pointer: '/querystring/reason',
              detail: `reason must be 1-${REASON_LENGTH_MAX} characters`,
            },
          ]),
        );
      }
      const outcome = await publishProgram(
        db,
        programId,
        request.body,
        `client:${clientId}`,
        reason ?? null,
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
      await refreshSegmentsSoon(deps, programId);
      const published = await readProgramVersion(db, programId, outcome.version);
      return versionJson(published as ProgramVersionView, outcome.version);
    },
  );

  app.get(
    '/v1/program/versions',
    {
      config: { scope: 'program:read' },
      schema: {
        tags: ['program'],
        operationId: 'listProgramVersions',
        summary: 'The published versions, newest first, without their documents',
        security: [{ oauth2: ['program:read'] }],
        querystring: Type.Omit(ListQuery, ['status']),
        response: { 200: VersionPage, ...problems(400), ...errors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const { cursor, limit } = request.query;
      const before = cursor === undefined ? undefined : decodeCursor('v', cursor, /^[0-9]{1,9}$/);
      if (cursor !== undefined && before === undefined) return sendBadCursor(reply);
      const [page, current] = await Promise.all([
        listProgramVersions(db, programId, {
          before: before === undefined ? undefined : Number(before),
          limit: limit === undefined ? PAGE_SIZE_DEFAULT : Number(limit),
        }),
        currentVersion(db, programId),
      ]);
      return {
        items: page.items.map((v) => versionSummaryJson(v, current)),
        nextCursor: page.next === null ? null : encodeCursor('v', page.next),
      };
    },
  );

  app.get(
    '/v1/program/versions/:version',
    {
      config: { scope: 'program:read' },
      schema: {
        tags: ['program'],
        operationId: 'getProgramVersion',
        summary: 'One (immutable) version of the program document',
        security: [{ oauth2: ['program:read'] }],
        params: VersionParam,
        response: { 200: ProgramVersion, ...problems(400), ...errors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const [found, current] = await Promise.all([
        readProgramVersion(db, programId, Number(request.params.version)),
        currentVersion(db, programId),
      ]);
      if (!found)
        return sendProblem(reply, problem('not-found', `no version ${request.params.version}`));
      return versionJson(found, current);
    },
  );

  app.get(
    '/v1/program/versions/:version/diff',
    {
      config: { scope: 'program:read' },
      schema: {
        tags: ['program'],
        operationId: 'diffProgramVersion',
        summary: 'What a version changed: its differences from another version',
        description:
          'Rules and tier levels are matched by id (added, removed, changed field by field, reordered); every other change is named by a JSON Pointer. `against` defaults to the version before.',
        security: [{ oauth2: ['program:read'] }],
        params: VersionParam,
        querystring: DiffQuery,
        response: { 200: Diff, ...problems(400), ...errors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const version = Number(request.params.version);
      const against =
        request.query.against === undefined ? version - 1 : Number(request.query.against);
      const [to, from] = await Promise.all([
        readProgramVersion(db, programId, version),
        against === 0 ? undefined : readProgramVersion(db, programId, against),
      ]);
      if (!to) return sendProblem(reply, problem('not-found', `no version ${version}`));
      if (against !== 0 && !from)
        return sendProblem(reply, problem('not-found', `no version ${against}`));
      return {
        from: against === 0 ? 'nothing' : `version ${against}`,
        to: `version ${version}`,
        ...diffPrograms(from?.document ?? {}, to.document),
      };
    },
  );

  app.post(
    '/v1/program/versions/:version(^[A-Za-z0-9._-]+)::rollback',
    {
      config: { scope: 'program:write' },
      schema: {
        tags: ['program'],
        operationId: 'rollbackProgram',
        summary: 'Publish a copy of an earlier version as the next version',
        description:
          'Versions are immutable: a rollback is a new version whose document equals the one named, with `origin: rollback` and the reason in the change log.',
        security: [{ oauth2: ['program:write'] }],
        headers: IDEMPOTENCY_KEY_HEADER,
        params: VersionParam,
        body: RequiredReasonRequest,
        response: { 200: ProgramVersion, ...problems(400, 409), ...errors },
      },
    },
    async (request, reply) => {
      const { programId, clientId } = principalOf(request);
      const to = Number(request.params.version);
      let published = false;
      const answered = await idempotent(
        db,
        request,
        reply,
        { programId, operation: 'POST /v1/program/versions/{version}:rollback', required: false },
        async (trx) => {
          const outcome = await rollbackProgram(
            trx,
            programId,
            to,
            `client:${clientId}`,
            request.body.reason,
          );
          if (outcome.status === 'unknown_version')
            return problemAnswer(problem('not-found', `no version ${to}`));
          if (outcome.status === 'unknown_program')
            return problemAnswer(problem('not-found', 'the program of this token does not exist'));
          published = true;
          const view = await readProgramVersion(trx, programId, outcome.version);
          return { status: 200, body: versionJson(view as ProgramVersionView, outcome.version) };
        },
      );
      if (published) {
        deps.programs.forgetLatest(programId);
        await refreshSegmentsSoon(deps, programId);
      }
      return answered;
    },
  );

  app.get(
    '/v1/program/changes',
    {
      config: { scope: 'program:read' },
      schema: {
        tags: ['program'],
        operationId: 'listProgramChanges',
        summary: 'The change log: who changed the rules, when and why, newest first',
        security: [{ oauth2: ['program:read'] }],
        querystring: Type.Object({
          ...Type.Omit(ListQuery, ['status']).properties,
          draftId: Type.Optional(Type.String({ pattern: '^drf_[0-9A-Z]{26}$' })),
        }),
        response: { 200: ChangePage, ...problems(400), ...errors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const { cursor, limit, draftId } = request.query;
      const before =
        cursor === undefined ? undefined : decodeCursor('c', cursor, /^chg_[0-9A-Z]{26}$/);
      if (cursor !== undefined && before === undefined) return sendBadCursor(reply);
      const page = await listChanges(db, programId, {
        before,
        draftId,
        limit: limit === undefined ? PAGE_SIZE_DEFAULT : Number(limit),
      });
      return {
        items: page.items.map(changeJson),
        nextCursor: page.next === null ? null : encodeCursor('c', page.next),
      };
    },
  );
}
