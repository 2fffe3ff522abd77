// The program document: currencies, time zone, event types, rules, tiers and settings.
// It is validated in full when saved (schema, then meaning, then every CEL condition) and
// every error is reported at once, each with a JSON Pointer into the document. A valid
// document comes back normalised, with every default filled in, so the engine never guesses.

import { Type, type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import { parseDurationSeconds } from '../config.ts';
import { isKnownCurrency, parseAmount } from '../money/index.ts';
import { compileCondition, CONDITION_LENGTH_MAX } from './cel.ts';
import { isValidTimeZone } from './local-time.ts';

export const RULES_COUNT_MAX = 500;
export const TIER_LEVELS_COUNT_MAX = 20;
export const EVENT_TYPES_COUNT_MAX = 100;
export const CURRENCIES_COUNT_MAX = 10;
export const NAME_LENGTH_MAX = 200;
export const DESCRIPTION_LENGTH_MAX = 2000;
export const PERKS_COUNT_MAX = 20;
export const BACKDATING_WINDOW_DAYS_MAX = 3660;
export const ROLLING_WINDOW_DAYS_MAX = 3660;
/** Points in JSON are numbers; beyond this they would lose precision. */
export const POINTS_MAX = Number.MAX_SAFE_INTEGER;

export const EVENT_TYPE_NAME_PATTERN = '^[A-Za-z][A-Za-z0-9_.-]{0,63}$';
export const RULE_ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$';
export const DECIMAL_PATTERN = '^\\d{1,9}(\\.\\d{1,6})?$';
const LEVEL_ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$';

const strict = { additionalProperties: false } as const;

const Decimal = (description: string) =>
  Type.String({ pattern: DECIMAL_PATTERN, description: `${description} (decimal string)` });
const Points = (description: string, minimum = 0) =>
  Type.Integer({ minimum, maximum: POINTS_MAX, description });

const EventTypeSchema = Type.Union(
  [
    Type.Object(
      {
        kind: Type.Literal('purchase', {
          description: 'A purchase: amount required, counts as spend',
        }),
      },
      strict,
    ),
    Type.Object(
      {
        kind: Type.Literal('refund', {
          description:
            'A refund of an earlier event (refundOf): amount required; at most one refund type',
        }),
      },
      strict,
    ),
    Type.Object(
      {
        kind: Type.Literal('custom'),
        amount: Type.Optional(
          Type.Union(
            [Type.Literal('required'), Type.Literal('optional'), Type.Literal('forbidden')],
            {
              description: 'Whether events of this type carry an amount (default optional)',
            },
          ),
        ),
      },
      strict,
    ),
  ],
  { description: 'What kind of event this type is' },
);

const CapsSchema = Type.Object(
  {
    perEvent: Type.Optional(Points('Most points this rule gives for one event')),
    perMember: Type.Optional(
      Type.Object(
        {
          points: Points('Most points this rule gives one member in one period'),
          period: Type.Union(
            [
              Type.Literal('day'),
              Type.Literal('week'),
              Type.Literal('month'),
              Type.Literal('year'),
            ],
            { description: "Calendar period in the program's time zone (weeks are ISO weeks)" },
          ),
        },
        strict,
      ),
    ),
  },
  { ...strict, description: 'Caps, on earn and bonus rules only' },
);

const EffectSchema = Type.Union(
  [
    Type.Object(
      {
        type: Type.Literal('earn'),
        pointsPerUnit: Decimal('Points per whole currency unit of the amount'),
      },
      strict,
    ),
    Type.Object(
      {
        type: Type.Literal('multiplier'),
        factor: Decimal('Factor (> 0) applied to earned points; multipliers multiply each other'),
      },
      strict,
    ),
    Type.Object(
      { type: Type.Literal('bonus'), points: Points('Fixed points, not multiplied', 1) },
      strict,
    ),
  ],
  { description: 'What the rule does when it fires' },
);

const RuleSchema = Type.Object(
  {
    id: Type.String({ pattern: RULE_ID_PATTERN, description: 'Stable, unique rule id' }),
    name: Type.String({ minLength: 1, maxLength: NAME_LENGTH_MAX }),
    description: Type.Optional(Type.String({ maxLength: DESCRIPTION_LENGTH_MAX })),
    eventTypes: Type.Array(Type.String({ pattern: EVENT_TYPE_NAME_PATTERN }), {
      minItems: 1,
      maxItems: EVENT_TYPES_COUNT_MAX,
      description: 'Event types the rule applies to (not the refund type)',
    }),
    condition: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: CONDITION_LENGTH_MAX,
        description: 'CEL boolean over event, member and local (e.g. "local.weekday >= 6")',
      }),
    ),
    effect: EffectSchema,
    caps: Type.Optional(CapsSchema),
    enabled: Type.Optional(Type.Boolean({ description: 'Default true' })),
  },
  strict,
);

const WindowSchema = Type.Union(
  [
    Type.Object({ type: Type.Literal('lifetime') }, strict),
    Type.Object({ type: Type.Literal('calendarYear') }, strict),
    Type.Object(
      {
        type: Type.Literal('rolling'),
        days: Type.Integer({ minimum: 1, maximum: ROLLING_WINDOW_DAYS_MAX }),
      },
      strict,
    ),
  ],
  { description: 'The window the metric is summed over' },
);

const EventTypeList = Type.Array(Type.String({ pattern: EVENT_TYPE_NAME_PATTERN }), {
  minItems: 1,
  maxItems: EVENT_TYPES_COUNT_MAX,
});

const MetricSchema = Type.Union(
  [
    Type.Object({ type: Type.Literal('points', { description: 'Points earned' }) }, strict),
    Type.Object(
      {
        type: Type.Literal('spend', {
          description:
            "Purchase amounts minus refunds in the program's first currency, whole units",
        }),
      },
      strict,
    ),
    Type.Object(
      {
        type: Type.Literal('amount', { description: 'Amounts of these event types, whole units' }),
        eventTypes: EventTypeList,
      },
      strict,
    ),
    Type.Object(
      {
        type: Type.Literal('count', { description: 'Number of events of these types' }),
        eventTypes: EventTypeList,
      },
      strict,
    ),
  ],
  { description: 'The qualifying metric' },
);

