// Configuration is parsed once, at start-up, into one typed object. A bad value stops
// start-up with a message naming the variable; nothing else in Patron reads process.env.

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  demo: boolean;
  demoSecret: string;
  tokenTtlSeconds: number;
  logLevel: LogLevel;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

const LOG_LEVELS: readonly LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

/** Parses an ISO 8601 duration of days/hours/minutes/seconds (`PT15M`) or a number of seconds. */
export function parseDurationSeconds(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  const match = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(text);
  if (!match || text === 'P' || text.endsWith('T')) return undefined;
  const [, d, h, m, s] = match;
  return Number(d ?? 0) * 86_400 + Number(h ?? 0) * 3_600 + Number(m ?? 0) * 60 + Number(s ?? 0);
}

export function parseConfig(env: Record<string, string | undefined>): Config {
  const problems: string[] = [];
  const text = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };

  let port = 3000;
  const portText = text('PORT');
  if (portText !== undefined) {
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port > 65_535) {
      problems.push(`PORT: expected a port number 0-65535, got "${portText}"`);
    }
  }

  const databaseUrl = text('DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL: expected a postgres:// or postgresql:// URL');
  }

  let demo = databaseUrl === undefined;
  const demoText = text('PATRON_DEMO');
  if (demoText !== undefined) {
    if (['1', 'true', 'on', 'yes'].includes(demoText.toLowerCase())) demo = true;
    else if (['0', 'false', 'off', 'no'].includes(demoText.toLowerCase())) demo = false;
    else problems.push(`PATRON_DEMO: expected true or false, got "${demoText}"`);
  }

  let tokenTtlSeconds = 15 * 60;
  const ttlText = text('PATRON_TOKEN_TTL');
  if (ttlText !== undefined) {
    const parsed = parseDurationSeconds(ttlText);
    if (parsed === undefined || parsed < 60 || parsed > 86_400) {
      problems.push(
        `PATRON_TOKEN_TTL: expected an ISO 8601 duration (PT15M) or seconds between 60 and 86400, got "${ttlText}"`,
      );
    } else tokenTtlSeconds = parsed;
  }

  const logLevel = (text('LOG_LEVEL') ?? 'info').toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }

  const demoSecret = text('PATRON_DEMO_SECRET') ?? 'demo-secret';
  if (demoSecret.length < 8) problems.push('PATRON_DEMO_SECRET: must be at least 8 characters');

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    port,
    host: text('HOST') ?? '127.0.0.1',
    dataDir: text('PATRON_DATA_DIR') ?? './data',
    databaseUrl,
    demo,
    demoSecret,
    tokenTtlSeconds,
    logLevel,
  };
}
