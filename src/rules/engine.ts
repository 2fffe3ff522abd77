// Turns one event into points, with a trace that explains every step to a support agent.
//
// Order of work, once per event:
//   1. Each rule is considered: disabled, wrong event type, no amount (earn rules), condition
//      false or failed → not fired, with the reason. CEL run-time errors never escape.
//   2. M = product of the fired multiplier rules' factors × the member's current tier
//      multiplier. Multipliers multiply each other and apply to earn rules only.
//   3. Each fired earn rule gives amount × pointsPerUnit × M, exactly (Fraction), capped by
//      its caps.perEvent and by what remains of caps.perMember in the current period.
//   4. The earn total is rounded down ONCE, after all multipliers and caps.
//   5. Fired bonus rules add their fixed points, capped the same way.
//   6. settings.maxPointsPerEvent caps the total.
// Everything is pure: the caller supplies the local time and the member's cap usage.

import assert from 'node:assert/strict';
import { Fraction, minorDigits } from '../money/index.ts';
import {
  celActivation,
  compileCondition,
  runCondition,
  type CompiledCondition,
  type MemberMetrics,
} from './cel.ts';
import { experimentActive, experimentBucket, groupOf } from './experiments.ts';
import {
  POINTS_MAX,
  type Campaign,
  type Experiment,
  type EventTypeDefinition,
  type ProgramDocument,
  type Rule,
} from './document.ts';
import { periodKey, type LocalTime } from './local-time.ts';

export interface EvaluationInput {
  event: {
    id: string;
    type: string;
    memberId: string;
    occurredAt: Date;
    amount?: { minor: bigint; currency: string; value: string };
    attributes: Record<string, unknown>;
    partnerId?: string;
  };
  member: {
    id: string;
    tierId: string | null;
    isNew: boolean;
    attributes: Record<string, unknown>;
    /** Computed metrics as of this event (counted in), for conditions. */
    metrics?: MemberMetrics;
    /** The segments the member is in as of this event. */
    segments?: readonly string[];
  };
  /** Computed by the caller once per event with localTime(). */
  local: LocalTime;
  /** `${ruleId}|${periodKey}` → points the member already got from that rule in that period. */
  capUsage: ReadonlyMap<string, bigint>;
  /** `${campaignId}|total` or `${campaignId}|${periodKey}` → points the campaign already gave. */
  campaignUsage?: ReadonlyMap<string, bigint>;
}

export type CapBy = 'perEvent' | 'perMember' | 'maxPointsPerEvent';

export interface RuleTrace {
  id: string;
  name: string;
  type: 'earn' | 'multiplier' | 'bonus';
  fired: boolean;
  reason?: string;
  /** Points before rounding: for earn rules after multipliers and caps; for bonus rules the points. */
  contribution?: string;
  /** Earn rules: points per whole currency unit. */
  pointsPerUnit?: string;
  /** Multiplier rules: the factor. */
  factor?: string;
  capped?: { by: CapBy; limit: number };
  /** `experiment:<id>/<variant>` when an experiment's variant swapped this rule in or added it. */
  source?: string;
}

export interface Trace {
  programVersion: number;
  local: { date: string; weekday: number; hour: number; timeZone: string };
  amount?: { value: string; currency: string };
  /** Every campaign of the version: whether it ran, what it gave and whether it applied. */
  campaigns?: CampaignTrace[];
  /** The member's group in each experiment running at the event's instant. */
  experiments?: Record<string, { variant: string }>;
  rules: RuleTrace[];
  multipliers: { source: string; factor: string }[];
  combinedMultiplier: string;
  beforeRounding: string;
  rounding: { mode: 'down'; from: string; to: number };
  bonus: number;
  capped?: { by: 'maxPointsPerEvent'; limit: number };
  points: number;
}

/** A campaign's program-wide counter: its whole budget, or one perCampaign cap period. */
export interface CampaignUsageIncrement {
  campaignId: string;
  /** 'total' for the budget, else the perCampaign period's key. */
  period: string;
  points: bigint;
}