const LevelSchema = Type.Object(
  {
    id: Type.String({ pattern: LEVEL_ID_PATTERN }),
    name: Type.String({ minLength: 1, maxLength: NAME_LENGTH_MAX }),
    threshold: Points('Metric value from which the level applies; the first level is 0'),
    multiplier: Type.Optional(Decimal('Multiplier on earned points (default "1")')),
    benefits: Type.Optional(
      Type.Object(
        {
          cashbackPercent: Type.Optional(Decimal('Cashback in percent')),
          perks: Type.Optional(
            Type.Array(Type.String({ minLength: 1, maxLength: NAME_LENGTH_MAX }), {
              maxItems: PERKS_COUNT_MAX,
            }),
          ),
        },
        strict,
      ),
    ),
  },
  strict,
);

const TiersSchema = Type.Object(
  {
    metric: MetricSchema,
    window: WindowSchema,
    retentionWindow: Type.Optional(WindowSchema),
    levels: Type.Array(LevelSchema, {
      minItems: 1,
      maxItems: TIER_LEVELS_COUNT_MAX,
      description: 'Levels in strictly ascending threshold order, the first at 0',
    }),
  },
  { ...strict, description: 'Tiers (optional: a program without tiers has none)' },
);

export const HOLD_TTL_SECONDS_MIN = 60;
export const HOLD_TTL_SECONDS_MAX = 7 * 86_400;
export const HOLD_TTL_DEFAULT = 'PT15M';

const RedemptionSettingsSchema = Type.Object(
  {
    holdTtl: Type.Optional(
      Type.String({
        pattern: '^P(?:[0-9]+D)?(?:T(?:[0-9]+H)?(?:[0-9]+M)?(?:[0-9]+S)?)?$',
        description: `How long a hold lasts unless confirmed or cancelled, ISO 8601 (default ${HOLD_TTL_DEFAULT}; 1 minute to 7 days)`,
        examples: ['PT15M'],
      }),
    ),
    pointValue: Type.Optional(
      Type.Object(
        {
          points: Points('This many points…', 1),
          value: Type.Object(
            {
              value: Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?$', examples: ['10.00'] }),
              currency: Type.String({ pattern: '^[A-Z]{3}$', examples: ['EUR'] }),
            },
            strict,
          ),
        },
        {
          ...strict,
          description:
            '…are worth this much money when a member pays with points (the value is rounded down to the minor unit)',
        },
      ),
    ),
  },
  { ...strict, description: 'Holds and paying with points' },
);

export const EXPIRY_MONTHS_MAX = 120;
export const EXPIRY_AFTER_YEARS_MAX = 10;
export const EXPIRY_WARNING_DAYS_MAX = 365;
export const EXPIRY_WARNING_DAYS_DEFAULT = 30;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

const ExpiryMonths = (description: string) =>
  Type.Integer({ minimum: 1, maximum: EXPIRY_MONTHS_MAX, description, examples: [12] });

const ExpiryPolicySchema = Type.Union(
  [
    Type.Object(
      { type: Type.Literal('none', { description: 'Points never expire (the default)' }) },
      strict,
    ),
    Type.Object(
      {
        type: Type.Literal('lot', {
          description:
            "Each lot expires at the same local time this many calendar months after it was earned, in the program's time zone; a day the month lacks becomes its last day (31 January + 1 month: 28 or 29 February)",
        }),
        months: ExpiryMonths('Months after earning'),
      },
      strict,
    ),
    Type.Object(
      {
        type: Type.Literal('inactivity', {
          description:
            "All of a member's available points expire once this many months have passed since the local day of the member's last event that earned points",
        }),
        months: ExpiryMonths('Months without an event that earns points'),
      },
      strict,
    ),
    Type.Object(
      {
        type: Type.Literal('endOfPeriod', {
          description:
            'Points earned in the period that ends on month/day expire at the end of that day (local time) afterYears years later: month 12, day 31, afterYears 1 expires everything earned in 2026 at the end of 31 December 2027',
        }),
        month: Type.Integer({ minimum: 1, maximum: 12, examples: [12] }),
        day: Type.Integer({
          minimum: 1,
          maximum: 31,
          description: 'A day of that month; 29 February is refused (it is not in every year)',
          examples: [31],
        }),
        afterYears: Type.Integer({
          minimum: 0,
          maximum: EXPIRY_AFTER_YEARS_MAX,
          description: 'Whole years after the end of the earning period (0: at its end)',
          examples: [1],
        }),
      },
      strict,
    ),
  ],
  { description: 'When points expire' },
);

const ExpirySettingsSchema = Type.Object(
  {
    policy: Type.Optional(ExpiryPolicySchema),
    warningDays: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: EXPIRY_WARNING_DAYS_MAX,
        description: `Members are warned (points.expiring) this many days before points expire; 0: no warnings (default ${EXPIRY_WARNING_DAYS_DEFAULT})`,
        examples: [30],
      }),
    ),
  },
  {
    ...strict,
    description: 'Expiry of points (default: none)',
    examples: [
      { policy: { type: 'endOfPeriod', month: 12, day: 31, afterYears: 1 }, warningDays: 30 },
    ],
  },
);

export type ExpiryPolicy = Static<typeof ExpiryPolicySchema>;

export const PENDING_DAYS_MAX = 365;

const PendingSettingsSchema = Type.Object(
  {
    days: Type.Integer({
      minimum: 1,
      maximum: PENDING_DAYS_MAX,
      description: 'How long the points stay pending (a return window), in days',
      examples: [14],
    }),
    eventTypes: Type.Array(Type.String({ pattern: EVENT_TYPE_NAME_PATTERN }), {
      minItems: 1,
      maxItems: EVENT_TYPES_COUNT_MAX,
      uniqueItems: true,
      description: 'Event types whose points are pending first',
      examples: [['purchase']],
    }),
  },
  {
    ...strict,
    description:
      'Points earned by these event types wait in the pending account until the window ends; a refund within it voids them',
  },
);

