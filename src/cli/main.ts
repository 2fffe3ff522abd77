// The `patron` command: operators create programs and clients and verify the ledger. It
// opens the database itself — the embedded one only while the server is stopped.
import { parseArgs } from 'node:util';
import { SCOPES, createClient, isScope } from '../auth/index.ts';
import { ConfigError, parseConfig, type Config } from '../config.ts';
import { runExpiry, runExpiryWarnings } from '../expiry/index.ts';
import { verifyLedger } from '../ledger/index.ts';
import { ProgramCache, createProgram, readProgramVersion } from '../programs/index.ts';
import { TEMPLATE_NAMES, programTemplate } from '../rules/index.ts';
import { DataDirInUseError, openDatabase, type OpenedDatabase } from '../runtime.ts';
import { reevaluateTiers } from '../tiers/index.ts';

const USAGE = `Usage: patron <command> [options]

Commands:
  program create ID --template retail|casino|empty   Create a program from a template
  client create --program ID [--scopes a,b,…] [--id ID]
                                                     Create an API client; prints its secret once
  verify [--program ID]                              Re-check the whole ledger; exit 1 on a violation
  tiers reevaluate --program ID                      Re-evaluate tiers now (the downgrade job)
  expiry run [--program ID]                          Expire the points that are due now (the expiry job)
  expiry warn [--program ID]                         Send the expiry warnings that are due now
  migrate                                            Apply database migrations

Configuration comes from the environment (DATABASE_URL, PATRON_DATA_DIR, …), as for the server.
Scopes: ${SCOPES.join(' ')}`;

class UsageError extends Error {}

/** Long runs print where they are at most this often. */
const PROGRESS_INTERVAL_MS = 2_000;

async function withDatabase<T>(
  config: Config,
  fn: (handle: OpenedDatabase) => Promise<T>,
): Promise<T> {
  const handle = await openDatabase(config);
  try {
    return await fn(handle);
  } finally {
    await handle.close();
  }
}

