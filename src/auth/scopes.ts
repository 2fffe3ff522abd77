// The closed set of scopes a client may hold, `resource:action` as in API.md.

export const SCOPES = [
  'events:write',
  'events:read',
  'members:read',
  'members:write',
  'program:read',
  'program:write',
  'rewards:read',
  'rewards:write',
  'redemptions:write',
] as const;

export type Scope = (typeof SCOPES)[number];

const SCOPE_SET: ReadonlySet<string> = new Set(SCOPES);

export function isScope(value: string): value is Scope {
  return SCOPE_SET.has(value);
}