const SettingsSchema = Type.Object(
  {
    backdatingWindowDays: Type.Optional(
      Type.Integer({ minimum: 0, maximum: BACKDATING_WINDOW_DAYS_MAX, description: 'Default 90' }),
    ),
    createMembersOnEvent: Type.Optional(Type.Boolean({ description: 'Default true' })),
    negativeBalance: Type.Optional(
      Type.Union([Type.Literal('allow'), Type.Literal('forbid')], { description: 'Default allow' }),
    ),
    maxPointsPerEvent: Type.Optional(Points('Most points one event can earn in total')),
    redemption: Type.Optional(RedemptionSettingsSchema),
    expiry: Type.Optional(ExpirySettingsSchema),
    pending: Type.Optional(PendingSettingsSchema),
  },
  strict,
);

export const EXPERIMENTS_COUNT_MAX = 20;
export const VARIANTS_COUNT_MAX = 10;
export const VARIANT_RULES_COUNT_MAX = 50;
/** The group that keeps the published rules; no variant may take this id. */
export const CONTROL_GROUP = 'control';

const Percent = (description: string) =>
  Type.Number({
    minimum: 0,
    maximum: 100,
    description: `${description} (0-100, at most two decimals)`,
  });

const VariantSchema = Type.Object(
  {
    id: Type.String({
      pattern: LEVEL_ID_PATTERN,
      description: `Variant id (not "${CONTROL_GROUP}")`,
    }),
    name: Type.String({ minLength: 1, maxLength: NAME_LENGTH_MAX }),
    percent: Percent('Share of members in this variant'),
    rules: Type.Optional(
      Type.Array(RuleSchema, {
        maxItems: VARIANT_RULES_COUNT_MAX,
        description:
          "Rules of this variant: one with the id of a program rule takes that rule's place (a swap), any other is added after the program's rules",
      }),
    ),
    disable: Type.Optional(
      Type.Array(Type.String({ pattern: RULE_ID_PATTERN }), {
        maxItems: VARIANT_RULES_COUNT_MAX,
        uniqueItems: true,
        description: 'Program rules that do not apply in this variant',
      }),
    ),
  },
  strict,
);

const ExperimentSchema = Type.Object(
  {
    id: Type.String({
      pattern: RULE_ID_PATTERN,
      description: 'Stable experiment id: it seeds the assignment',
    }),
    name: Type.String({ minLength: 1, maxLength: NAME_LENGTH_MAX }),
    description: Type.Optional(Type.String({ maxLength: DESCRIPTION_LENGTH_MAX })),
    enabled: Type.Optional(Type.Boolean({ description: 'Default true' })),
    start: Type.Optional(
      Type.String({
        format: 'date-time',
        description: 'Events before this instant are not in the experiment',
      }),
    ),
    end: Type.Optional(
      Type.String({
        format: 'date-time',
        description: 'Events from this instant on are not in the experiment',
      }),
    ),
    controlPercent: Percent('Share of members who keep the published rules'),
    variants: Type.Array(VariantSchema, {
      minItems: 1,
      maxItems: VARIANTS_COUNT_MAX,
      description: 'controlPercent and the variants’ percents add up to 100',
    }),
  },
  {
    ...strict,
    description:
      'An A/B/n test: each member is assigned for good to the control group or one variant by a hash of program, experiment and member id',
  },
);

export const SEGMENTS_COUNT_MAX = 100;
export const COUNTERS_COUNT_MAX = 50;
const SEGMENT_ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$';

const SegmentSchema = Type.Union(
  [
    Type.Object(
      {
        type: Type.Literal('rule', {
          description:
            "Members for whom the condition holds, re-evaluated with each of their events (after the event's metrics are counted)",
        }),
        id: Type.String({ pattern: SEGMENT_ID_PATTERN }),
        name: Type.String({ minLength: 1, maxLength: NAME_LENGTH_MAX }),
        description: Type.Optional(Type.String({ maxLength: DESCRIPTION_LENGTH_MAX })),
        condition: Type.String({
          minLength: 1,
          maxLength: CONDITION_LENGTH_MAX,
          description:
            'CEL boolean over member (attributes, tier, metrics) and local, e.g. "member.metrics.lifetimeSpend >= 1000.0"',
        }),
      },
      strict,
    ),
    Type.Object(
      {
        type: Type.Literal('static', {
          description:
            'A list of member ids, imported as CSV (POST /v1/segments/{id}/members:import)',
        }),
        id: Type.String({ pattern: SEGMENT_ID_PATTERN }),
        name: Type.String({ minLength: 1, maxLength: NAME_LENGTH_MAX }),
        description: Type.Optional(Type.String({ maxLength: DESCRIPTION_LENGTH_MAX })),
      },
      strict,
    ),
  ],
  { description: 'A segment of members' },
);

const Thresholds = <T extends TSchema>(item: T, description: string) =>
  Type.Array(item, { minItems: 4, maxItems: 4, description });

const MetricsSchema = Type.Object(
  {
    counters: Type.Optional(
      Type.Array(
        Type.Object(
          {
            id: Type.String({ pattern: SEGMENT_ID_PATTERN }),
            name: Type.String({ minLength: 1, maxLength: NAME_LENGTH_MAX }),
            eventTypes: EventTypeList,
            condition: Type.Optional(
              Type.String({ minLength: 1, maxLength: CONDITION_LENGTH_MAX }),
            ),
          },
          strict,
        ),
        {
          maxItems: COUNTERS_COUNT_MAX,
          description:
            'Custom counters: events of these types (for which the condition holds) counted per member, as member.metrics.counters.<id>',
        },
      ),
    ),
    rfm: Type.Optional(
      Type.Object(
        {
          recencyDays: Thresholds(
            Type.Integer({ minimum: 0, maximum: 3660 }),
            'Ascending days since the previous event: within the first a member scores 5, past the last 1',
          ),
          frequency: Thresholds(
            Type.Integer({ minimum: 1, maximum: 1_000_000 }),
            'Ascending event counts: below the first a member scores 1, from the last on 5',
          ),
          monetary: Thresholds(
            Type.String({ pattern: '^[0-9]{1,12}(\\.[0-9]{1,4})?$' }),
            "Ascending lifetime spend in the program's first currency: below the first 1, from the last on 5",
          ),
        },
        {
          ...strict,
          description: 'RFM scores 1-5 (member.metrics.recency, frequency, monetary) by thresholds',
        },
      ),
    ),
  },
  { ...strict, description: 'Computed member metrics, updated with every event' },
);