export interface CampaignTrace {
  id: string;
  name: string;
  policy: 'stack' | 'bestOf' | 'exclusive';
  priority: number;
  /** In its window (and enabled). */
  running: boolean;
  /** Why it gave nothing, when it gave nothing. */
  reason?: string;
  rules?: RuleTrace[];
  combinedMultiplier?: string;
  /** Extra points before rounding, then rounded down, then after budget and caps. */
  beforeRounding?: string;
  points?: number;
  awarded?: number;
  capped?: { by: 'budget' | 'perCampaign' | 'perMember'; limit: number; remaining: number };
  applied: boolean;
}

export interface CapUsageIncrement {
  ruleId: string;
  period: string;
  points: bigint;
}

export interface Evaluation {
  /** Total points for the event, ≥ 0. */
  points: bigint;
  /** Increments to record for rules with perMember caps (and campaigns', as `campaign:<id>`). */
  usage: CapUsageIncrement[];
  /** Increments of campaigns' program-wide counters (budgets, perCampaign caps). */
  campaignUsage: CampaignUsageIncrement[];
  trace: Trace;
}

export interface CompiledProgram {
  readonly document: ProgramDocument;
  readonly version: number;
  eventType(name: string): EventTypeDefinition | undefined;
  /** The `${ruleId}|${periodKey}` usage keys an event of this type could touch. */
  capKeys(eventType: string, local: LocalTime): string[];
  /** The `${campaignId}|…` program-wide counters an event of this type could touch. */
  campaignKeys(eventType: string, local: LocalTime): string[];
  /** The custom counters (metrics.counters) an event counts in. */
  countersFor(input: EvaluationInput): string[];
  /** The rule segments a member is in, given the metrics and profile in `input`. */
  segmentsFor(input: EvaluationInput): string[];
  evaluate(input: EvaluationInput): Evaluation;
}

interface CompiledRule {
  rule: Rule;
  condition: CompiledCondition | null;
  /** `experiment:<id>/<variant>` for a rule a variant swapped in or added. */
  source?: string;
}

interface CompiledVariant {
  swaps: Map<string, CompiledRule>;
  disabled: Set<string>;
  added: CompiledRule[];
}

interface CompiledExperiment {
  experiment: Experiment;
  variants: Map<string, CompiledVariant>;
}

/**
 * `programId` seeds experiment assignment (a member's group differs between programs); it
 * matters only to documents with experiments.
 */
