// Campaigns of the version in force, with what each has spent of its budget and caps: the
// view a loyalty manager watches while a campaign runs. Their definitions are edited in
// drafts, like every rule.
import { Type } from 'typebox';
import { readProgramVersion } from '../../programs/index.ts';
import { localTime, periodKey, type Campaign } from '../../rules/index.ts';
import { principalOf, type App, type AppDeps } from '../app.ts';
import { problem, sendProblem } from '../problems.ts';
import { problems } from '../schemas.ts';

const Spend = Type.Object({
  points: Type.Integer({ description: 'The limit' }),
  spent: Type.Integer(),
  remaining: Type.Integer(),
});

const CampaignStatus = Type.Object({
  id: Type.String(),
  name: Type.String(),
  enabled: Type.Boolean(),
  window: Type.Unknown({ description: 'As in the program document' }),
  segment: Type.Union([Type.String(), Type.Null()]),
  stacking: Type.Unknown(),
  budget: Type.Union([Spend, Type.Null()]),
  perCampaignCap: Type.Union([
    Type.Object({ ...Spend.properties, period: Type.String({ examples: ['2026-11-27'] }) }),
    Type.Null(),
  ]),
});

const EXAMPLE = {
  id: 'black-friday',
  name: 'Black Friday',
  enabled: true,
  window: { start: '2026-11-27T00:00:00+01:00', end: '2026-11-30T00:00:00+01:00' },
  segment: null,
  stacking: { policy: 'exclusive', priority: 10 },
  budget: { points: 1000000, spent: 412300, remaining: 587700 },
  perCampaignCap: { points: 400000, spent: 212300, remaining: 187700, period: '2026-11-28' },
};

const CampaignList = Type.Object(
  { programVersion: Type.Integer(), items: Type.Array(CampaignStatus) },
  { examples: [{ programVersion: 7, items: [EXAMPLE] }] },
);

async function statuses(deps: AppDeps, programId: string, campaigns: Campaign[], zone: string) {
  const local = localTime(deps.now(), zone);
  const rows = await deps.handle.db
    .selectFrom('campaign_usage')
    .select(['campaign_id', 'period', 'points'])
    .where('program_id', '=', programId)
    .where('campaign_id', 'in', campaigns.length > 0 ? campaigns.map((c) => c.id) : ['\u0000'])
    .execute();
  const used = new Map(rows.map((r) => [`${r.campaign_id}|${r.period}`, Number(r.points)]));
  const spend = (limit: number, spent: number) => ({
    points: limit,
    spent,
    remaining: Math.max(0, limit - spent),
  });
  return campaigns.map((c) => {
    const cap = c.caps?.perCampaign;
    const period = cap ? periodKey(local, cap.period) : null;
    return {
      id: c.id,
      name: c.name,
      enabled: c.enabled !== false,
      window: c.window ?? {},
      segment: c.segment ?? null,
      stacking: c.stacking ?? { policy: 'stack', priority: 0 },
      budget: c.budget ? spend(c.budget.points, used.get(`${c.id}|total`) ?? 0) : null,
      perCampaignCap:
        cap && period !== null
          ? { ...spend(cap.points, used.get(`${c.id}|${period}`) ?? 0), period }
          : null,
    };
  });
}

export function registerCampaignRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/v1/program/campaigns',
    {
      config: { scope: 'program:read' },
      schema: {
        tags: ['program'],
        operationId: 'listCampaigns',
        summary:
          'The campaigns in force, with what each has spent of its budget and of its cap today',
        description:
          "Budgets are counted by campaign id across versions: a campaign kept in a new version goes on spending the same budget. The perCampaign cap is shown for the period that contains now, in the program's time zone.",
        security: [{ oauth2: ['program:read'] }],
        response: { 200: CampaignList, ...problems(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { programId } = principalOf(request);
      const version = await readProgramVersion(deps.handle.db, programId);
      if (!version)
        return sendProblem(reply, problem('not-found', 'the program of this token does not exist'));
      const document = version.document;
      return {
        programVersion: version.version,
        items: await statuses(deps, programId, document.campaigns ?? [], document.timeZone),
      };
    },
  );
}
