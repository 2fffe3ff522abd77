// The `patron` CLI as an operator uses it: against the database in the environment (a data
// directory, or this file's PostgreSQL database in the server pass).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../src/cli/main.ts';
import { freshDatabase, onPostgres, type TestDatabase } from './support/db.ts';

let dataDir: string;
let database: TestDatabase | undefined;
let env: Record<string, string | undefined>;

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi
    .spyOn(console, 'log')
    .mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi
    .spyOn(console, 'error')
    .mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  try {
    const code = await runCli(args, env);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'patron-cli-'));
  if (onPostgres) database = await freshDatabase();
  env = database?.url ? { DATABASE_URL: database.url } : { PATRON_DATA_DIR: dataDir };
});
afterAll(async () => {
  await database?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('patron CLI', () => {
  it('creates a program from a template, refuses to create it twice, and creates a client whose secret is printed once', async () => {
    const created = await cli('program', 'create', 'shop', '--template', 'casino');
    expect(created.code).toBe(0);
    expect(created.out).toContain('created program shop');
    const again = await cli('program', 'create', 'shop', '--template', 'casino');
    expect(again.code).toBe(1);
    expect(again.err).toContain('already exists');
    const client = await cli(
      'client',
      'create',
      '--program',
      'shop',
      '--scopes',
      'events:write,members:read',
    );
    expect(client.code).toBe(0);
    expect(client.out).toMatch(/client_id=cli_\w+/);
    expect(client.out).toMatch(/client_secret=\S{20,}/);
    await expect(
      cli('client', 'create', '--program', 'shop', '--scopes', 'events:delete'),
    ).rejects.toThrow(/unknown scope events:delete/);
    const noProgram = await cli('client', 'create', '--program', 'nope');
    expect(noProgram.code).toBe(1);
    expect(noProgram.err).toContain('unknown program');
  });

  it('verifies the ledger and answers 0', async () => {
    const verified = await cli('verify');
    expect(verified.code).toBe(0);
    expect(verified.out).toContain('no violations');
  });

  it('rejects an unknown template with a usage error', async () => {
    await expect(runCli(['program', 'create', 'x', '--template', 'airline'], env)).rejects.toThrow(
      /--template must be one of/,
    );
  });
});