export function compileProgram(
  document: ProgramDocument,
  version: number,
  programId = '',
): CompiledProgram {
  const compileRule = (rule: Rule, source?: string): CompiledRule => {
    if (rule.condition === undefined) return { rule, condition: null, source };
    const compiled = compileCondition(rule.condition);
    // Documents are validated before they are stored; failing here is a programming error.
    assert(compiled.ok, `rule "${rule.id}" of version ${version} has an invalid condition`);
    return { rule, condition: compiled.condition, source };
  };
  const rules: CompiledRule[] = document.rules.map((rule) => compileRule(rule));
  const experiments: CompiledExperiment[] = (document.experiments ?? [])
    .filter((experiment) => experiment.enabled !== false)
    .map((experiment) => ({
      experiment,
      variants: new Map(
        experiment.variants.map((variant) => {
          const source = `experiment:${experiment.id}/${variant.id}`;
          const swaps = new Map<string, CompiledRule>();
          const added: CompiledRule[] = [];
          for (const rule of variant.rules ?? []) {
            const compiled = compileRule(rule, source);
            if (document.rules.some((r) => r.id === rule.id)) swaps.set(rule.id, compiled);
            else added.push(compiled);
          }
          return [variant.id, { swaps, disabled: new Set(variant.disable ?? []), added }];
        }),
      ),
    }));
  const campaigns = (document.campaigns ?? [])
    .filter((campaign) => campaign.enabled !== false)
    .map((campaign) => ({
      campaign,
      rules: campaign.rules.map((rule) => compileRule(rule, `campaign:${campaign.id}`)),
      eventTypes: new Set(campaign.rules.flatMap((rule) => rule.eventTypes)),
    }));
  const compileOrThrow = (what: string, source: string) => {
    const compiled = compileCondition(source);
    assert(compiled.ok, `${what} of version ${version} has an invalid condition`);
    return compiled.condition;
  };
  const ruleSegments = (document.segments ?? []).flatMap((segment) =>
    segment.type === 'rule'
      ? [
          {
            id: segment.id,
            condition: compileOrThrow(`segment "${segment.id}"`, segment.condition),
          },
        ]
      : [],
  );
  const counters = (document.metrics?.counters ?? []).map((counter) => ({
    id: counter.id,
    eventTypes: new Set(counter.eventTypes),
    condition:
      counter.condition === undefined
        ? null
        : compileOrThrow(`counter "${counter.id}"`, counter.condition),
  }));

  /** The custom counters this event counts in (its type matches, its condition holds). */
  function countersFor(input: EvaluationInput): string[] {
    const hits: string[] = [];
    let activation: Record<string, unknown> | undefined;
    for (const counter of counters) {
      if (!counter.eventTypes.has(input.event.type)) continue;
      if (counter.condition !== null) {
        const outcome = runCondition(counter.condition, (activation ??= activationOf(input)));
        if (!outcome.ok || !outcome.value) continue;
      }
      hits.push(counter.id);
    }
    return hits;
  }

  /** The rule segments the member is in, given the metrics in `input` (a failing condition: not in). */
  function segmentsFor(input: EvaluationInput): string[] {
    if (ruleSegments.length === 0) return [];
    const activation = activationOf(input);
    return ruleSegments.flatMap(({ id, condition }) => {
      const outcome = runCondition(condition, activation);
      return outcome.ok && outcome.value ? [id] : [];
    });
  }

  const allRules = [
    ...rules,
    ...campaigns.flatMap((c) => c.rules),
    ...experiments.flatMap((e) =>
      [...e.variants.values()].flatMap((v) => [...v.swaps.values(), ...v.added]),
    ),
  ];
  const tierMultipliers = new Map(
    (document.tiers?.levels ?? []).map((level) => [level.id, level.multiplier ?? '1'] as const),
  );
  const eventTypes = new Map(Object.entries(document.eventTypes));
  const pointsCap = BigInt(
    Math.min(document.settings?.maxPointsPerEvent ?? POINTS_MAX, POINTS_MAX),
  );

  function capKeys(eventType: string, local: LocalTime): string[] {
    const keys: string[] = [];
    // Every variant's rules too: which one applies depends on the member, known later.
    for (const { rule } of allRules) {
      const perMember = rule.caps?.perMember;
      if (perMember && rule.enabled !== false && rule.eventTypes.includes(eventType)) {
        keys.push(`${rule.id}|${periodKey(local, perMember.period)}`);
      }
    }
    return keys;
  }

  function campaignKeys(eventType: string, local: LocalTime): string[] {
    const keys: string[] = [];
    for (const { campaign, eventTypes: types } of campaigns) {
      if (!types.has(eventType)) continue;
      if (campaign.budget) keys.push(`${campaign.id}|total`);
      const perCampaign = campaign.caps?.perCampaign;
      if (perCampaign) keys.push(`${campaign.id}|${periodKey(local, perCampaign.period)}`);
    }
    return keys;
  }

  function capKeysWithCampaigns(eventType: string, local: LocalTime): string[] {
    const keys = capKeys(eventType, local);
    for (const { campaign, eventTypes: types } of campaigns) {
      const perMember = campaign.caps?.perMember;
      if (perMember && types.has(eventType))
        keys.push(`campaign:${campaign.id}|${campaignPeriodKey(local, perMember.period)}`);
    }
    return keys;
  }

  function evaluate(input: EvaluationInput): Evaluation {
    const { event, member, local } = input;
    const amount = event.amount;
    const amountUnits = amount
      ? new Fraction(amount.minor, 10n ** BigInt(minorDigits(amount.currency)))
      : null;
    // The CEL variables, built at the first condition that needs them.
    const scope: ConditionScope = { input, activation: null, amountUnits, disabledBy: undefined };

    // 0. Experiments: the member's group in each running one, and the rules it changes.
    let applicable = rules;
    let experimentTrace: Trace['experiments'];
    for (const { experiment, variants } of experiments) {
      if (!experimentActive(experiment, event.occurredAt)) continue;
      const group = groupOf(experiment, experimentBucket(programId, experiment.id, member.id));
      experimentTrace ??= {};
      experimentTrace[experiment.id] = { variant: group };
      const variant = variants.get(group);
      if (!variant) continue;
      applicable = applicable.map((r) => variant.swaps.get(r.rule.id) ?? r);
      applicable.push(...variant.added);
      for (const id of variant.disabled) {
        scope.disabledBy ??= new Map();
        scope.disabledBy.set(id, `experiment "${experiment.id}", variant "${group}"`);
      }
    }

    // 1. Which rules fire.
    const { traces, fired } = consider(applicable, scope);

    // 2. Combined multiplier.
    const multipliers: Trace['multipliers'] = [];
    let combined = Fraction.ONE;
    for (const { rule } of fired) {
      if (rule.effect.type !== 'multiplier') continue;
      multipliers.push({ source: `rule:${rule.id}`, factor: rule.effect.factor });
      combined = combined.mul(Fraction.fromDecimal(rule.effect.factor));
    }
    const tierFactor = member.tierId === null ? undefined : tierMultipliers.get(member.tierId);
    if (tierFactor !== undefined) {
      multipliers.push({ source: `tier:${member.tierId}`, factor: tierFactor });
      combined = combined.mul(Fraction.fromDecimal(tierFactor));
    }

    // 3–5. Earn and bonus contributions, each capped.
    const usage: CapUsageIncrement[] = [];
    let earnSum = Fraction.ZERO;
    let bonus = 0n;
    for (const { rule, trace } of fired) {
      if (rule.effect.type === 'earn') {
        assert(amountUnits !== null);
        const points = amountUnits
          .mul(Fraction.fromDecimal(rule.effect.pointsPerUnit))
          .mul(combined);
        earnSum = earnSum.add(applyCaps(rule, trace, points, input, usage));
      } else if (rule.effect.type === 'bonus') {
        bonus += applyCaps(
          rule,
          trace,
          new Fraction(BigInt(rule.effect.points)),
          input,
          usage,
        ).floor();
      }
    }
    const earned = earnSum.floor();

    // 5b. Campaigns: each running one gives extra points — its multipliers on the program's
    // earned points, plus its own earn and bonus rules — rounded down on their own, then
    // limited by what is left of its budget and caps. Stacking decides which apply.
    const campaignTraces: CampaignTrace[] = [];
    const candidates: CampaignCandidate[] = [];
    for (const { campaign, rules: campaignRules } of campaigns) {
      const stacking = campaign.stacking ?? { policy: 'stack' as const, priority: 0 };
      const ct: CampaignTrace = {
        id: campaign.id,
        name: campaign.name,
        policy: stacking.policy,
        priority: stacking.priority ?? 0,
        running: false,
        applied: false,
      };
      campaignTraces.push(ct);
      const outside = outsideWindow(campaign, event.occurredAt, local);
      if (outside !== null) {
        ct.reason = outside;
        continue;
      }
      if (campaign.segment !== undefined && !(member.segments ?? []).includes(campaign.segment)) {
        ct.reason = `member is not in segment "${campaign.segment}"`;
        continue;
      }
      ct.running = true;
      const considered = consider(campaignRules, scope);
      ct.rules = considered.traces;
      let factor = Fraction.ONE;
      for (const { rule } of considered.fired)
        if (rule.effect.type === 'multiplier')
          factor = factor.mul(Fraction.fromDecimal(rule.effect.factor));
      let extra = earnSum.mul(factor).add(new Fraction(-earnSum.num, earnSum.den));
      for (const { rule, trace: rt } of considered.fired) {
        if (rule.effect.type === 'earn') {
          assert(amountUnits !== null);
          extra = extra.add(
            applyCaps(
              rule,
              rt,
              amountUnits
                .mul(Fraction.fromDecimal(rule.effect.pointsPerUnit))
                .mul(combined)
                .mul(factor),
              input,
              usage,
            ),
          );
        } else if (rule.effect.type === 'bonus') {
          extra = extra.add(
            applyCaps(rule, rt, new Fraction(BigInt(rule.effect.points)), input, usage),
          );
        }
      }
      ct.combinedMultiplier = factor.toDecimal();
      ct.beforeRounding = extra.toDecimal();
      const raw = extra.floor() > 0n ? extra.floor() : 0n;
      ct.points = Number(raw);
      let awarded = raw;
      const limitBy = (by: 'budget' | 'perCampaign' | 'perMember', limit: number, used: bigint) => {
        const remaining = BigInt(limit) - used > 0n ? BigInt(limit) - used : 0n;
        if (awarded > remaining) {
          awarded = remaining;
          ct.capped = { by, limit, remaining: Number(remaining) };
        }
      };
      if (campaign.budget)
        limitBy(
          'budget',
          campaign.budget.points,
          input.campaignUsage?.get(`${campaign.id}|total`) ?? 0n,
        );
      const perCampaign = campaign.caps?.perCampaign;
      if (perCampaign)
        limitBy(
          'perCampaign',
          perCampaign.points,
          input.campaignUsage?.get(`${campaign.id}|${periodKey(local, perCampaign.period)}`) ?? 0n,
        );
      const perMember = campaign.caps?.perMember;
      if (perMember)
        limitBy(
          'perMember',
          perMember.points,
          input.capUsage.get(
            `campaign:${campaign.id}|${campaignPeriodKey(local, perMember.period)}`,
          ) ?? 0n,
        );
      ct.awarded = Number(awarded);
      if (raw === 0n)
        ct.reason =
          considered.fired.length === 0 ? 'no rule of the campaign fired' : 'gives no extra points';
      else if (awarded === 0n) ct.reason = `${ct.capped?.by} spent`;
      else candidates.push({ campaign, awarded, trace: ct });
    }
    const exclusive = candidates.filter((c) => c.trace.policy === 'exclusive').sort(byPriority);
    const best = candidates.filter((c) => c.trace.policy === 'bestOf').sort(byPoints);
    let applied: typeof candidates;
    if (exclusive[0]) {
      applied = [exclusive[0]];
      for (const c of candidates)
        if (c !== exclusive[0])
          c.trace.reason = `exclusive campaign "${exclusive[0].campaign.id}" applied instead`;
    } else {
      applied = candidates.filter((c) => c.trace.policy === 'stack');
      if (best[0]) applied.push(best[0]);
      for (const c of best.slice(1))
        c.trace.reason = `bestOf: campaign "${best[0]?.campaign.id}" gives more`;
    }

    // 6. The per-event cap on the total; campaigns give up their points first.
    let points = earned + bonus + applied.reduce((sum, c) => sum + c.awarded, 0n);
    let totalCapped: Trace['capped'];
    if (points > pointsCap) {
      let excess = points - pointsCap;
      for (const c of [...applied].reverse()) {
        const cut = c.awarded < excess ? c.awarded : excess;
        c.awarded -= cut;
        excess -= cut;
        c.trace.awarded = Number(c.awarded);
      }
      points = pointsCap;
      totalCapped = { by: 'maxPointsPerEvent', limit: Number(pointsCap) };
    }
    assert(points >= 0n, 'points for an event are never negative');
    const campaignUsage: CampaignUsageIncrement[] = [];
    for (const c of applied) {
      if (c.awarded === 0n) continue;
      c.trace.applied = true;
      if (c.campaign.budget)
        campaignUsage.push({ campaignId: c.campaign.id, period: 'total', points: c.awarded });
      const perCampaign = c.campaign.caps?.perCampaign;
      if (perCampaign)
        campaignUsage.push({
          campaignId: c.campaign.id,
          period: periodKey(local, perCampaign.period),
          points: c.awarded,
        });
      const perMember = c.campaign.caps?.perMember;
      if (perMember)
        usage.push({
          ruleId: `campaign:${c.campaign.id}`,
          period: campaignPeriodKey(local, perMember.period),
          points: c.awarded,
        });
    }

    const trace: Trace = {
      programVersion: version,
      local: {
        date: local.date,
        weekday: local.weekday,
        hour: local.hour,
        timeZone: document.timeZone,
      },
      ...(amount ? { amount: { value: amount.value, currency: amount.currency } } : {}),
      ...(experimentTrace ? { experiments: experimentTrace } : {}),
      rules: traces,
      ...(campaignTraces.length > 0 ? { campaigns: campaignTraces } : {}),
      multipliers,
      combinedMultiplier: combined.toDecimal(),
      beforeRounding: earnSum.toDecimal(),
      rounding: { mode: 'down', from: earnSum.toDecimal(), to: Number(earned) },
      bonus: Number(bonus),
      ...(totalCapped ? { capped: totalCapped } : {}),
      points: Number(points),
    };
    return { points, usage, campaignUsage, trace };
  }

  return {
    document,
    version,
    eventType: (name) => eventTypes.get(name),
    capKeys: capKeysWithCampaigns,
    campaignKeys,
    countersFor,
    segmentsFor,
    evaluate,
  };
}

