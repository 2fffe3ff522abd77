// `npm start`: Patron as one process, or one role of it (`npm start -- --role worker`, see
// src/roles.ts).
import { pino, type Logger } from 'pino';
import { ConfigError, parseConfig } from './config.ts';
import { demoCurlLine, seedDemo } from './demo.ts';
import { checkRole, parseRole, roleParts, RoleError } from './roles.ts';
import { DataDirInUseError, openDatabase, type OpenedDatabase } from './runtime.ts';
import { createJobProcess, createServer, type JobRoles } from './server.ts';

async function main(): Promise<void> {
  let config;
  let role;
  try {
    config = parseConfig(process.env);
    role = parseRole(process.argv.slice(2));
    checkRole(role, config.databaseUrl);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof RoleError) {
      console.error(`patron: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  const parts = roleParts(role);
  const logger = pino({ level: config.logLevel });
  let handle;
  try {
    handle = await openDatabase(config);
  } catch (error) {
    if (error instanceof DataDirInUseError) {
      console.error(`patron: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  logger.info({ database: handle.location }, 'database ready');
  if (!parts.http) {
    await runJobsOnly(handle, parts.jobs, logger, role);
    return;
  }
  if (config.demo) await seedDemo(handle.db, config.demoSecret);

  // One issuer for every process and port, so any process accepts any process's tokens.
  const issuer = 'urn:patron';
  const {
    app,
    events,
    stop: stopServer,
  } = await createServer({
    handle,
    issuer,
    tokenTtlSeconds: config.tokenTtlSeconds,
    logger,
    jobs: parts.jobs,
  });
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  // Printed in the same turn as listen() resolves, so before any request is answered.
  if (config.demo) {
    process.stdout.write(
      `Patron is running the demo program on http://${config.host}:${port} — get a token:\n`,
    );
    process.stdout.write(`${demoCurlLine(config.host, port, config.demoSecret)}\n`);
  }
  logger.info({ port, host: config.host, role }, 'listening');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing requests in flight');
    await app.close();
    if (!(await events.drain()))
      logger.warn('events still in flight at shutdown were not answered');
    await stopServer();
    await handle.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

/** A worker or a scheduler: no HTTP, the job runner until a signal stops it. */
async function runJobsOnly(
  handle: OpenedDatabase,
  roles: JobRoles,
  logger: Logger,
  role: string,
): Promise<void> {
  const { stop: stopJobs } = await createJobProcess({ handle, roles, logger });
  logger.info({ role }, 'running jobs');
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing running jobs');
    await stopJobs();
    await handle.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error('patron: failed to start:', error);
  process.exit(1);
});
