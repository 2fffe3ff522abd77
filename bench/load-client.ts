// The orchestrator's handle on the load generator worker (bench/load-worker.ts).

import { Worker } from 'node:worker_threads';
import type { FromWorker, PhaseResult, PhaseSpec, Target, ToWorker } from './load-protocol.ts';

/** A phase that has not answered this long after its planned end has hung. */
const PHASE_GRACE_MS = 60_000;

export interface LoadGenerator {
  run(target: Target, phase: PhaseSpec): Promise<PhaseResult>;
  close(): Promise<void>;
}

export function startLoadGenerator(): LoadGenerator {
  // A worker does not run the --import hooks of its parent before loading its own entry
  // point, so the .ts worker is loaded through tsx's API from a tiny JavaScript stub.
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const workerFile = new URL('./load-worker.ts', import.meta.url).href;
  const worker = new Worker(
    `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); ` +
      `return import(${JSON.stringify(workerFile)}); });`,
    { eval: true },
  );
  let failure: Error | undefined;
  let waiting: ((message: FromWorker | Error) => void) | undefined;
  worker.on('message', (message: FromWorker) => waiting?.(message));
  worker.on('error', (error) => {
    failure = error;
    waiting?.(error);
  });
  worker.on('exit', (code) => {
    failure ??= new Error(`load generator exited with code ${code}`);
    waiting?.(failure);
  });

  const ask = (message: ToWorker, timeoutMs: number): Promise<FromWorker> => {
    if (failure) return Promise.reject(failure);
    if (waiting) return Promise.reject(new Error('load generator is busy'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting = undefined;
        reject(new Error(`load generator did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      waiting = (answer) => {
        clearTimeout(timer);
        waiting = undefined;
        if (answer instanceof Error) reject(answer);
        else resolve(answer);
      };
      worker.postMessage(message);
    });
  };

  return {
    async run(target, phase) {
      const plannedMs = (phase.warmupSeconds + phase.durationSeconds) * 1000;
      const answer = await ask({ type: 'run', target, phase }, plannedMs + PHASE_GRACE_MS);
      if (answer.type === 'result') return answer.result;
      if (answer.type === 'failed') throw new Error(`load generator failed: ${answer.message}`);
      throw new Error(`load generator answered ${answer.type} to run`);
    },
    async close() {
      try {
        if (!failure) await ask({ type: 'close' }, 5_000);
      } catch {
        // Terminated below either way.
      }
      await worker.terminate();
    },
  };
}