/**
 * What the conditions of one evaluation share. (Module-level functions rather than closures
 * in evaluate: the TypeScript loader names every closure it creates, a property definition
 * per closure per event, measured at 4 % of the process's time with batches of events.)
 */
interface ConditionScope {
  input: EvaluationInput;
  /** The CEL variables, built at the first condition that needs them. */
  activation: Record<string, unknown> | null;
  amountUnits: Fraction | null;
  /** Rules an experiment's variant disables for this member, with why. */
  disabledBy: Map<string, string> | undefined;
}

/** Step 1: which rules of a list fire, each with its trace. */
function consider(list: CompiledRule[], scope: ConditionScope) {
  const traces: RuleTrace[] = [];
  const fired: { rule: Rule; trace: RuleTrace }[] = [];
  for (const { rule, condition, source } of list) {
    const trace: RuleTrace = {
      id: rule.id,
      name: rule.name,
      type: rule.effect.type,
      fired: false,
    };
    if (source !== undefined) trace.source = source;
    if (rule.effect.type === 'earn') trace.pointsPerUnit = rule.effect.pointsPerUnit;
    if (rule.effect.type === 'multiplier') trace.factor = rule.effect.factor;
    traces.push(trace);
    if (rule.enabled === false) {
      trace.reason = 'rule is disabled';
      continue;
    }
    const disabledHere = scope.disabledBy?.get(rule.id);
    if (disabledHere !== undefined) {
      trace.reason = `disabled by ${disabledHere}`;
      continue;
    }
    if (!rule.eventTypes.includes(scope.input.event.type)) {
      trace.reason = `event type "${scope.input.event.type}" is not one of [${rule.eventTypes.map((t) => `"${t}"`).join(', ')}]`;
      continue;
    }
    if (rule.effect.type === 'earn' && scope.amountUnits === null) {
      trace.reason = 'event has no amount to earn on';
      continue;
    }
    if (condition !== null) {
      const outcome = runCondition(condition, (scope.activation ??= activationOf(scope.input)));
      if (!outcome.ok) {
        trace.reason = `condition failed: ${outcome.message}`;
        continue;
      }
      if (!outcome.value) {
        trace.reason = 'condition is false';
        continue;
      }
    }
    trace.fired = true;
    fired.push({ rule, trace });
  }
  return { traces, fired };
}

