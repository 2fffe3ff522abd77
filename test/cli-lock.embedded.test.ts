// The embedded database serves one process: the CLI says clearly when the server holds it.
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.ts';
import { DataDirInUseError } from '../src/runtime.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('the embedded data directory', () => {
  it('refuses the CLI while another live process holds it, naming the directory and the process', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'patron-lock-'));
    dirs.push(dataDir);
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      await mkdir(dataDir, { recursive: true });
      await writeFile(join(dataDir, 'patron.pid'), `${holder.pid}\n`);
      const attempt = runCli(['verify'], { PATRON_DATA_DIR: dataDir });
      await expect(attempt).rejects.toBeInstanceOf(DataDirInUseError);
      await expect(runCli(['verify'], { PATRON_DATA_DIR: dataDir })).rejects.toThrow(
        new RegExp(`in use by another Patron process \\(pid ${holder.pid}\\)`),
      );
    } finally {
      holder.kill();
    }
  });

  it('takes over a pid file left by a process that is gone', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'patron-lock-'));
    dirs.push(dataDir);
    await writeFile(join(dataDir, 'patron.pid'), '999999\n');
    const code = await runCli(['verify'], { PATRON_DATA_DIR: dataDir });
    expect(code).toBe(0);
  });
});
