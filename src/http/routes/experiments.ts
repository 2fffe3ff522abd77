// Experiment results over HTTP: per group, with each variant against control.
import { Type } from 'typebox';
import { experimentResults, minorToDecimal, type Interval } from '../../programs/experiments.ts';
import { readProgramVersion } from '../../programs/index.ts';
import { principalOf, type App, type AppDeps } from '../app.ts';
import { problem, sendProblem } from '../problems.ts';
import { problems } from '../schemas.ts';

const Money = Type.Union([Type.String({ pattern: '^-?[0-9]+(\\.[0-9]+)?$' }), Type.Null()]);
const MaybeNumber = Type.Union([Type.Number(), Type.Null()]);
const Ci = (value: typeof Money | typeof MaybeNumber) =>
  Type.Object({ difference: value, low: value, high: value });

const Results = Type.Object(
  {
    experimentId: Type.String(),
    name: Type.String(),
    programVersion: Type.Integer({
      description: 'The version whose experiment definition is shown',
    }),
    from: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    to: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    currency: Type.String(),
    confidence: Type.Number({ description: 'Of every interval' }),
    groups: Type.Array(
      Type.Object({
        group: Type.String({ description: '"control" or a variant id' }),
        percent: Type.Number(),
        members: Type.Integer({ description: 'Members of the group with an event in the window' }),
        events: Type.Integer(),
        pointsIssued: Type.Integer(),
        pointsPerMember: Type.Number(),
        spendPerMember: Money,
        versusControl: Type.Union([
          Type.Object({
            pointsPerMember: Ci(MaybeNumber),
            spendPerMember: Ci(Money),
          }),
          Type.Null(),
        ]),
      }),
    ),
  },
  {
    examples: [
      {
        experimentId: 'summer-boost',
        name: 'Summer boost',
        programVersion: 5,
        from: '2026-06-01T00:00:00.000Z',
        to: null,
        currency: 'EUR',
        confidence: 0.95,
        groups: [
          {
            group: 'control',
            percent: 50,
            members: 5012,
            events: 18230,
            pointsIssued: 410220,
            pointsPerMember: 81.85,
            spendPerMember: '81.20',
            versusControl: null,
          },
          {
            group: 'double',
            percent: 50,
            members: 4988,
            events: 19102,
            pointsIssued: 861004,
            pointsPerMember: 172.61,
            spendPerMember: '85.90',
            versusControl: {
              pointsPerMember: { difference: 90.76, low: 86.1, high: 95.42 },
              spendPerMember: { difference: '4.70', low: '1.12', high: '8.28' },
            },
          },
        ],
      },
    ],
  },
);

/** Two decimals; null where a group has too few members for an interval. */
const round2 = (n: number) => (Number.isFinite(n) ? Math.round(n * 100) / 100 : null);

export function registerExperimentRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/v1/program/experiments/:id/results',
    {
      config: { scope: 'program:read' },
      schema: {
        tags: ['program'],
        operationId: 'getExperimentResults',
        summary: 'Results of an experiment per group, each variant against control',
        description:
          'Members, events, points issued and spend per member for control and each variant, with the difference to control and its 95 % confidence interval (Welch). Groups are read from the stored trace of each event, so they are what happened. The window defaults to the experiment’s start and end.',
        security: [{ oauth2: ['program:read'] }],
        params: Type.Object({ id: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' }) }),
        querystring: Type.Object({
          from: Type.Optional(Type.String({ format: 'date-time' })),
          to: Type.Optional(Type.String({ format: 'date-time' })),
        }),
        response: { 200: Results, ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const version = await readProgramVersion(deps.handle.db, programId);
      const experiment = version?.document.experiments?.find((e) => e.id === request.params.id);
      if (!version || !experiment) {
        return sendProblem(
          reply,
          problem('not-found', `no experiment ${request.params.id} in the version in force`),
        );
      }
      const { from, to } = request.query;
      const results = await experimentResults(
        deps.handle.db,
        programId,
        version.document,
        experiment,
        {
          ...(from ? { from: new Date(from) } : {}),
          ...(to ? { to: new Date(to) } : {}),
        },
      );
      const money = (minor: number) => minorToDecimal(minor, results.currency);
      const moneyCi = (ci: Interval) => ({
        difference: money(ci.difference),
        low: money(ci.low),
        high: money(ci.high),
      });
      const pointsCi = (ci: Interval) => ({
        difference: round2(ci.difference),
        low: round2(ci.low),
        high: round2(ci.high),
      });
      return {
        experimentId: experiment.id,
        name: experiment.name,
        programVersion: version.version,
        from: results.from?.toISOString() ?? null,
        to: results.to?.toISOString() ?? null,
        currency: results.currency,
        confidence: 0.95,
        groups: results.groups.map((g) => ({
          group: g.group,
          percent: g.percent,
          members: g.members,
          events: g.events,
          pointsIssued: g.pointsIssued,
          pointsPerMember: round2(g.pointsPerMember) ?? 0,
          spendPerMember: money(g.spendPerMember),
          versusControl: g.versusControl && {
            pointsPerMember: pointsCi(g.versusControl.pointsPerMember),
            spendPerMember: moneyCi(g.versusControl.spendPerMember),
          },
        })),
      };
    },
  );
}