/** A contribution capped by the rule's caps; records the member's cap usage it takes. */
function applyCaps(
  rule: Rule,
  trace: RuleTrace,
  points: Fraction,
  input: EvaluationInput,
  usage: CapUsageIncrement[],
): Fraction {
  let capped = points;
  const perEvent = rule.caps?.perEvent;
  if (perEvent !== undefined && capped.compare(new Fraction(BigInt(perEvent))) > 0) {
    capped = new Fraction(BigInt(perEvent));
    trace.capped = { by: 'perEvent', limit: perEvent };
  }
  const perMember = rule.caps?.perMember;
  let period: string | undefined;
  if (perMember !== undefined) {
    period = periodKey(input.local, perMember.period);
    const used = input.capUsage.get(`${rule.id}|${period}`) ?? 0n;
    const remaining = BigInt(perMember.points) - used;
    const limit = remaining > 0n ? remaining : 0n;
    if (capped.compare(new Fraction(limit)) > 0) {
      capped = new Fraction(limit);
      trace.capped = { by: 'perMember', limit: perMember.points };
    }
    // Rounded up so that recorded usage can never let a member pass the cap.
    const increment = capped.ceil();
    if (increment > 0n) usage.push({ ruleId: rule.id, period, points: increment });
  }
  trace.contribution = capped.toDecimal();
  return capped;
}

