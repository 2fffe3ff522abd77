// Drafts and scheduled publications over HTTP: start a draft, save it, validate it, compare it
// with any version, publish it now or at an instant, discard it; list and cancel publications.
import type { FastifyReply } from 'fastify';
import {
  SCHEDULE_AHEAD_DAYS_MAX,
  cancelPublication,
  createDraft,
  discardDraft,
  listDrafts,
  listPublications,
  publishDraft,
  readDraft,
  readPublication,
  updateDraft,
  type Draft,
  type Publication,
} from '../../programs/drafts.ts';
import { diffPrograms } from '../../programs/diff.ts';
import {
  currentVersion,
  readProgramVersion,
  type ProgramVersionView,
} from '../../programs/index.ts';
import { validateProgramDocument } from '../../rules/index.ts';
import { describeCount, principalOf, type App, type AppDeps } from '../app.ts';
import { decodeCursor, encodeCursor, sendBadCursor } from '../cursor.ts';
import { idempotent, problemAnswer, send, type Answer } from '../idempotency.ts';
import { problem, sendProblem } from '../problems.ts';
import {
  Diff,
  DiffQuery,
  Draft as DraftSchema,
  DraftCreateRequest,
  DraftIdParam,
  DraftPage,
  DraftPatchRequest,
  DraftPublishRequest,
  ListQuery,
  ProgramVersion,
  Publication as PublicationSchema,
  PublicationIdParam,
  PublicationPage,
  ReasonRequest,
  Validation,
} from '../program-schemas.ts';
import { IDEMPOTENCY_KEY_HEADER, problems } from '../schemas.ts';
import { PROGRAM_BODY_BYTES_MAX, refreshSegmentsSoon, versionJson } from './program.ts';

const PAGE_SIZE_DEFAULT = 50;
const DRAFT_ID = /^drf_[0-9A-Z]{26}$/;
const PUBLICATION_ID = /^pub_[0-9A-Z]{26}$/;
const readErrors = problems(400, 401, 403, 404);
const writeErrors = problems(400, 401, 403, 404, 409, 413, 415);

function validationOf(document: unknown) {
  const result = validateProgramDocument(document);
  return result.ok ? { valid: true, errors: [] } : { valid: false, errors: result.errors };
}

function draftSummaryJson(d: Omit<Draft, 'document'>, current: number | undefined) {
  return {
    id: d.id,
    name: d.name,
    status: d.status,
    revision: d.revision,
    baseVersion: d.baseVersion,
    outdated: d.status !== 'published' && current !== undefined && current !== d.baseVersion,
    publishedVersion: d.publishedVersion,
    createdAt: d.createdAt.toISOString(),
    createdBy: d.createdBy,
    updatedAt: d.updatedAt.toISOString(),
    updatedBy: d.updatedBy,
  };
}

function draftJson(d: Draft, current: number | undefined) {
  return {
    ...draftSummaryJson(d, current),
    document: d.document,
    validation: validationOf(d.document),
  };
}

function publicationJson(p: Publication) {
  return {
    id: p.id,
    draftId: p.draftId,
    effectiveAt: p.effectiveAt.toISOString(),
    reason: p.reason,
    status: p.status,
    version: p.version,
    settledAt: p.settledAt?.toISOString() ?? null,
    createdAt: p.createdAt.toISOString(),
    createdBy: p.createdBy,
  };
}

function notOpen(id: string, status: string): Answer {
  return problemAnswer(problem('draft-not-open', `draft ${id} is ${status}`));
}