export const CAMPAIGNS_COUNT_MAX = 50;
export const CAMPAIGN_RULES_COUNT_MAX = 50;
const CLOCK_PATTERN = '^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$';

const CampaignSchema = Type.Object(
  {
    id: Type.String({
      pattern: RULE_ID_PATTERN,
      description: 'Stable campaign id: its budget and caps are counted by it',
    }),
    name: Type.String({ minLength: 1, maxLength: NAME_LENGTH_MAX }),
    description: Type.Optional(Type.String({ maxLength: DESCRIPTION_LENGTH_MAX })),
    enabled: Type.Optional(Type.Boolean({ description: 'Default true' })),
    window: Type.Optional(
      Type.Object(
        {
          start: Type.Optional(
            Type.String({ format: 'date-time', description: 'From this instant' }),
          ),
          end: Type.Optional(
            Type.String({ format: 'date-time', description: 'Until this instant (excluded)' }),
          ),
          weekdays: Type.Optional(
            Type.Array(Type.Integer({ minimum: 1, maximum: 7 }), {
              minItems: 1,
              maxItems: 7,
              uniqueItems: true,
              description: "ISO weekdays (1 Monday … 7 Sunday) in the program's time zone",
            }),
          ),
          hours: Type.Optional(
            Type.Object(
              {
                from: Type.String({ pattern: CLOCK_PATTERN, examples: ['17:00'] }),
                to: Type.String({ pattern: CLOCK_PATTERN, examples: ['19:00'] }),
              },
              {
                ...strict,
                description:
                  'Local wall-clock time of day, from included to excluded; a `to` before `from` runs past midnight (22:00-02:00). Across a daylight-saving change the wall clock decides',
              },
            ),
          ),
        },
        { ...strict, description: 'When the campaign runs: every condition given must hold' },
      ),
    ),
    segment: Type.Optional(
      Type.String({
        pattern: SEGMENT_ID_PATTERN,
        description: 'Only members in this segment (as of the event) get the campaign',
      }),
    ),
    rules: Type.Array(RuleSchema, {
      minItems: 1,
      maxItems: CAMPAIGN_RULES_COUNT_MAX,
      description:
        "The campaign's rules: its multipliers multiply the program's earned points, its earn and bonus rules add to them",
    }),
    budget: Type.Optional(
      Type.Object(
        {
          points: Points(
            'Points the campaign gives in all; it stops firing when they are spent',
            1,
          ),
        },
        strict,
      ),
    ),
    caps: Type.Optional(
      Type.Object(
        {
          perMember: Type.Optional(
            Type.Object(
              {
                points: Points('Most points one member gets from the campaign in one period', 1),
                period: Type.Union(
                  [
                    Type.Literal('day'),
                    Type.Literal('week'),
                    Type.Literal('month'),
                    Type.Literal('campaign'),
                  ],
                  {
                    description:
                      "Calendar period in the program's time zone, or the campaign's lifetime",
                  },
                ),
              },
              strict,
            ),
          ),
          perCampaign: Type.Optional(
            Type.Object(
              {
                points: Points(
                  'Most points the campaign gives all members together in one period',
                  1,
                ),
                period: Type.Union(
                  [Type.Literal('day'), Type.Literal('week'), Type.Literal('month')],
                  {
                    description: "Calendar period in the program's time zone",
                  },
                ),
              },
              strict,
            ),
          ),
        },
        strict,
      ),
    ),
    stacking: Type.Optional(
      Type.Object(
        {
          policy: Type.Union(
            [Type.Literal('stack'), Type.Literal('bestOf'), Type.Literal('exclusive')],
            {
              description:
                'stack: adds to any other campaign; bestOf: only the best-paying bestOf campaign applies; exclusive: when it fires, it alone applies (the highest priority wins)',
            },
          ),
          priority: Type.Optional(
            Type.Integer({ minimum: 0, maximum: 1000, description: 'Breaks ties; default 0' }),
          ),
        },
        strict,
      ),
    ),
  },
  {
    ...strict,
    description:
      'A campaign: rules with a time window, a points budget, caps and a stacking policy. Its extra points are rounded down on their own',
  },
);

export const RETAIL_EXAMPLE = {
  name: 'Demo retail program',
  timeZone: 'Europe/Prague',
  currencies: ['EUR'],
  eventTypes: {
    purchase: { kind: 'purchase' },
    refund: { kind: 'refund' },
    review: { kind: 'custom', amount: 'forbidden' },
  },
  rules: [
    {
      id: 'base',
      name: '1 point per EUR',
      eventTypes: ['purchase'],
      effect: { type: 'earn', pointsPerUnit: '1' },
    },
    {
      id: 'weekend',
      name: 'Double points at weekends',
      eventTypes: ['purchase'],
      condition: 'local.weekday >= 6',
      effect: { type: 'multiplier', factor: '2' },
    },
    {
      id: 'electronics',
      name: 'Triple points on electronics',
      eventTypes: ['purchase'],
      condition: "event.attributes.?category.orValue('') == 'electronics'",
      effect: { type: 'multiplier', factor: '3' },
    },
    {
      id: 'review-bonus',
      name: '50 points per review',
      eventTypes: ['review'],
      effect: { type: 'bonus', points: 50 },
      caps: { perMember: { points: 150, period: 'month' } },
    },
  ],
  tiers: {
    metric: { type: 'points' },
    window: { type: 'calendarYear' },
    levels: [
      { id: 'bronze', name: 'Bronze', threshold: 0, multiplier: '1' },
      { id: 'silver', name: 'Silver', threshold: 1000, multiplier: '1.1' },
      { id: 'gold', name: 'Gold', threshold: 5000, multiplier: '1.25' },
      { id: 'platinum', name: 'Platinum', threshold: 20000, multiplier: '1.5' },
    ],
  },
  settings: {
    backdatingWindowDays: 90,
    createMembersOnEvent: true,
    negativeBalance: 'allow',
    // Points expire 12 months after they were earned, with a warning 30 days before.
    expiry: { policy: { type: 'lot', months: 12 }, warningDays: 30 },
  },
} as const;

