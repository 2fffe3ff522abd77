// What a new user does: `npm start`, copy the printed curl line, earn points. Runs the real
// entry point as a child process, on the embedded database (a fresh data directory) or, in
// the PostgreSQL pass, on this file's fresh database with the demo switched on.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_NODE_FLAGS } from '../src/node-flags.ts';
import { freshDatabase, onPostgres, type TestDatabase } from './support/db.ts';

const STARTUP_MS_MAX = 90_000;
let dataDir: string;
let database: TestDatabase | undefined;

function startPatron(
  extraEnv: Record<string, string> = {},
): Promise<{ child: ChildProcess; curl: string; output: () => string }> {
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    PATRON_DATA_DIR: dataDir,
    ...(database?.url ? { DATABASE_URL: database.url, PATRON_DEMO: 'true' } : {}),
    ...extraEnv,
  };
  if (!database?.url) delete env.DATABASE_URL;
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, '--import', 'tsx', 'src/main.ts'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no curl line within ${STARTUP_MS_MAX} ms:\n${output}`)),
      STARTUP_MS_MAX,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((l) => l.startsWith('curl -s http://'));
      if (line) {
        clearTimeout(timer);
        resolve({ child, curl: line, output: () => output });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`patron exited with ${code}:\n${output}`));
    });
  });
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.on('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

/** Runs the printed curl line's request with fetch: same URL, same form fields. */
async function tokenFromCurlLine(curl: string): Promise<{ base: string; token: string }> {
  const url = /curl -s (\S+)/.exec(curl)?.[1] as string;
  const fields = [...curl.matchAll(/-d (\w+)=(\S+)/g)].map((m): [string, string] => [
    m[1] as string,
    m[2] as string,
  ]);
  const response = await fetch(url, { method: 'POST', body: new URLSearchParams(fields) });
  expect(response.status).toBe(200);
  const body = (await response.json()) as { access_token: string; token_type: string };
  expect(body.token_type).toBe('Bearer');
  return { base: url.replace(/\/oauth\/token$/, ''), token: body.access_token };
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'patron-start-'));
  if (onPostgres) database = await freshDatabase();
});
afterAll(async () => {
  await database?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('runs the server with the V8 flags that the bench and these tests start it with', () => {
    const scripts = (
      JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
        scripts: Record<string, string>;
      }
    ).scripts;
    expect(scripts.start).toBe(`node ${SERVER_NODE_FLAGS.join(' ')} --import tsx src/main.ts`);
  });

  it('prints a working token command and earns points in the demo program, and a restart seeds nothing twice', async () => {
    const first = await startPatron();
    expect(first.curl).toMatch(
      /^curl -s http:\/\/127\.0\.0\.1:\d+\/oauth\/token -d grant_type=client_credentials -d client_id=demo -d client_secret=demo-secret$/,
    );
    const { base, token } = await tokenFromCurlLine(first.curl);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const event = {
      id: 'start-1',
      type: 'purchase',
      memberId: 'alice',
      occurredAt: new Date().toISOString(),
      amount: { value: '12.50', currency: 'EUR' },
    };
    const created = await fetch(`${base}/v1/events`, {
      method: 'POST',
      headers,
      body: JSON.stringify(event),
    });
    expect(created.status).toBe(201);
    const earned = ((await created.json()) as { pointsEarned: number }).pointsEarned;
    expect([12, 25]).toContain(earned); // 2× at weekends in Prague
    expect(await stop(first.child)).toBe(0);

    const second = await startPatron();
    const again = await tokenFromCurlLine(second.curl);
    const member = await fetch(`${again.base}/v1/members/alice`, {
      headers: { authorization: `Bearer ${again.token}` },
    });
    expect(member.status).toBe(200);
    expect(((await member.json()) as { balance: { available: number } }).balance.available).toBe(
      earned,
    );
    const program = await fetch(`${again.base}/v1/program`, {
      headers: { authorization: `Bearer ${again.token}` },
    });
    expect(((await program.json()) as { version: number }).version).toBe(1);
    expect(await stop(second.child)).toBe(0);
  });

  it('stops at start-up naming a bad variable', async () => {
    await expect(startPatron({ PORT: 'eighty' })).rejects.toThrow(/PORT: expected a port number/);
    await expect(startPatron({ PATRON_TOKEN_TTL: 'soon' })).rejects.toThrow(/PATRON_TOKEN_TTL/);
  });
});
