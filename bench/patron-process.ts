// Patron as a child process, with npm start's V8 flags: started on a free loopback port
// against the bench database, waited for until /ready answers, sampled for RSS, and stopped
// (TERM, then KILL).

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { SERVER_NODE_FLAGS } from '../src/node-flags.ts';

export const DEMO_SECRET = 'bench-secret-123';
const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 60_000;
const READY_POLL_INTERVAL_MS = 200;
const PROBE_TIMEOUT_MS = 2_000;
const STOP_TIMEOUT_MS = 5_000;
const OUTPUT_LINES_KEPT = 40;
const RSS_SAMPLE_INTERVAL_MS = 200;

export interface PatronProcess {
  origin: string;
  pid: number;
  /** The last lines Patron wrote to stdout and stderr. */
  outputTail(): string[];
  /** Set once the child has exited. */
  exitDescription(): string | undefined;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startPatron(entry: string, databaseUrl: string): Promise<PatronProcess> {
  const port = await freePort();
  const root = fileURLToPath(new URL('..', import.meta.url));
  const child: ChildProcess = spawn(
    process.execPath,
    [...SERVER_NODE_FLAGS, '--import', 'tsx', entry],
    {
      cwd: root,
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        PORT: String(port),
        HOST,
        PATRON_DEMO: 'true',
        PATRON_DEMO_SECRET: DEMO_SECRET,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      tail.push(line);
      if (tail.length > OUTPUT_LINES_KEPT) tail.shift();
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = signal ? `killed by ${signal}` : `exited with code ${code}`;
      resolve();
    });
    child.once('error', (error) => {
      exit = `could not start: ${error.message}`;
      resolve();
    });
  });

  const patron: PatronProcess = {
    origin: `http://${HOST}:${port}`,
    pid: child.pid ?? -1,
    outputTail: () => [...tail],
    exitDescription: () => exit,
    async stop() {
      if (exit !== undefined) return;
      child.kill('SIGTERM');
      const stopped = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STOP_TIMEOUT_MS)),
      ]);
      if (!stopped) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };

  try {
    await waitReady(patron);
  } catch (error) {
    await patron.stop();
    throw error;
  }
  return patron;
}

async function waitReady(patron: PatronProcess): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  let last = 'no answer yet';
  while (performance.now() < deadline) {
    const exit = patron.exitDescription();
    if (exit !== undefined) {
      throw new Error(`Patron ${exit} before it was ready:\n  ${patron.outputTail().join('\n  ')}`);
    }
    try {
      const res = await request(`${patron.origin}/ready`, {
        headersTimeout: PROBE_TIMEOUT_MS,
        bodyTimeout: PROBE_TIMEOUT_MS,
      });
      const body = await res.body.text();
      if (res.statusCode === 200) return;
      last = `${res.statusCode} ${body.slice(0, 200)}`;
    } catch (error) {
      last = (error as { code?: string }).code ?? String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_INTERVAL_MS));
  }
  throw new Error(
    `Patron was not ready within ${READY_TIMEOUT_MS / 1000} s (last: ${last}):\n  ` +
      patron.outputTail().join('\n  '),
  );
}

export async function fetchToken(origin: string): Promise<string> {
  const res = await request(`${origin}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `grant_type=client_credentials&client_id=demo&client_secret=${DEMO_SECRET}`,
    headersTimeout: PROBE_TIMEOUT_MS * 5,
    bodyTimeout: PROBE_TIMEOUT_MS * 5,
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`POST /oauth/token → ${res.statusCode}: ${text}`);
  const token = (JSON.parse(text) as { access_token?: unknown }).access_token;
  if (typeof token !== 'string' || token === '') {
    throw new Error(`POST /oauth/token answered without an access_token: ${text}`);
  }
  return token;
}

/** Samples a process's resident set size from /proc (Linux); max is null if it never could. */
export function sampleRss(pid: number): { stop(): { maxBytes: number | null; samples: number } } {
  let maxBytes: number | null = null;
  let samples = 0;
  const sample = () => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
      if (match?.[1]) {
        const bytes = Number(match[1]) * 1024;
        maxBytes = Math.max(maxBytes ?? 0, bytes);
        samples += 1;
      }
    } catch {
      // The process is gone or /proc is absent; the report says so by a null.
    }
  };
  sample();
  const timer = setInterval(sample, RSS_SAMPLE_INTERVAL_MS);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { maxBytes, samples };
    },
  };
}