export const ProgramDocumentSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: NAME_LENGTH_MAX, description: 'Program name' }),
    timeZone: Type.String({
      minLength: 1,
      maxLength: 64,
      description: "IANA time zone for the rules' local time, cap periods and calendar windows",
    }),
    currencies: Type.Array(Type.String({ pattern: '^[A-Z]{3}$' }), {
      minItems: 1,
      maxItems: CURRENCIES_COUNT_MAX,
      description: 'Accepted ISO 4217 currencies; the first is the spend metric currency',
    }),
    eventTypes: Type.Record(Type.String({ pattern: EVENT_TYPE_NAME_PATTERN }), EventTypeSchema, {
      additionalProperties: false,
      minProperties: 1,
      maxProperties: EVENT_TYPES_COUNT_MAX,
      description: 'Event types by name',
    }),
    rules: Type.Array(RuleSchema, {
      maxItems: RULES_COUNT_MAX,
      description: 'Rules, in evaluation order',
    }),
    tiers: Type.Optional(TiersSchema),
    settings: Type.Optional(SettingsSchema),
    metrics: Type.Optional(MetricsSchema),
    segments: Type.Optional(
      Type.Array(SegmentSchema, {
        maxItems: SEGMENTS_COUNT_MAX,
        description: 'Segments of members',
      }),
    ),
    campaigns: Type.Optional(
      Type.Array(CampaignSchema, {
        maxItems: CAMPAIGNS_COUNT_MAX,
        description: 'Campaigns, on top of the rules',
      }),
    ),
    experiments: Type.Optional(
      Type.Array(ExperimentSchema, {
        maxItems: EXPERIMENTS_COUNT_MAX,
        description: 'A/B/n experiments on the rules',
      }),
    ),
  },
  { ...strict, description: 'A loyalty program document', examples: [RETAIL_EXAMPLE] },
);

export type ProgramDocument = Static<typeof ProgramDocumentSchema>;
export type Rule = Static<typeof RuleSchema>;
export type EventTypeDefinition = Static<typeof EventTypeSchema>;
export type TierLevel = Static<typeof LevelSchema>;
export type TierWindow = Static<typeof WindowSchema>;
export type Experiment = Static<typeof ExperimentSchema>;
export type Campaign = Static<typeof CampaignSchema>;
export type Segment = Static<typeof SegmentSchema>;
export type MetricsSettings = Static<typeof MetricsSchema>;
export type ExperimentVariant = Static<typeof VariantSchema>;

export interface DocumentError {
  /** JSON Pointer (RFC 6901) into the submitted document. */
  pointer: string;
  detail: string;
}

export type ValidationResult =
  { ok: true; document: ProgramDocument } | { ok: false; errors: DocumentError[] };

const documentCheck = Compile(ProgramDocumentSchema);
// Sections checked on their own, so that cross-references are only followed when well-formed.
const sectionChecks = {
  eventTypes: Compile(ProgramDocumentSchema.properties.eventTypes),
  rule: Compile(RuleSchema),
  tiers: Compile(TiersSchema),
  redemption: Compile(RedemptionSettingsSchema),
  expiry: Compile(ExpirySettingsSchema),
  pending: Compile(PendingSettingsSchema),
  experiment: Compile(ExperimentSchema),
  campaign: Compile(CampaignSchema),
  segment: Compile(SegmentSchema),
  metrics: Compile(MetricsSchema),
};

/** Validates a program document in full and returns it normalised, or every error found. */
export function validateProgramDocument(input: unknown): ValidationResult {
  if (documentCheck.Check(input) && semanticErrors(input as Record<string, unknown>).length === 0) {
    return { ok: true, document: normalise(input as ProgramDocument) };
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { ok: false, errors: [{ pointer: '', detail: 'must be an object' }] };
  }
  // Meaning checks run on every section that is well-formed on its own, so one bad rule does
  // not hide a bad time zone.
  const doc = input as Record<string, unknown>;
  return {
    ok: false,
    errors: [
      ...schemaErrors(ProgramDocumentSchema as unknown as SchemaNode, doc, ''),
      ...semanticErrors(doc),
    ],
  };
}

type SchemaNode = Record<string, unknown>;

/**
 * Every schema error, found by walking the schema. TypeBox stops at the first failing
 * property of an object and reports every branch of a union, so objects, arrays and
 * discriminated unions are descended here and only leaves are left to TypeBox.
 */
function schemaErrors(schema: SchemaNode, value: unknown, pointer: string): DocumentError[] {
  if (Value.Check(schema as never, value)) return [];
  const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
  if (Array.isArray(schema['anyOf']))
    return unionErrors(schema['anyOf'] as SchemaNode[], value, pointer);
  if (schema['type'] === 'object' && isObject) {
    const record = value as Record<string, unknown>;
    const errors = shallowErrors(schema, value, pointer);
    const properties = (schema['properties'] ?? {}) as Record<string, SchemaNode>;
    const patterns = Object.entries(
      (schema['patternProperties'] ?? {}) as Record<string, SchemaNode>,
    );
    for (const key of (schema['required'] ?? []) as string[]) {
      if (!(key in record))
        errors.push({ pointer: `${pointer}/${encodePointerToken(key)}`, detail: 'is required' });
    }
    for (const [key, child] of Object.entries(record)) {
      const at = `${pointer}/${encodePointerToken(key)}`;
      const childSchema =
        properties[key] ?? patterns.find(([pattern]) => new RegExp(pattern).test(key))?.[1];
      if (childSchema === undefined) {
        if (schema['additionalProperties'] === false) {
          errors.push({
            pointer: at,
            detail:
              patterns.length > 0
                ? `name "${key}" must match ${patterns[0]?.[0]}`
                : `unknown property "${key}"`,
          });
        }
        continue;
      }
      errors.push(...schemaErrors(childSchema, child, at));
    }
    return errors;
  }
  if (schema['type'] === 'array' && Array.isArray(value)) {
    const errors = shallowErrors(schema, value, pointer);
    const items = schema['items'] as SchemaNode | undefined;
    if (items)
      value.forEach((item, index) =>
        errors.push(...schemaErrors(items, item, `${pointer}/${index}`)),
      );
    return errors;
  }
  return leafErrors(schema, value, pointer);
}