interface CampaignCandidate {
  campaign: Campaign;
  awarded: bigint;
  trace: CampaignTrace;
}

function byPriority(a: CampaignCandidate, b: CampaignCandidate): number {
  return (
    b.trace.priority - a.trace.priority ||
    (a.awarded === b.awarded ? 0 : a.awarded > b.awarded ? -1 : 1) ||
    (a.campaign.id < b.campaign.id ? -1 : 1)
  );
}

function byPoints(a: CampaignCandidate, b: CampaignCandidate): number {
  return (a.awarded === b.awarded ? 0 : a.awarded > b.awarded ? -1 : 1) || byPriority(a, b);
}

/** The CEL variables of one event: built once per event and shared by its conditions. */
function activationOf(input: EvaluationInput): Record<string, unknown> {
  const { event, member } = input;
  const amount = event.amount;
  return celActivation({
    event: {
      id: event.id,
      type: event.type,
      memberId: event.memberId,
      amount: amount ? Number(amount.value) : 0,
      currency: amount?.currency ?? '',
      hasAmount: amount !== undefined,
      attributes: event.attributes,
      partnerId: event.partnerId ?? '',
    },
    member: {
      id: member.id,
      tier: member.tierId ?? '',
      isNew: member.isNew,
      attributes: member.attributes,
      ...(member.metrics ? { metrics: member.metrics } : {}),
      ...(member.segments ? { segments: member.segments } : {}),
    },
    local: input.local,
  });
}

