// The real entry point (`node --import tsx src/main.ts …`, with npm start's V8 flags) as a
// child process, for tests of what a user or an operator starts.
import { spawn, type ChildProcess } from 'node:child_process';
import { SERVER_NODE_FLAGS } from '../../src/node-flags.ts';

const WAIT_MS_MAX = 90_000;

export interface PatronProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves once the output matches (already or later); rejects if the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  /** The exit code, once the process has exited on its own. */
  exited: Promise<number | null>;
}

export function spawnPatron(
  args: string[],
  env: Record<string, string | undefined>,
): PatronProcess {
  const childEnv: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ...env }))
    if (value !== undefined) childEnv[key] = value;
  const child = spawn(
    process.execPath,
    [...SERVER_NODE_FLAGS, '--import', 'tsx', 'src/main.ts', ...args],
    {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const check of waiters) check();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    waitFor(pattern, timeoutMs = WAIT_MS_MAX) {
      return new Promise((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        const check = () => {
          if (pattern.test(output)) {
            done();
            resolve();
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${output}`));
        }, timeoutMs);
        waiters.add(check);
        check();
        void exited.then((code) => {
          if (!waiters.has(check)) return;
          done();
          reject(new Error(`patron exited with ${code} before ${pattern}:\n${output}`));
        });
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * Patron on a PostgreSQL test database (the server pass), no demo, logging at info so tests
 * can wait for its lines; `args` picks a role.
 */
export function spawnOnDatabase(
  databaseUrl: string | undefined,
  args: string[] = [],
): PatronProcess {
  return spawnPatron(args, {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    DATABASE_URL: databaseUrl,
    PATRON_DEMO: 'false',
  });
}