/** Constraints of an object or array itself (sizes), without its members. */
function shallowErrors(schema: SchemaNode, value: unknown, pointer: string): DocumentError[] {
  const {
    properties: _p,
    patternProperties: _pp,
    items: _i,
    required: _r,
    additionalProperties: _a,
    ...shallow
  } = schema;
  return leafErrors(shallow, value, pointer);
}

function leafErrors(schema: SchemaNode, value: unknown, pointer: string): DocumentError[] {
  return [...Value.Errors(schema as never, value)].map((error) => ({
    pointer: pointer + error.instancePath,
    detail: error.message,
  }));
}

/** Errors of a union: of the branch the value's discriminant names, or which values are allowed. */
function unionErrors(branches: SchemaNode[], value: unknown, pointer: string): DocumentError[] {
  const constOf = (branch: SchemaNode, field?: string): unknown =>
    field === undefined
      ? branch['const']
      : (branch['properties'] as Record<string, { const?: unknown }> | undefined)?.[field]?.const;
  if (branches.every((branch) => 'const' in branch)) {
    return [
      {
        pointer,
        detail: `must be one of ${branches.map((b) => JSON.stringify(constOf(b))).join(', ')}`,
      },
    ];
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return [{ pointer, detail: 'must be an object' }];
  }
  const field = branches.every((b) => constOf(b, 'kind') !== undefined) ? 'kind' : 'type';
  const discriminant = (value as Record<string, unknown>)[field];
  const branch = branches.find((b) => constOf(b, field) === discriminant);
  if (branch === undefined) {
    const allowed = branches.map((b) => JSON.stringify(constOf(b, field))).join(', ');
    return [{ pointer: `${pointer}/${field}`, detail: `must be one of ${allowed}` }];
  }
  return schemaErrors(branch, value, pointer);
}

