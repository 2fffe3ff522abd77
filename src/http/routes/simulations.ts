// Simulations over HTTP: start one for a draft over a window of past events (a job), follow
// its progress, read its result, cancel it.
import { Type } from 'typebox';
import { readDraft } from '../../programs/drafts.ts';
import { currentVersion } from '../../programs/index.ts';
import { validateProgramDocument } from '../../rules/index.ts';
import {
  SIMULATION_JOB,
  cancelSimulation,
  createSimulation,
  readSimulation,
  type Simulation,
} from '../../simulations/index.ts';
import { describeCount, principalOf, type App, type AppDeps } from '../app.ts';
import { problem, sendProblem } from '../problems.ts';
import { problems } from '../schemas.ts';

/** The longest window one simulation covers. */
const WINDOW_DAYS_MAX = 3_660;

const Sums = {
  published: Type.Number(),
  draft: Type.Number(),
  difference: Type.Number(),
};

const SimulationSchema = Type.Object(
  {
    id: Type.String(),
    draftId: Type.String(),
    baseVersion: Type.Integer({ description: 'The version the draft is compared with' }),
    from: Type.String({ format: 'date-time' }),
    to: Type.String({ format: 'date-time' }),
    status: Type.Union([
      Type.Literal('queued'),
      Type.Literal('running'),
      Type.Literal('done'),
      Type.Literal('cancelled'),
      Type.Literal('failed'),
    ]),
    progress: Type.Object({
      events: Type.Integer(),
      total: Type.Union([Type.Integer(), Type.Null()]),
      percent: Type.Union([Type.Number(), Type.Null()]),
    }),
    result: Type.Union([
      Type.Object({
        totals: Type.Object({
          events: Type.Integer(),
          actual: Type.Integer({ description: 'What the events really earned' }),
          ...Sums,
        }),
        rules: Type.Array(
          Type.Object({
            id: Type.String(),
            source: Type.String({
              description:
                'rule; experiment:<id>/<variant> for a variant rule; campaign for the points a campaign awarded',
            }),
            ...Sums,
            fired: Type.Object({ published: Type.Integer(), draft: Type.Integer() }),
          }),
          { description: "Each rule's contribution before rounding; campaigns' awarded points" },
        ),
        tiers: Type.Array(Type.Object({ tier: Type.String(), ...Sums })),
        segments: Type.Array(Type.Object({ segment: Type.String(), ...Sums })),
        mostAffected: Type.Array(Type.Object({ memberId: Type.String(), ...Sums })),
        seconds: Type.Number(),
        eventsPerSecond: Type.Integer(),
      }),
      Type.Null(),
    ]),
    error: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    createdBy: Type.String(),
    startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  {
    examples: [
      {
        id: 'sim_01KAQ5C2D4E6F8G0H2J4K6M8N0',
        draftId: 'drf_01KAQ3M8F6X2J9V0T5R7Y4W1ZC',
        baseVersion: 3,
        from: '2026-10-01T00:00:00.000Z',
        to: '2026-11-01T00:00:00.000Z',
        status: 'done',
        progress: { events: 120000, total: 120000, percent: 100 },
        result: {
          totals: {
            events: 120000,
            actual: 2412000,
            published: 2412000,
            draft: 2650100,
            difference: 238100,
          },
          rules: [
            {
              id: 'base',
              source: 'rule',
              published: 2412000,
              draft: 2650100,
              difference: 238100,
              fired: { published: 120000, draft: 120000 },
            },
          ],
          tiers: [{ tier: 'silver', published: 900000, draft: 990000, difference: 90000 }],
          segments: [],
          mostAffected: [{ memberId: 'alice', published: 1200, draft: 1800, difference: 600 }],
          seconds: 4.1,
          eventsPerSecond: 29268,
        },
        error: null,
        createdAt: '2026-11-21T16:40:00.000Z',
        createdBy: 'client:marketing',
        startedAt: '2026-11-21T16:40:00.100Z',
        finishedAt: '2026-11-21T16:40:04.200Z',
      },
    ],
  },
);

function simulationJson(s: Simulation) {
  return {
    id: s.id,
    draftId: s.draftId,
    baseVersion: s.baseVersion,
    from: s.from.toISOString(),
    to: s.to.toISOString(),
    status: s.status,
    progress: {
      events: s.eventsDone,
      total: s.eventsTotal,
      percent:
        s.eventsTotal === null
          ? null
          : s.eventsTotal === 0
            ? 100
            : Math.round((s.eventsDone / s.eventsTotal) * 1000) / 10,
    },
    result: s.result,
    error: s.error,
    createdAt: s.createdAt.toISOString(),
    createdBy: s.createdBy,
    startedAt: s.startedAt?.toISOString() ?? null,
    finishedAt: s.finishedAt?.toISOString() ?? null,
  };
}

const SimulationIdParam = Type.Object({ id: Type.String({ pattern: '^sim_[0-9A-Z]{26}$' }) });

export function registerSimulationRoutes(app: App, deps: AppDeps): void {
  const db = deps.handle.db;

  app.post(
    '/v1/program/simulations',
    {
      config: { scope: 'program:write' },
      schema: {
        tags: ['program'],
        operationId: 'createSimulation',
        summary:
          'Simulate a draft against a window of past events (a job; writes nothing to the ledger)',
        description:
          'Evaluates the draft and the version in force (or `against`) on the same earning events of the window, and reports points issued by each in total, per rule, per tier and per segment, and the members most affected. Answers 202 with the simulation; follow its progress with GET.',
        security: [{ oauth2: ['program:write'] }],
        body: Type.Object(
          {
            draftId: Type.String({ pattern: '^drf_[0-9A-Z]{26}$' }),
            from: Type.String({ format: 'date-time' }),
            to: Type.String({ format: 'date-time' }),
            against: Type.Optional(
              Type.Integer({ minimum: 1, description: 'Default: the version in force' }),
            ),
          },
          {
            additionalProperties: false,
            examples: [
              {
                draftId: 'drf_01KAQ3M8F6X2J9V0T5R7Y4W1ZC',
                from: '2026-10-01T00:00:00Z',
                to: '2026-11-01T00:00:00Z',
              },
            ],
          },
        ),
        response: { 202: SimulationSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { programId, clientId } = principalOf(request);
      const { draftId, against } = request.body;
      const from = new Date(request.body.from);
      const to = new Date(request.body.to);
      if (to <= from || to.getTime() - from.getTime() > WINDOW_DAYS_MAX * 86_400_000) {
        return sendProblem(
          reply,
          problem('validation-failed', '1 field is invalid', [
            {
              pointer: '/to',
              detail: `to must be after from, at most ${WINDOW_DAYS_MAX} days later`,
            },
          ]),
        );
      }
      const draft = await readDraft(db, programId, draftId);
      if (!draft) return sendProblem(reply, problem('not-found', `no draft ${draftId}`));
      const validated = validateProgramDocument(draft.document);
      if (!validated.ok) {
        return sendProblem(
          reply,
          problem(
            'validation-failed',
            `the draft is invalid: ${describeCount(validated.errors.length)} (pointers into the draft's document)`,
            validated.errors.map((e) => ({ pointer: `/document${e.pointer}`, detail: e.detail })),
          ),
        );
      }
      const baseVersion = against ?? (await currentVersion(db, programId));
      const exists =
        baseVersion !== undefined &&
        (await db
          .selectFrom('program_versions')
          .select('version')
          .where('program_id', '=', programId)
          .where('version', '=', baseVersion)
          .executeTakeFirst());
      if (!exists) return sendProblem(reply, problem('not-found', `no version ${against}`));
      const simulation = await createSimulation(
        db,
        programId,
        { draftId, document: validated.document, baseVersion: baseVersion as number, from, to },
        `client:${clientId}`,
        deps.now(),
      );
      await deps.sendJob?.(SIMULATION_JOB, { programId, id: simulation.id });
      return reply.code(202).send(simulationJson(simulation));
    },
  );

  app.get(
    '/v1/program/simulations/:id',
    {
      config: { scope: 'program:read' },
      schema: {
        tags: ['program'],
        operationId: 'getSimulation',
        summary: "A simulation's progress, and its result once done",
        security: [{ oauth2: ['program:read'] }],
        params: SimulationIdParam,
        response: { 200: SimulationSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const found = await readSimulation(db, programId, request.params.id);
      if (!found)
        return sendProblem(reply, problem('not-found', `no simulation ${request.params.id}`));
      return simulationJson(found);
    },
  );

  app.post(
    '/v1/program/simulations/:id(^[A-Za-z0-9._-]+)::cancel',
    {
      config: { scope: 'program:write' },
      schema: {
        tags: ['program'],
        operationId: 'cancelSimulation',
        summary: 'Cancel a simulation: a queued one at once, a running one at its next chunk',
        security: [{ oauth2: ['program:write'] }],
        params: SimulationIdParam,
        response: { 200: SimulationSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const found = await cancelSimulation(db, programId, request.params.id, deps.now());
      if (!found)
        return sendProblem(reply, problem('not-found', `no simulation ${request.params.id}`));
      return simulationJson(found);
    },
  );
}