export async function runCli(
  argv: string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      template: { type: 'string' },
      program: { type: 'string' },
      scopes: { type: 'string' },
      id: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, sub, arg] = positionals;
  if (values.help || command === undefined || command === 'help') {
    console.log(USAGE);
    return 0;
  }
  const config = parseConfig(env);

  if (command === 'migrate') {
    return withDatabase(config, async (handle) => {
      console.log(`migrations applied on the ${handle.location}`);
      return 0;
    });
  }

  if (command === 'program' && sub === 'create') {
    if (!arg) throw new UsageError('program create needs an ID');
    const template = values.template ?? 'retail';
    if (!(TEMPLATE_NAMES as readonly string[]).includes(template)) {
      throw new UsageError(`--template must be one of ${TEMPLATE_NAMES.join(', ')}`);
    }
    return withDatabase(config, async (handle) => {
      const outcome = await createProgram(
        handle.db,
        arg,
        programTemplate(template as 'retail'),
        'cli',
      );
      if (outcome.status === 'exists') {
        console.error(`patron: program ${arg} already exists`);
        return 1;
      }
      if (outcome.status === 'invalid') {
        for (const e of outcome.errors) console.error(`patron: ${e.pointer}: ${e.detail}`);
        return 1;
      }
      console.log(`created program ${arg} (version 1, template ${template})`);
      return 0;
    });
  }

  if (command === 'client' && sub === 'create') {
    const programId = values.program;
    if (!programId) throw new UsageError('client create needs --program ID');
    const scopes =
      values.scopes === undefined ? [...SCOPES] : values.scopes.split(/[\s,]+/).filter(Boolean);
    const unknown = scopes.find((s) => !isScope(s));
    if (unknown !== undefined)
      throw new UsageError(`unknown scope ${unknown}; scopes are: ${SCOPES.join(' ')}`);
    return withDatabase(config, async (handle) => {
      const outcome = await createClient(handle.db, {
        programId,
        ...(values.id ? { clientId: values.id } : {}),
        scopes: scopes.filter(isScope),
      });
      if (outcome.status !== 'created') {
        console.error(`patron: cannot create the client: ${outcome.status.replace('_', ' ')}`);
        return 1;
      }
      console.log(`client_id=${outcome.clientId}`);
      console.log(`client_secret=${outcome.secret}`);
      console.log('The secret is shown once: only its hash is stored.');
      return 0;
    });
  }

  if (command === 'verify') {
    return withDatabase(config, async (handle) => {
      const started = Date.now();
      const violations = await verifyLedger(handle.db, values.program ?? null);
      const took = `${((Date.now() - started) / 1000).toFixed(1)} s`;
      if (violations.length === 0) {
        console.log(`ledger verified on the ${handle.location}: no violations (${took})`);
        return 0;
      }
      for (const v of violations) console.error(`${v.check}: ${v.detail}`);
      console.error(`${violations.length} violation(s) found (${took})`);
      return 1;
    });
  }

  if (command === 'tiers' && sub === 'reevaluate') {
    const programId = values.program;
    if (!programId) throw new UsageError('tiers reevaluate needs --program ID');
    return withDatabase(config, async (handle) => {
      const current = await readProgramVersion(handle.db, programId);
      if (!current) {
        console.error(`patron: no program ${programId}`);
        return 1;
      }
      const result = await reevaluateTiers(
        handle.db,
        programId,
        current.document,
        current.version,
        new Date(),
      );
      console.log(
        `${result.members} members re-evaluated: ${result.downgraded} downgraded, ${result.upgraded} upgraded`,
      );
      return 0;
    });
  }

  if (command === 'expiry' && (sub === 'run' || sub === 'warn')) {
    const programId = values.program ?? null;
    return withDatabase(config, async (handle) => {
      if (programId !== null && !(await readProgramVersion(handle.db, programId))) {
        console.error(`patron: no program ${programId}`);
        return 1;
      }
      const programs = new ProgramCache();
      const now = new Date();
      const started = Date.now();
      const took = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
      if (sub === 'warn') {
        let messages = 0;
        let lots = 0;
        // Each call is bounded; call again until everything due is warned about.
        for (let done = false; !done;) {
          const result = await runExpiryWarnings(handle.db, programs, programId, now);
          messages += result.messages;
          lots += result.lots;
          done = result.done;
          if (!done) console.log(`… ${messages} warnings about ${lots} lots so far (${took()})`);
        }
        console.log(`${messages} expiry warnings sent about ${lots} lots (${took()})`);
        return 0;
      }
      let lastReport = Date.now();
      const totals = { members: 0, lots: 0, points: 0n };
      for (let done = false; !done;) {
        const base = { ...totals };
        const result = await runExpiry(handle.db, programs, programId, now, {
          onProgress: (p) => {
            if (Date.now() - lastReport < PROGRESS_INTERVAL_MS) return;
            lastReport = Date.now();
            console.log(
              `… ${base.members + p.members} members, ${base.lots + p.lots} lots, ${base.points + p.points} points expired (${p.programId}, ${took()})`,
            );
          },
        });
        totals.members += result.members;
        totals.lots += result.lots;
        totals.points += result.points;
        done = result.done;
      }
      console.log(
        `${totals.points} points expired from ${totals.lots} lots of ${totals.members} members (${took()})`,
      );
      return 0;
    });
  }

  throw new UsageError(`unknown command: ${positionals.join(' ')}`);
}

export async function main(argv: string[], env: Record<string, string | undefined>): Promise<void> {
  try {
    process.exitCode = await runCli(argv, env);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`patron: ${error.message}\n\n${USAGE}`);
      process.exitCode = 2;
    } else if (error instanceof ConfigError || error instanceof DataDirInUseError) {
      console.error(`patron: ${error.message}`);
      process.exitCode = 2;
    } else if (
      error instanceof TypeError &&
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      console.error(`patron: ${error.message}\n\n${USAGE}`);
      process.exitCode = 2;
    } else {
      throw error;
    }
  }
}