export function registerDraftRoutes(app: App, deps: AppDeps): void {
  const db = deps.handle.db;

  app.post(
    '/v1/program/drafts',
    {
      config: { scope: 'program:write' },
      bodyLimit: PROGRAM_BODY_BYTES_MAX,
      schema: {
        tags: ['program'],
        operationId: 'createProgramDraft',
        summary: 'Start a draft: a copy of a version, or a document of your own',
        security: [{ oauth2: ['program:write'] }],
        headers: IDEMPOTENCY_KEY_HEADER,
        body: DraftCreateRequest,
        response: { 201: DraftSchema, ...writeErrors, ...problems(422) },
      },
    },
    async (request, reply) => {
      const { programId, clientId } = principalOf(request);
      const now = deps.now();
      return idempotent(
        db,
        request,
        reply,
        { programId, operation: 'POST /v1/program/drafts', required: false },
        async (trx) => {
          const outcome = await createDraft(
            trx,
            programId,
            request.body,
            `client:${clientId}`,
            now,
          );
          switch (outcome.status) {
            case 'created':
              return {
                status: 201,
                body: draftJson(outcome.draft, await currentVersion(trx, programId)),
              };
            case 'unknown_version':
              return problemAnswer(
                problem('validation-failed', '1 field is invalid', [
                  { pointer: '/fromVersion', detail: `no version ${outcome.version}` },
                ]),
              );
            case 'too_many':
              return problemAnswer(
                problem(
                  'too-many-drafts',
                  `the program has ${outcome.limit} open drafts, the most allowed`,
                ),
              );
          }
        },
      );
    },
  );

  app.get(
    '/v1/program/drafts',
    {
      config: { scope: 'program:read' },
      schema: {
        tags: ['program'],
        operationId: 'listProgramDrafts',
        summary: 'Drafts, newest first: open and scheduled ones, or all with status=all',
        security: [{ oauth2: ['program:read'] }],
        querystring: ListQuery,
        response: { 200: DraftPage, ...readErrors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const { cursor, limit, status } = request.query;
      const before = cursor === undefined ? undefined : decodeCursor('d', cursor, DRAFT_ID);
      if (cursor !== undefined && before === undefined) return sendBadCursor(reply);
      const [page, current] = await Promise.all([
        listDrafts(db, programId, {
          before,
          all: status === 'all',
          limit: limit === undefined ? PAGE_SIZE_DEFAULT : Number(limit),
        }),
        currentVersion(db, programId),
      ]);
      return {
        items: page.items.map((d) => draftSummaryJson(d, current)),
        nextCursor: page.next === null ? null : encodeCursor('d', page.next),
      };
    },
  );

  app.get(
    '/v1/program/drafts/:id',
    {
      config: { scope: 'program:read' },
      schema: {
        tags: ['program'],
        operationId: 'getProgramDraft',
        summary: 'A draft with its document and what validation says of it',
        security: [{ oauth2: ['program:read'] }],
        params: DraftIdParam,
        response: { 200: DraftSchema, ...readErrors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const [draft, current] = await Promise.all([
        readDraft(db, programId, request.params.id),
        currentVersion(db, programId),
      ]);
      if (!draft) return sendProblem(reply, problem('not-found', `no draft ${request.params.id}`));
      return draftJson(draft, current);
    },
  );

  app.patch(
    '/v1/program/drafts/:id',
    {
      config: { scope: 'program:write' },
      bodyLimit: PROGRAM_BODY_BYTES_MAX,
      schema: {
        tags: ['program'],
        operationId: 'updateProgramDraft',
        summary: 'Save a draft: a new document, a new name, or both',
        description:
          'The document may be invalid while work is in progress: the answer’s `validation` lists every error. Send `revision` to save only if nobody saved in between (409 draft-stale otherwise).',
        security: [{ oauth2: ['program:write'] }],
        params: DraftIdParam,
        body: DraftPatchRequest,
        response: { 200: DraftSchema, ...writeErrors },
      },
    },
    async (request, reply) => {
      const { programId, clientId } = principalOf(request);
      const id = request.params.id;
      const now = deps.now();
      const answer = await db.transaction().execute(async (trx): Promise<Answer> => {
        const outcome = await updateDraft(
          trx,
          programId,
          id,
          request.body,
          `client:${clientId}`,
          now,
        );
        switch (outcome.status) {
          case 'updated':
            return {
              status: 200,
              body: draftJson(outcome.draft, await currentVersion(trx, programId)),
            };
          case 'not_found':
            return problemAnswer(problem('not-found', `no draft ${id}`));
          case 'not_open':
            return notOpen(id, outcome.draftStatus);
          case 'stale':
            return problemAnswer(
              problem(
                'draft-stale',
                `draft ${id} is at revision ${outcome.revision}, not ${request.body.revision}: someone saved it meanwhile`,
              ),
            );
        }
      });
      return send(reply as FastifyReply, answer);
    },
  );

  app.delete(
    '/v1/program/drafts/:id',
    {
      config: { scope: 'program:write' },
      schema: {
        tags: ['program'],
        operationId: 'discardProgramDraft',
        summary: 'Discard an open draft (it is kept, read-only, in the history)',
        security: [{ oauth2: ['program:write'] }],
        params: DraftIdParam,
        querystring: ReasonRequest,
        response: { 200: DraftSchema, ...readErrors, ...problems(409) },
      },
    },
    async (request, reply) => {
      const { programId, clientId } = principalOf(request);
      const id = request.params.id;
      const now = deps.now();
      const answer = await db.transaction().execute(async (trx): Promise<Answer> => {
        const outcome = await discardDraft(
          trx,
          programId,
          id,
          `client:${clientId}`,
          request.query.reason ?? null,
          now,
        );
        if (outcome.status === 'not_found')
          return problemAnswer(problem('not-found', `no draft ${id}`));
        if (outcome.status === 'not_open') return notOpen(id, outcome.draftStatus);
        return {
          status: 200,
          body: draftJson(outcome.draft, await currentVersion(trx, programId)),
        };
      });
      return send(reply as FastifyReply, answer);
    },
  );

  app.post(
    '/v1/program/drafts/:id(^[A-Za-z0-9._-]+)::validate',
    {
      config: { scope: 'program:read' },
      schema: {
        tags: ['program'],
        operationId: 'validateProgramDraft',
        summary: 'Validate a draft: every error at once, each with a JSON Pointer',
        description:
          'Writes nothing. A bad CEL condition names its rule and the line:column of the problem.',
        security: [{ oauth2: ['program:read'] }],
        params: DraftIdParam,
        response: { 200: Validation, ...readErrors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const draft = await readDraft(db, programId, request.params.id);
      if (!draft) return sendProblem(reply, problem('not-found', `no draft ${request.params.id}`));
      return validationOf(draft.document);
    },
  );

  app.get(
    '/v1/program/drafts/:id/diff',
    {
      config: { scope: 'program:read' },
      schema: {
        tags: ['program'],
        operationId: 'diffProgramDraft',
        summary: 'What publishing the draft would change, against any version',
        description:
          'Rules and tier levels are matched by id (added, removed, changed field by field, reordered); every other change is named by a JSON Pointer. `against` defaults to the version in force. A valid draft is compared as it would be published, with its defaults filled in.',
        security: [{ oauth2: ['program:read'] }],
        params: DraftIdParam,
        querystring: DiffQuery,
        response: { 200: Diff, ...readErrors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const id = request.params.id;
      const draft = await readDraft(db, programId, id);
      if (!draft) return sendProblem(reply, problem('not-found', `no draft ${id}`));
      const against =
        request.query.against === undefined
          ? await currentVersion(db, programId)
          : Number(request.query.against);
      const base =
        against === undefined ? undefined : await readProgramVersion(db, programId, against);
      if (!base) return sendProblem(reply, problem('not-found', `no version ${against}`));
      // Versions are stored normalised; so is a valid draft, or every default would read as a change.
      const validated = validateProgramDocument(draft.document);
      return {
        from: `version ${base.version}`,
        to: `draft ${id}`,
        ...diffPrograms(base.document, validated.ok ? validated.document : draft.document),
      };
    },
  );

  app.post(
    '/v1/program/drafts/:id(^[A-Za-z0-9._-]+)::publish',
    {
      config: { scope: 'program:write' },
      schema: {
        tags: ['program'],
        operationId: 'publishProgramDraft',
        summary: 'Publish a draft now (200, the new version) or at an instant (202, a publication)',
        description:
          'The draft is validated in full first (400 with every error). If a version was published after the draft was started, publishing is 409 draft-outdated unless `allowOutdated` is true. A scheduled publication takes effect within seconds of its instant, gets its version number then, and can be cancelled until then.',
        security: [{ oauth2: ['program:write'] }],
        headers: IDEMPOTENCY_KEY_HEADER,
        params: DraftIdParam,
        body: DraftPublishRequest,
        response: {
          200: ProgramVersion,
          202: PublicationSchema,
          ...writeErrors,
        },
      },
    },
    async (request, reply) => {
      const { programId, clientId } = principalOf(request);
      const id = request.params.id;
      const now = deps.now();
      const { reason, allowOutdated } = request.body;
      let effectiveAt: Date | undefined;
      if (request.body.effectiveAt !== undefined) {
        effectiveAt = new Date(request.body.effectiveAt);
        const latest = now.getTime() + SCHEDULE_AHEAD_DAYS_MAX * 86_400_000;
        if (effectiveAt.getTime() <= now.getTime() || effectiveAt.getTime() > latest) {
          return sendProblem(
            reply,
            problem('validation-failed', '1 field is invalid', [
              {
                pointer: '/effectiveAt',
                detail: `effectiveAt must lie ahead, at most ${SCHEDULE_AHEAD_DAYS_MAX} days (now is ${now.toISOString()}); leave it out to publish at once`,
              },
            ]),
          );
        }
      }
      let published = false;
      const answered = await idempotent(
        db,
        request,
        reply,
        { programId, operation: 'POST /v1/program/drafts/{id}:publish', required: false },
        async (trx) => {
          const outcome = await publishDraft(
            trx,
            programId,
            id,
            { reason, effectiveAt, allowOutdated: allowOutdated ?? false },
            `client:${clientId}`,
            now,
          );
          switch (outcome.status) {
            case 'published': {
              published = true;
              const view = await readProgramVersion(trx, programId, outcome.version);
              return {
                status: 200,
                body: versionJson(view as ProgramVersionView, outcome.version),
              };
            }
            case 'scheduled':
              return { status: 202, body: publicationJson(outcome.publication) };
            case 'invalid':
              return problemAnswer(
                problem(
                  'validation-failed',
                  `the draft cannot be published: ${describeCount(outcome.errors.length)} (pointers into the draft's document)`,
                  outcome.errors.map((e) => ({
                    pointer: `/document${e.pointer}`,
                    detail: e.detail,
                  })),
                ),
              );
            case 'outdated':
              return problemAnswer(
                problem(
                  'draft-outdated',
                  `draft ${id} was started from version ${outcome.baseVersion}, and version ${outcome.currentVersion} is in force now`,
                ),
              );
            case 'not_found':
              return problemAnswer(problem('not-found', `no draft ${id}`));
            case 'not_open':
              return notOpen(id, outcome.draftStatus);
          }
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
    '/v1/program/publications',
    {
      config: { scope: 'program:read' },
      schema: {
        tags: ['program'],
        operationId: 'listProgramPublications',
        summary: 'Scheduled publications, newest first (status=all: also settled ones)',
        security: [{ oauth2: ['program:read'] }],
        querystring: ListQuery,
        response: { 200: PublicationPage, ...readErrors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const { cursor, limit, status } = request.query;
      const before = cursor === undefined ? undefined : decodeCursor('p', cursor, PUBLICATION_ID);
      if (cursor !== undefined && before === undefined) return sendBadCursor(reply);
      const page = await listPublications(db, programId, {
        before,
        all: status === 'all',
        limit: limit === undefined ? PAGE_SIZE_DEFAULT : Number(limit),
      });
      return {
        items: page.items.map(publicationJson),
        nextCursor: page.next === null ? null : encodeCursor('p', page.next),
      };
    },
  );

  app.get(
    '/v1/program/publications/:id',
    {
      config: { scope: 'program:read' },
      schema: {
        tags: ['program'],
        operationId: 'getProgramPublication',
        summary: 'A scheduled publication',
        security: [{ oauth2: ['program:read'] }],
        params: PublicationIdParam,
        response: { 200: PublicationSchema, ...readErrors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const found = await readPublication(db, programId, request.params.id);
      if (!found)
        return sendProblem(reply, problem('not-found', `no publication ${request.params.id}`));
      return publicationJson(found);
    },
  );

  app.post(
    '/v1/program/publications/:id(^[A-Za-z0-9._-]+)::cancel',
    {
      config: { scope: 'program:write' },
      schema: {
        tags: ['program'],
        operationId: 'cancelProgramPublication',
        summary: 'Cancel a scheduled publication; its draft is open again',
        security: [{ oauth2: ['program:write'] }],
        headers: IDEMPOTENCY_KEY_HEADER,
        params: PublicationIdParam,
        body: ReasonRequest,
        response: { 200: PublicationSchema, ...writeErrors },
      },
    },
    async (request, reply) => {
      const { programId, clientId } = principalOf(request);
      const id = request.params.id;
      const now = deps.now();
      return idempotent(
        db,
        request,
        reply,
        { programId, operation: 'POST /v1/program/publications/{id}:cancel', required: false },
        async (trx) => {
          const outcome = await cancelPublication(
            trx,
            programId,
            id,
            `client:${clientId}`,
            request.body.reason ?? null,
            now,
          );
          if (outcome.status === 'not_found')
            return problemAnswer(problem('not-found', `no publication ${id}`));
          if (outcome.status === 'not_scheduled')
            return problemAnswer(
              problem(
                'publication-not-scheduled',
                `publication ${id} is ${outcome.publicationStatus}`,
              ),
            );
          return { status: 200, body: publicationJson(outcome.publication) };
        },
      );
    },
  );
}
