// Which parts of Patron a process runs, from the command line: `npm start -- --role worker`.
// Without the flag one process runs them all, which is the only way on the embedded database
// (one process holds it). On PostgreSQL the same build runs as
//   api        HTTP only; it still sends jobs, never runs them;
//   worker     job handlers and pg-boss's maintenance; no HTTP;
//   scheduler  sends scheduled jobs when they are due, nothing else; no HTTP.
// Worker and scheduler serve no HTTP at all, not even /health: they would need a port of their
// own beside the API's on the same host (every role reads the same PORT), and what they do is
// visible in the database (pg-boss's instance registry heartbeats every process).
import type { JobRoles } from './server.ts';

export const ROLES = ['api', 'worker', 'scheduler'] as const;
export type Role = 'all' | (typeof ROLES)[number];

export class RoleError extends Error {}

/** Reads `--role NAME` or `--role=NAME` from the arguments after the script's name. */
export function parseRole(args: readonly string[]): Role {
  let role: Role = 'all';
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] as string;
    let value: string | undefined;
    if (arg === '--role') {
      value = args[i + 1];
      i += 1;
    } else if (arg.startsWith('--role=')) value = arg.slice('--role='.length);
    else throw new RoleError(`unknown argument "${arg}" (expected --role ${ROLES.join('|')})`);
    if (value === undefined || !(ROLES as readonly string[]).includes(value))
      throw new RoleError(`--role: expected one of ${ROLES.join(', ')}, got "${value ?? ''}"`);
    role = value as Role;
  }
  return role;
}

/** Refuses a role on the embedded database, which one process holds and so runs every role. */
export function checkRole(role: Role, databaseUrl: string | undefined): void {
  if (role !== 'all' && databaseUrl === undefined)
    throw new RoleError(
      `--role ${role} needs PostgreSQL (set DATABASE_URL): the embedded database is used by one process, which runs every role; start without --role`,
    );
}

export function roleParts(role: Role): { http: boolean; jobs: JobRoles } {
  switch (role) {
    case 'all':
      return { http: true, jobs: { work: true, schedule: true } };
    case 'api':
      return { http: true, jobs: { work: false, schedule: false } };
    case 'worker':
      return { http: false, jobs: { work: true, schedule: false } };
    case 'scheduler':
      return { http: false, jobs: { work: false, schedule: true } };
  }
}
