// Rules: the program document, its CEL conditions, and the pure engine that turns one event
// into points with a trace. No database, no HTTP.
export {
  ProgramDocumentSchema,
  validateProgramDocument,
  amountPolicy,
  RETAIL_EXAMPLE,
  RULES_COUNT_MAX,
  TIER_LEVELS_COUNT_MAX,
  EVENT_TYPES_COUNT_MAX,
  CURRENCIES_COUNT_MAX,
  NAME_LENGTH_MAX,
  BACKDATING_WINDOW_DAYS_MAX,
  ROLLING_WINDOW_DAYS_MAX,
  POINTS_MAX,
  HOLD_TTL_DEFAULT,
  EXPIRY_MONTHS_MAX,
  EXPIRY_WARNING_DAYS_MAX,
  EXPIRY_WARNING_DAYS_DEFAULT,
  CONTROL_GROUP,
  EXPERIMENTS_COUNT_MAX,
  type Campaign,
  type Segment,
  type MetricsSettings,
  type Experiment,
  type ExperimentVariant,
  type ExpiryPolicy,
  type ProgramDocument,
  type Rule,
  type EventTypeDefinition,
  type TierLevel,
  type TierWindow,
  type DocumentError,
  type ValidationResult,
} from './document.ts';
export {
  compileCondition,
  CONDITION_LENGTH_MAX,
  type CelError,
  type ConditionCompileResult,
} from './cel.ts';
export {
  localTime,
  periodKey,
  isValidTimeZone,
  type LocalTime,
  type CapPeriod,
} from './local-time.ts';
export {
  compileProgram,
  type CompiledProgram,
  type EvaluationInput,
  type Evaluation,
  type Trace,
  type RuleTrace,
  type CapBy,
  type CapUsageIncrement,
  type CampaignTrace,
  type CampaignUsageIncrement,
} from './engine.ts';
export { experimentBucket, groupOf, experimentActive, BUCKETS } from './experiments.ts';
export {
  metricsOf,
  statsOfRow,
  EMPTY_STATS,
  type MemberStats,
  type MemberStatsRow,
} from './metrics.ts';
export { type MemberMetrics } from './cel.ts';
export { programTemplate, TEMPLATE_NAMES, type TemplateName } from './templates.ts';
