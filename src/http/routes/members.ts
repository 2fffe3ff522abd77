import {
  decodeCursor,
  getMember,
  listMemberLedger,
  upsertMember,
  PAGE_SIZE_DEFAULT,
  type MemberView,
} from '../../members/index.ts';
import { principalOf, type App, type AppDeps } from '../app.ts';
import { problem, sendProblem } from '../problems.ts';
import {
  IdParam,
  LedgerPage,
  MemberPutRequest,
  MemberResponse,
  PageQuery,
  problems,
} from '../schemas.ts';

const errors = {
  ...problems(400, 401, 403, 404),
};

/**
 * The answer of GET /v1/members/{id} per member view, serialized once. A view from the
 * member cache is the same object on every hit and is never changed once built, so its JSON
 * is too; the response schema's serializer settles the union of each nullable part by
 * validating it, which was a sixth of the process's time per cached read.
 */
const serializedViews = new WeakMap<MemberView, string>();

export function registerMemberRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/v1/members/:id',
    {
      config: { scope: 'members:read' },
      schema: {
        tags: ['members'],
        operationId: 'getMember',
        summary: 'Balance, tier and progress of a member',
        security: [{ oauth2: ['members:read'] }],
        params: IdParam,
        response: { 200: MemberResponse, ...errors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const member = await getMember(
        deps.handle.db,
        deps.programs,
        programId,
        request.params.id,
        deps.now(),
        deps.members,
      );
      if (!member)
        return sendProblem(reply, problem('not-found', `no member ${request.params.id}`));
      let body = serializedViews.get(member);
      if (body === undefined) {
        // The route's schema serializer (fast-json-stringify) answers a string.
        body = String(reply.serialize(member));
        serializedViews.set(member, body);
      }
      return reply.type('application/json; charset=utf-8').send(body);
    },
  );

  app.put(
    '/v1/members/:id',
    {
      config: { scope: 'members:write' },
      schema: {
        tags: ['members'],
        operationId: 'putMember',
        summary: 'Create a member or replace its attributes',
        security: [{ oauth2: ['members:write'] }],
        params: IdParam,
        body: MemberPutRequest,
        response: { 200: MemberResponse, 201: MemberResponse, ...errors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const now = deps.now();
      const outcome = await upsertMember(
        deps.handle.db,
        deps.programs,
        programId,
        request.params.id,
        request.body.attributes,
        now,
        deps.members,
      );
      if (outcome.status === 'unknown_program')
        return sendProblem(reply, problem('not-found', 'the program of this token does not exist'));
      const member = await getMember(
        deps.handle.db,
        deps.programs,
        programId,
        request.params.id,
        now,
        deps.members,
      );
      if (!member)
        return sendProblem(reply, problem('not-found', `no member ${request.params.id}`));
      return reply.code(outcome.status === 'created' ? 201 : 200).send(member);
    },
  );

  app.get(
    '/v1/members/:id/ledger',
    {
      config: { scope: 'members:read' },
      schema: {
        tags: ['members'],
        operationId: 'listMemberLedger',
        summary: "The member's postings, newest first",
        security: [{ oauth2: ['members:read'] }],
        params: IdParam,
        querystring: PageQuery,
        response: { 200: LedgerPage, ...errors },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const cursor = request.query.cursor;
      const before = cursor === undefined ? undefined : decodeCursor(cursor);
      if (cursor !== undefined && before === undefined) {
        return sendProblem(
          reply,
          problem('validation-failed', '1 field is invalid', [
            { pointer: '/querystring/cursor', detail: 'cursor is not one Patron issued' },
          ]),
        );
      }
      const page = await listMemberLedger(
        deps.handle.db,
        programId,
        request.params.id,
        before,
        request.query.limit === undefined ? PAGE_SIZE_DEFAULT : Number(request.query.limit),
      );
      if (!page) return sendProblem(reply, problem('not-found', `no member ${request.params.id}`));
      return page;
    },
  );
}