function semanticErrors(doc: Record<string, unknown>): DocumentError[] {
  const errors: DocumentError[] = [];
  const push = (pointer: string, detail: string) => errors.push({ pointer, detail });

  if (typeof doc['timeZone'] === 'string' && !isValidTimeZone(doc['timeZone'])) {
    push('/timeZone', `unknown time zone "${doc['timeZone']}"`);
  }

  if (Array.isArray(doc['currencies'])) {
    const seen = new Set<string>();
    doc['currencies'].forEach((code: unknown, index) => {
      if (typeof code !== 'string') return;
      if (!isKnownCurrency(code)) push(`/currencies/${index}`, `unknown currency "${code}"`);
      if (seen.has(code)) push(`/currencies/${index}`, `duplicate currency "${code}"`);
      seen.add(code);
    });
  }

  // Event types: only trusted for cross-references when the whole section is well-formed.
  let eventTypes: Record<string, EventTypeDefinition> | null = null;
  if (sectionChecks.eventTypes.Check(doc['eventTypes'])) {
    eventTypes = doc['eventTypes'] as Record<string, EventTypeDefinition>;
    const refunds = Object.keys(eventTypes).filter((name) => eventTypes?.[name]?.kind === 'refund');
    for (const extra of refunds.slice(1)) {
      push(
        `/eventTypes/${encodePointerToken(extra)}`,
        `at most one refund type may exist (already "${refunds[0]}")`,
      );
    }
  }
  const amountRule = (name: string) => {
    const type = eventTypes?.[name];
    return type ? amountPolicy(type) : 'forbidden';
  };
  const checkEventTypeRefs = (names: string[], pointer: string, allowRefund: boolean) => {
    if (eventTypes === null) return;
    names.forEach((name, index) => {
      const type = eventTypes?.[name];
      if (!type) push(`${pointer}/${index}`, `unknown event type "${name}"`);
      else if (!allowRefund && type.kind === 'refund') {
        push(`${pointer}/${index}`, `rules cannot apply to the refund type "${name}"`);
      }
    });
  };

  const checkRule = (rule: Rule, at: string) => {
    checkEventTypeRefs(rule.eventTypes, `${at}/eventTypes`, false);
    const effect = rule.effect;
    if (
      effect.type === 'earn' &&
      eventTypes !== null &&
      rule.eventTypes.every((n) => amountRule(n) === 'forbidden')
    ) {
      push(
        `${at}/effect`,
        `rule "${rule.id}": an earn rule needs event types that carry an amount`,
      );
    }
    if (effect.type === 'multiplier' && /^0+(\.0+)?$/.test(effect.factor)) {
      push(`${at}/effect/factor`, `rule "${rule.id}": factor must be greater than 0`);
    }
    if (rule.caps !== undefined && effect.type === 'multiplier') {
      push(`${at}/caps`, `rule "${rule.id}": caps apply to earn and bonus rules only`);
    }
    if (rule.condition !== undefined) {
      const compiled = compileCondition(rule.condition);
      if (!compiled.ok) {
        const { message, line, column } = compiled.error;
        push(`${at}/condition`, `rule "${rule.id}": ${message} at ${line}:${column}`);
      }
    }
  };

  const ruleIds = new Map<string, number>();
  if (Array.isArray(doc['rules'])) {
    doc['rules'].forEach((candidate: unknown, index) => {
      if (!sectionChecks.rule.Check(candidate)) return;
      const rule = candidate as Rule;
      const at = `/rules/${index}`;
      const earlier = ruleIds.get(rule.id);
      if (earlier !== undefined)
        push(`${at}/id`, `duplicate rule id "${rule.id}" (also /rules/${earlier})`);
      else ruleIds.set(rule.id, index);
      checkRule(rule, at);
    });
  }

  const segmentIds = new Set<string>();
  if (Array.isArray(doc['segments'])) {
    doc['segments'].forEach((candidate: unknown, index) => {
      if (!sectionChecks.segment.Check(candidate)) return;
      const segment = candidate as Segment;
      const at = `/segments/${index}`;
      if (segmentIds.has(segment.id)) push(`${at}/id`, `duplicate segment id "${segment.id}"`);
      segmentIds.add(segment.id);
      if (segment.type !== 'rule') return;
      if (/\bmember\s*\.\s*segments\b/.test(segment.condition)) {
        push(`${at}/condition`, `segment "${segment.id}": a segment cannot depend on segments`);
        return;
      }
      const compiled = compileCondition(segment.condition);
      if (!compiled.ok) {
        const { message, line, column } = compiled.error;
        push(`${at}/condition`, `segment "${segment.id}": ${message} at ${line}:${column}`);
      }
    });
  }
  if (doc['metrics'] !== undefined && sectionChecks.metrics.Check(doc['metrics'])) {
    const metrics = doc['metrics'] as MetricsSettings;
    const counterIds = new Set<string>();
    (metrics.counters ?? []).forEach((counter, index) => {
      const at = `/metrics/counters/${index}`;
      if (counterIds.has(counter.id)) push(`${at}/id`, `duplicate counter id "${counter.id}"`);
      counterIds.add(counter.id);
      checkEventTypeRefs(counter.eventTypes, `${at}/eventTypes`, false);
      if (counter.condition !== undefined) {
        const compiled = compileCondition(counter.condition);
        if (!compiled.ok) {
          const { message, line, column } = compiled.error;
          push(`${at}/condition`, `counter "${counter.id}": ${message} at ${line}:${column}`);
        }
      }
    });
    const rfm = metrics.rfm;
    if (rfm) {
      const ascending = (values: number[], pointer: string) => {
        values.forEach((value, i) => {
          const previous = values[i - 1];
          if (previous !== undefined && value <= previous)
            push(
              `${pointer}/${i}`,
              `thresholds must ascend strictly: ${value} is not above ${previous}`,
            );
        });
      };
      ascending(rfm.recencyDays, '/metrics/rfm/recencyDays');
      ascending(rfm.frequency, '/metrics/rfm/frequency');
      ascending(rfm.monetary.map(Number), '/metrics/rfm/monetary');
    }
  }

  if (Array.isArray(doc['campaigns'])) {
    const campaignIds = new Set<string>();
    const campaignRuleIds = new Map<string, string>();
    doc['campaigns'].forEach((candidate: unknown, index) => {
      if (!sectionChecks.campaign.Check(candidate)) return;
      const campaign = candidate as Campaign;
      const at = `/campaigns/${index}`;
      if (campaignIds.has(campaign.id)) push(`${at}/id`, `duplicate campaign id "${campaign.id}"`);
      campaignIds.add(campaign.id);
      if (campaign.segment !== undefined && !segmentIds.has(campaign.segment))
        push(`${at}/segment`, `no segment "${campaign.segment}"`);
      const window = campaign.window;
      if (
        window?.start !== undefined &&
        window.end !== undefined &&
        Date.parse(window.end) <= Date.parse(window.start)
      ) {
        push(`${at}/window/end`, `campaign "${campaign.id}": end must be after start`);
      }
      if (window?.hours && window.hours.from === window.hours.to) {
        push(`${at}/window/hours`, `campaign "${campaign.id}": from and to are the same time`);
      }
      campaign.rules.forEach((rule, r) => {
        const rat = `${at}/rules/${r}`;
        const earlier = ruleIds.get(rule.id);
        if (earlier !== undefined)
          push(
            `${rat}/id`,
            `rule id "${rule.id}" is also /rules/${earlier}: rule ids are unique in the program`,
          );
        const other = campaignRuleIds.get(rule.id);
        if (other !== undefined)
          push(`${rat}/id`, `rule id "${rule.id}" is also a rule of campaign "${other}"`);
        campaignRuleIds.set(rule.id, campaign.id);
        checkRule(rule, rat);
        if (rule.caps?.perMember !== undefined) {
          push(
            `${rat}/caps/perMember`,
            `rule "${rule.id}": a campaign caps members with caps.perMember of the campaign`,
          );
        }
      });
    });
  }

  if (Array.isArray(doc['experiments'])) {
    const experimentIds = new Set<string>();
    // Which experiment changes each program rule, or adds each new rule id: experiments are
    // independent, so one rule is changed by at most one of them.
    const touchedBy = new Map<string, string>();
    doc['experiments'].forEach((candidate: unknown, index) => {
      if (!sectionChecks.experiment.Check(candidate)) return;
      const experiment = candidate as Experiment;
      const at = `/experiments/${index}`;
      if (experimentIds.has(experiment.id))
        push(`${at}/id`, `duplicate experiment id "${experiment.id}"`);
      experimentIds.add(experiment.id);
      if (
        experiment.start !== undefined &&
        experiment.end !== undefined &&
        Date.parse(experiment.end) <= Date.parse(experiment.start)
      ) {
        push(`${at}/end`, `experiment "${experiment.id}": end must be after start`);
      }
      const basisPoints = (percent: number, pointer: string): number => {
        const scaled = percent * 100;
        if (Math.abs(scaled - Math.round(scaled)) > 1e-6)
          push(pointer, `${percent} has more than two decimals`);
        return Math.round(scaled);
      };
      let total = basisPoints(experiment.controlPercent, `${at}/controlPercent`);
      const variantIds = new Set<string>();
      const touchedHere = new Set<string>();
      experiment.variants.forEach((variant, v) => {
        const vat = `${at}/variants/${v}`;
        total += basisPoints(variant.percent, `${vat}/percent`);
        if (variant.id === CONTROL_GROUP)
          push(`${vat}/id`, `"${CONTROL_GROUP}" is the control group's id`);
        if (variantIds.has(variant.id)) push(`${vat}/id`, `duplicate variant id "${variant.id}"`);
        variantIds.add(variant.id);
        const own = new Set<string>();
        (variant.rules ?? []).forEach((rule, r) => {
          const rat = `${vat}/rules/${r}`;
          if (own.has(rule.id)) push(`${rat}/id`, `duplicate rule id "${rule.id}" in this variant`);
          own.add(rule.id);
          checkRule(rule, rat);
          touchedHere.add(rule.id);
        });
        (variant.disable ?? []).forEach((id, d) => {
          if (!ruleIds.has(id)) push(`${vat}/disable/${d}`, `no program rule "${id}"`);
          if (own.has(id)) push(`${vat}/disable/${d}`, `rule "${id}" is both swapped and disabled`);
          touchedHere.add(id);
        });
      });
      if (total !== 10_000) {
        push(
          `${at}/controlPercent`,
          `experiment "${experiment.id}": controlPercent and the variants' percents add up to ${total / 100}, not 100`,
        );
      }
      for (const id of touchedHere) {
        const other = touchedBy.get(id);
        if (other !== undefined && other !== experiment.id) {
          push(
            `${at}/variants`,
            `rule "${id}" is changed by experiments "${other}" and "${experiment.id}": a rule can be in one experiment at a time`,
          );
        }
        touchedBy.set(id, experiment.id);
      }
    });
  }

  if (doc['tiers'] !== undefined && sectionChecks.tiers.Check(doc['tiers'])) {
    const tiers = doc['tiers'] as NonNullable<ProgramDocument['tiers']>;
    const metric = tiers.metric;
    if (metric.type === 'amount' || metric.type === 'count') {
      checkEventTypeRefs(metric.eventTypes, '/tiers/metric/eventTypes', true);
      if (metric.type === 'amount') {
        metric.eventTypes.forEach((name, index) => {
          if (eventTypes?.[name] && amountRule(name) === 'forbidden') {
            push(`/tiers/metric/eventTypes/${index}`, `event type "${name}" carries no amount`);
          }
        });
      }
    }
    const levelIds = new Set<string>();
    tiers.levels.forEach((level, index) => {
      if (levelIds.has(level.id))
        push(`/tiers/levels/${index}/id`, `duplicate level id "${level.id}"`);
      levelIds.add(level.id);
      const previous = tiers.levels[index - 1];
      if (index === 0 && level.threshold !== 0) {
        push(`/tiers/levels/0/threshold`, 'the first level must have threshold 0');
      }
      if (previous && level.threshold <= previous.threshold) {
        push(
          `/tiers/levels/${index}/threshold`,
          `thresholds must ascend strictly: ${level.threshold} is not above ${previous.threshold} (level "${previous.id}")`,
        );
      }
    });
  }

  const settings = doc['settings'] as Record<string, unknown> | undefined;
  const redemption = settings?.['redemption'];
  if (redemption !== undefined && sectionChecks.redemption.Check(redemption)) {
    const at = '/settings/redemption';
    const ttl =
      redemption.holdTtl === undefined ? undefined : parseDurationSeconds(redemption.holdTtl);
    if (
      redemption.holdTtl !== undefined &&
      (ttl === undefined || ttl < HOLD_TTL_SECONDS_MIN || ttl > HOLD_TTL_SECONDS_MAX)
    ) {
      push(`${at}/holdTtl`, `holdTtl must be between PT1M and P7D, got "${redemption.holdTtl}"`);
    }
    const value = redemption.pointValue?.value;
    if (value) {
      const currencies = Array.isArray(doc['currencies']) ? (doc['currencies'] as unknown[]) : [];
      if (!currencies.includes(value.currency)) {
        push(
          `${at}/pointValue/value/currency`,
          `${value.currency} is not one of the program's currencies`,
        );
      } else {
        const parsed = parseAmount(value.value, value.currency);
        if (!parsed.ok || parsed.minor === 0n) {
          push(
            `${at}/pointValue/value/value`,
            `"${value.value}" is not a positive amount of ${value.currency}`,
          );
        }
      }
    }
  }
  const pending = settings?.['pending'];
  if (pending !== undefined && sectionChecks.pending.Check(pending)) {
    // A refund earns nothing to hold back: its points are negative.
    checkEventTypeRefs(pending.eventTypes, '/settings/pending/eventTypes', false);
  }

  const expiry = settings?.['expiry'];
  if (expiry !== undefined && sectionChecks.expiry.Check(expiry)) {
    const policy = expiry.policy;
    if (policy?.type === 'endOfPeriod') {
      const days = DAYS_IN_MONTH[policy.month - 1] as number;
      if (policy.month === 2 && policy.day === 29) {
        push(
          '/settings/expiry/policy/day',
          '29 February is not in every year: end a period on 28 February or 1 March',
        );
      } else if (policy.day > days) {
        push('/settings/expiry/policy/day', `month ${policy.month} has no day ${policy.day}`);
      }
    }
  }
  return errors;
}

