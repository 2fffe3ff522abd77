// `--role` on the embedded database: one process holds it, so it runs every role and a role
// flag is refused before anything is opened. Runs the real entry point as a child process.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openEmbedded } from '../src/db/connect.ts';
import { checkRole, parseRole, RoleError } from '../src/roles.ts';
import { spawnPatron } from './support/process.ts';

let dataDir: string;
const env = () => ({
  PORT: '0',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'info',
  PATRON_DATA_DIR: dataDir,
  DATABASE_URL: undefined,
});

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'patron-roles-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('--role on the embedded database', () => {
  it('refuses a role with a message saying PostgreSQL is needed, and touches no data', async () => {
    const patron = spawnPatron(['--role', 'worker'], env());
    expect(await patron.exited).toBe(2);
    expect(patron.output()).toBe(
      'patron: --role worker needs PostgreSQL (set DATABASE_URL): the embedded database is used by one process, which runs every role; start without --role\n',
    );
    expect(await readdir(dataDir)).toEqual([]);
    expect(() => checkRole('api', undefined)).toThrow(RoleError);
    expect(() => checkRole('api', 'postgres://db/patron')).not.toThrow();
  });

  it('reads --role NAME and --role=NAME, and refuses an unknown role or argument', () => {
    expect(parseRole([])).toBe('all');
    expect(parseRole(['--role', 'worker'])).toBe('worker');
    expect(parseRole(['--role=scheduler'])).toBe('scheduler');
    expect(() => parseRole(['--role', 'everything'])).toThrow(
      '--role: expected one of api, worker, scheduler, got "everything"',
    );
    expect(() => parseRole(['--role'])).toThrow('--role: expected one of');
    expect(() => parseRole(['--workers', '4'])).toThrow('unknown argument "--workers"');
  });

  it('starts every role in one process without the flag, jobs included, and stops cleanly', async () => {
    // From the run's migrated template rather than an empty directory: initdb is start.test.ts's.
    const template = await openEmbedded({
      dataDir: join(dataDir, 'pg'),
      loadDataDir: new Blob([await readFile(inject('templateDump'))]),
    });
    await template.close();
    const patron = spawnPatron([], env());
    try {
      await patron.waitFor(/"role":"all"[^\n]*"msg":"listening"/);
      // The hold release is sent at start and worked within a poll: nothing may fail meanwhile.
      await sleep(3_000);
      expect(patron.output()).not.toMatch(/"level":(50|60)/);
    } finally {
      expect(await patron.stop()).toBe(0);
    }
  });
});
