// Segments' members over HTTP: a segment's members, paged, and the CSV import of a static one.
import { Type } from 'typebox';
import { readProgramVersion } from '../../programs/index.ts';
import type { Segment } from '../../rules/index.ts';
import { IMPORT_LINES_MAX, importStaticSegment, listSegmentMembers } from '../../segments/index.ts';
import { principalOf, type App, type AppDeps } from '../app.ts';
import { decodeCursor, encodeCursor, sendBadCursor } from '../cursor.ts';
import { problem, sendProblem } from '../problems.ts';
import { PageQuery, problems } from '../schemas.ts';

/** A CSV of 100,000 member ids of up to 128 characters. */
const IMPORT_BODY_BYTES_MAX = 16 * 1024 * 1024;
const PAGE_SIZE_DEFAULT = 50;
const SegmentIdParam = Type.Object({ id: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' }) });

const SegmentMembers = Type.Object(
  {
    segmentId: Type.String(),
    type: Type.Union([Type.Literal('rule'), Type.Literal('static')]),
    items: Type.Array(Type.Object({ memberId: Type.String() })),
    nextCursor: Type.Union([Type.String(), Type.Null()]),
  },
  {
    examples: [
      {
        segmentId: 'big-spenders',
        type: 'rule',
        items: [{ memberId: 'alice' }, { memberId: 'bob' }],
        nextCursor: null,
      },
    ],
  },
);

const ImportResult = Type.Object(
  {
    segmentId: Type.String(),
    lines: Type.Integer(),
    added: Type.Integer({ description: 'Member ids that were not in the segment before' }),
    removed: Type.Integer({ description: 'With mode=replace: member ids no longer listed' }),
    members: Type.Integer({ description: 'Members of the segment now' }),
  },
  { examples: [{ segmentId: 'vip-list', lines: 1201, added: 1200, removed: 3, members: 1250 }] },
);

async function segmentOf(
  deps: AppDeps,
  programId: string,
  id: string,
): Promise<Segment | undefined> {
  const version = await readProgramVersion(deps.handle.db, programId);
  return version?.document.segments?.find((s) => s.id === id);
}

export async function registerSegmentRoutes(app: App, deps: AppDeps): Promise<void> {
  app.get(
    '/v1/segments/:id/members',
    {
      config: { scope: 'members:read' },
      schema: {
        tags: ['members'],
        operationId: 'listSegmentMembers',
        summary: "A segment's members, by id, paged",
        description:
          'A rule segment holds the members whose last event left them in it; a static segment the member ids imported into it.',
        security: [{ oauth2: ['members:read'] }],
        params: SegmentIdParam,
        querystring: PageQuery,
        response: { 200: SegmentMembers, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const segment = await segmentOf(deps, programId, request.params.id);
      if (!segment)
        return sendProblem(reply, problem('not-found', `no segment ${request.params.id}`));
      const { cursor, limit } = request.query;
      const after =
        cursor === undefined ? undefined : decodeCursor('s', cursor, /^[A-Za-z0-9._-]{1,128}$/);
      if (cursor !== undefined && after === undefined) return sendBadCursor(reply);
      const page = await listSegmentMembers(deps.handle.db, programId, segment, {
        after,
        limit: limit === undefined ? PAGE_SIZE_DEFAULT : Number(limit),
      });
      return {
        segmentId: segment.id,
        type: segment.type,
        items: page.items.map((memberId) => ({ memberId })),
        nextCursor: page.next === null ? null : encodeCursor('s', page.next),
      };
    },
  );

  // CSV bodies only here: the parser lives in this scope.
  await app.register(async (scope) => {
    scope.addContentTypeParser(
      'text/csv',
      { parseAs: 'string', bodyLimit: IMPORT_BODY_BYTES_MAX },
      (_request, body, done) => done(null, body),
    );
    scope.post(
      '/v1/segments/:id(^[A-Za-z0-9._-]+)/members::import',
      {
        config: { scope: 'members:write' },
        bodyLimit: IMPORT_BODY_BYTES_MAX,
        schema: {
          tags: ['members'],
          operationId: 'importSegmentMembers',
          summary: 'Import the member ids of a static segment from CSV, all or nothing',
          description: `text/csv, one member id per line (the first column; an optional header line member_id), at most ${IMPORT_LINES_MAX} lines. A bad line is a 400 naming every bad line (/lines/N) and nothing is imported. mode=add (default) adds to the segment, mode=replace makes the list its whole membership.`,
          security: [{ oauth2: ['members:write'] }],
          params: SegmentIdParam,
          querystring: Type.Object({
            mode: Type.Optional(Type.Union([Type.Literal('add'), Type.Literal('replace')])),
          }),
          body: {
            content: {
              'text/csv': {
                schema: Type.String({ examples: ['member_id\nalice\nbob\n'] }),
              },
            },
          } as never,
          response: { 200: ImportResult, ...problems(400, 401, 403, 404, 413, 415) },
        },
      },
      async (request, reply) => {
        const { programId } = principalOf(request);
        const id = (request.params as { id: string }).id;
        const segment = await segmentOf(deps, programId, id);
        if (!segment) return sendProblem(reply, problem('not-found', `no segment ${id}`));
        if (segment.type !== 'static') {
          return sendProblem(
            reply,
            problem('validation-failed', '1 field is invalid', [
              {
                pointer: '/params/id',
                detail: `segment ${id} is a rule segment: its members follow from its condition`,
              },
            ]),
          );
        }
        const mode = (request.query as { mode?: 'add' | 'replace' }).mode ?? 'add';
        const outcome = await importStaticSegment(
          deps.handle.db,
          programId,
          id,
          typeof request.body === 'string' ? request.body : '',
          mode,
          deps.now(),
        );
        if (outcome.status === 'invalid') {
          return sendProblem(
            reply,
            problem(
              'validation-failed',
              `${outcome.errorCount} ${outcome.errorCount === 1 ? 'line is' : 'lines are'} invalid; nothing was imported`,
              outcome.errors.map((e) => ({ pointer: `/lines/${e.line}`, detail: e.detail })),
            ),
          );
        }
        deps.members.invalidate(programId, outcome.ids);
        return {
          segmentId: id,
          lines: outcome.lines,
          added: outcome.added,
          removed: outcome.removed,
          members: outcome.members,
        };
      },
    );
  });
}