function normalise(input: ProgramDocument): ProgramDocument {
  const doc = structuredClone(input);
  for (const type of Object.values(doc.eventTypes)) {
    if (type.kind === 'custom') type.amount ??= 'optional';
  }
  for (const rule of doc.rules) rule.enabled ??= true;
  for (const campaign of doc.campaigns ?? []) {
    campaign.enabled ??= true;
    campaign.stacking = {
      policy: campaign.stacking?.policy ?? 'stack',
      priority: campaign.stacking?.priority ?? 0,
    };
    for (const rule of campaign.rules) rule.enabled ??= true;
  }
  for (const experiment of doc.experiments ?? []) {
    experiment.enabled ??= true;
    for (const variant of experiment.variants)
      for (const rule of variant.rules ?? []) rule.enabled ??= true;
  }
  if (doc.tiers) {
    doc.tiers.retentionWindow ??= structuredClone(doc.tiers.window);
    for (const level of doc.tiers.levels) level.multiplier ??= '1';
  }
  const settings = doc.settings ?? {};
  doc.settings = {
    ...settings,
    backdatingWindowDays: settings.backdatingWindowDays ?? 90,
    createMembersOnEvent: settings.createMembersOnEvent ?? true,
    negativeBalance: settings.negativeBalance ?? 'allow',
    redemption: {
      ...settings.redemption,
      holdTtl: settings.redemption?.holdTtl ?? HOLD_TTL_DEFAULT,
    },
    expiry: {
      policy: settings.expiry?.policy ?? { type: 'none' },
      warningDays: settings.expiry?.warningDays ?? EXPIRY_WARNING_DAYS_DEFAULT,
    },
  };
  return doc;
}

/** Whether events of `type` carry an amount: 'required' | 'optional' | 'forbidden'. */
export function amountPolicy(type: EventTypeDefinition): 'required' | 'optional' | 'forbidden' {
  return type.kind === 'custom' ? (type.amount ?? 'optional') : 'required';
}

function encodePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}
