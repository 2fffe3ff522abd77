// The API's answer shapes, as the tests read them: the same types the server builds.
export type { EventResponse as EventAnswer } from '../../src/events/index.ts';
export type { ProblemDocument as Problem } from '../../src/http/problems.ts';
export type { LedgerItem, MemberView } from '../../src/members/index.ts';