/** A campaign's per-member cap period: a calendar period, or its whole life. */
function campaignPeriodKey(
  local: LocalTime,
  period: 'day' | 'week' | 'month' | 'campaign',
): string {
  return period === 'campaign' ? 'all' : periodKey(local, period);
}

/** Why a campaign is not running for an event, or null when it is. */
function outsideWindow(campaign: Campaign, at: Date, local: LocalTime): string | null {
  const window = campaign.window;
  if (!window) return null;
  if (window.start !== undefined && at.getTime() < Date.parse(window.start))
    return `starts at ${window.start}`;
  if (window.end !== undefined && at.getTime() >= Date.parse(window.end))
    return `ended at ${window.end}`;
  if (window.weekdays && !window.weekdays.includes(local.weekday))
    return `runs on weekdays [${window.weekdays.join(', ')}], not on ${local.weekday}`;
  if (window.hours) {
    const minutes = local.hour * 60 + local.minute;
    const from = clockMinutes(window.hours.from);
    const to = clockMinutes(window.hours.to);
    const inside = from < to ? minutes >= from && minutes < to : minutes >= from || minutes < to;
    if (!inside) return `runs from ${window.hours.from} to ${window.hours.to} local time`;
  }
  return null;
}

function clockMinutes(clock: string): number {
  const [hours, minutes] = clock.split(':') as [string, string];
  return Number(hours) * 60 + Number(minutes);
}
