// Opening Patron's database the same way for the server, the CLI and the bench: the
// embedded database (PGlite, file-backed, one process at a time, guarded by a pid file) or
// PostgreSQL when DATABASE_URL is set; then migrations.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Config } from './config.ts';
import { openEmbedded, openPostgres, type Db } from './db/connect.ts';
import { migrate } from './db/migrate.ts';

export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `the data directory ${dataDir} is in use by another Patron process (pid ${pid}); stop it first, or point PATRON_DATA_DIR elsewhere`,
    );
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the embedded data directory for this process; a stale pid file is taken over. */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true });
  const pidFile = join(dataDir, 'patron.pid');
  try {
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid))
      throw new DataDirInUseError(dataDir, pid);
  } catch (error) {
    if (error instanceof DataDirInUseError) throw error;
  }
  await writeFile(pidFile, `${process.pid}\n`);
  return async () => {
    await rm(pidFile, { force: true });
  };
}

export interface OpenedDatabase extends Db {
  /** Where the data lives, for messages: the data directory or the server's address. */
  location: string;
}

export async function openDatabase(
  config: Config,
  options: { migrate?: boolean } = {},
): Promise<OpenedDatabase> {
  let handle: Db;
  let location: string;
  let unlock = async () => {};
  if (config.databaseUrl) {
    handle = openPostgres(config.databaseUrl);
    const url = new URL(config.databaseUrl);
    location = `PostgreSQL ${url.host}${url.pathname}`;
  } else {
    const dataDir = resolve(config.dataDir);
    unlock = await lockDataDir(dataDir);
    try {
      handle = await openEmbedded({ dataDir: join(dataDir, 'pg') });
    } catch (error) {
      await unlock();
      throw error;
    }
    location = `embedded database in ${dataDir}`;
  }
  if (options.migrate !== false) {
    try {
      await migrate(handle);
    } catch (error) {
      await handle.close();
      await unlock();
      throw error;
    }
  }
  return {
    ...handle,
    location,
    close: async () => {
      await handle.close();
      await unlock();
    },
  };
}
