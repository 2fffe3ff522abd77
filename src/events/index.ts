export {
  processEvents,
  BATCH_SIZE_MAX,
  type EventDeps,
  type EventOutcome,
  type EventResponse,
  type Submission,
  type WriteCounts,
} from './process.ts';
export {
  GroupCommitter,
  QueueFullError,
  type BatchWriter,
  type GroupCommitOptions,
} from './group-commit.ts';
export { canonicalJson, bodyHash, parseInstant, ID_PATTERN, type FieldError } from './validate.ts';
export { explainEvent } from './explain.ts';
