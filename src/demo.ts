// The demo: program `demo` (the retail reference program) and client `demo` holding every
// scope, seeded once; restarting seeds nothing twice.
import type { Kysely } from 'kysely';
import { ensureClient, SCOPES } from './auth/index.ts';
import type { Database } from './db/schema.ts';
import { createProgram } from './programs/index.ts';
import { programTemplate } from './rules/index.ts';

export const DEMO_PROGRAM_ID = 'demo';
export const DEMO_CLIENT_ID = 'demo';

export async function seedDemo(
  db: Kysely<Database>,
  secret: string,
): Promise<{ programCreated: boolean }> {
  const program = await createProgram(db, DEMO_PROGRAM_ID, programTemplate('retail'), 'demo-seed');
  if (program.status === 'invalid')
    throw new Error(`the demo program is invalid: ${JSON.stringify(program.errors)}`);
  const client = await ensureClient(db, {
    programId: DEMO_PROGRAM_ID,
    clientId: DEMO_CLIENT_ID,
    secret,
    scopes: [...SCOPES],
  });
  if (client.status !== 'created' && client.status !== 'exists')
    throw new Error(`cannot seed the demo client: ${client.status}`);
  return { programCreated: program.status === 'created' };
}

export function demoCurlLine(host: string, port: number, secret: string): string {
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return `curl -s http://${shownHost}:${port}/oauth/token -d grant_type=client_credentials -d client_id=${DEMO_CLIENT_ID} -d client_secret=${secret}`;
}
