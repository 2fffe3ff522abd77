// Programs and their versions. A program document is published as the next immutable,
// numbered version; `programs.current_version` names the one in force. Every event reads
// that number inside its own transaction and is evaluated against exactly that version,
// compiled once per process and cached.
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { pageOf, pageSize } from '../db/page.ts';
import type { Database, ProgramVersionOrigin } from '../db/schema.ts';
import { logChange } from './changes.ts';
import { INVALIDATION_CHANNEL } from '../members/cache.ts';
import {
  compileProgram,
  validateProgramDocument,
  type CompiledProgram,
  type ProgramDocument,
} from '../rules/index.ts';

const COMPILED_VERSIONS_MAX = 256;
/** How often a process on PostgreSQL checks for versions published elsewhere (besides NOTIFY). */
export const PROGRAM_POLL_MS = 1_000;

export type PublishOutcome =
  | { status: 'published'; version: number; document: ProgramDocument }
  | { status: 'invalid'; errors: { pointer: string; detail: string }[] }
  | { status: 'unknown_program' };

export type CreateProgramOutcome =
  | { status: 'created'; version: number }
  | { status: 'exists' }
  | { status: 'invalid'; errors: { pointer: string; detail: string }[] };

type Executor = Kysely<Database> | Transaction<Database>;

/** Compiled programs by `programId@version`; versions are immutable, so entries never go stale. */
export class ProgramCache {
  private readonly compiled = new Map<string, CompiledProgram>();

  async get(db: Executor, programId: string, version: number): Promise<CompiledProgram> {
    const key = `${programId}@${version}`;
    const hit = this.compiled.get(key);
    if (hit) return hit;
    const row = await db
      .selectFrom('program_versions')
      .select('document')
      .where('program_id', '=', programId)
      .where('version', '=', version)
      .executeTakeFirstOrThrow();
    const program = compileProgram(row.document as ProgramDocument, version, programId);
    if (this.compiled.size >= COMPILED_VERSIONS_MAX) {
      const oldest = this.compiled.keys().next().value;
      if (oldest !== undefined) this.compiled.delete(oldest);
    }
    this.compiled.set(key, program);
    return program;
  }

  private readonly latest = new Map<string, CompiledProgram>();

  /** The version in force, read in the caller's transaction. */
  async current(db: Executor, programId: string): Promise<CompiledProgram | undefined> {
    const version = await currentVersion(db, programId);
    if (version === undefined) return undefined;
    const program = await this.get(db, programId, version);
    this.remember(programId, program);
    return program;
  }

  /**
   * The newest version this process has seen, without a query: reads use it to build their
   * one query, which also returns the version in force so a stale guess is noticed.
   */
  lastSeen(programId: string): CompiledProgram | undefined {
    return this.latest.get(programId);
  }

  /** Another process published: the next read asks the database which version is in force. */
  forgetLatest(programId: string): void {
    this.latest.delete(programId);
  }

  remember(programId: string, program: CompiledProgram): void {
    this.watched.add(programId);
    const known = this.latest.get(programId);
    if (!known || known.version < program.version) this.latest.set(programId, program);
  }

  /** Programs this process has served, whose new versions it compiles ahead of use. */
  private readonly watched = new Set<string>();

  /**
   * Compiles the version in force of every program this process has served, where it is newer
   * than the one known: the poll under LISTEN/NOTIFY (a notification lost while the listener
   * reconnects is caught here), and a warm-up, so the first event after a publish does not
   * wait for a compile. Answers how many programs moved on.
   */
  async refresh(db: Kysely<Database>): Promise<number> {
    if (this.watched.size === 0) return 0;
    const rows = await db
      .selectFrom('programs')
      .select(['id', 'current_version'])
      .where('id', 'in', [...this.watched].slice(0, COMPILED_VERSIONS_MAX))
      .execute();
    let moved = 0;
    for (const row of rows) {
      const known = this.latest.get(row.id);
      if (row.current_version === 0 || (known && known.version >= row.current_version)) continue;
      this.remember(row.id, await this.get(db, row.id, row.current_version));
      moved += 1;
    }
    return moved;
  }
}

export async function currentVersion(db: Executor, programId: string): Promise<number | undefined> {
  const row = await db
    .selectFrom('programs')
    .select('current_version')
    .where('id', '=', programId)
    .executeTakeFirst();
  return row && row.current_version > 0 ? row.current_version : undefined;
}

export async function createProgram(
  db: Kysely<Database>,
  programId: string,
  document: unknown,
  actor: string,
): Promise<CreateProgramOutcome> {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(programId)) {
    return {
      status: 'invalid',
      errors: [{ pointer: '/id', detail: 'a program id is 1-64 characters of [A-Za-z0-9._-]' }],
    };
  }
  const validated = validateProgramDocument(document);
  if (!validated.ok) return { status: 'invalid', errors: validated.errors };
  return db.transaction().execute(async (trx) => {
    const inserted =
      await sql`INSERT INTO programs (id) VALUES (${programId}) ON CONFLICT DO NOTHING`.execute(
        trx,
      );
    if (inserted.numAffectedRows === 0n) return { status: 'exists' as const };
    await insertVersion(trx, programId, 1, validated.document, {
      actor,
      reason: 'program created',
      origin: 'create',
    });
    return { status: 'created' as const, version: 1 };
  });
}

/** Where a version came from, and why: written once, with the version. */
export interface PublishMeta {
  actor: string;
  reason: string | null;
  origin: ProgramVersionOrigin;
  draftId?: string;
  rollbackOf?: number;
  publicationId?: string;
}

export const REASON_LENGTH_MAX = 1000;

async function insertVersion(
  trx: Transaction<Database>,
  programId: string,
  version: number,
  document: ProgramDocument,
  meta: PublishMeta,
): Promise<void> {
  await trx
    .insertInto('program_versions')
    .values({
      program_id: programId,
      version,
      document: JSON.stringify(document),
      created_by: meta.actor,
      reason: meta.reason,
      origin: meta.origin,
      draft_id: meta.draftId ?? null,
      rollback_of: meta.rollbackOf ?? null,
    })
    .execute();
  await trx
    .updateTable('programs')
    .set({ current_version: version })
    .where('id', '=', programId)
    .execute();
  await logChange(trx, programId, {
    actor: meta.actor,
    action: 'version.published',
    reason: meta.reason,
    version,
    draftId: meta.draftId,
    publicationId: meta.publicationId,
  });
}

/**
 * Publishes a validated document as the next version, in the caller's transaction: locks the
 * program row (so publishers queue and version numbers have no gaps), inserts the version,
 * logs the change and tells other processes when it commits. Undefined: no such program.
 */
export async function publishInTransaction(
  trx: Transaction<Database>,
  programId: string,
  document: ProgramDocument,
  meta: PublishMeta,
): Promise<number | undefined> {
  const row = await trx
    .selectFrom('programs')
    .select('current_version')
    .where('id', '=', programId)
    .forUpdate()
    .executeTakeFirst();
  if (!row) return undefined;
  const version = row.current_version + 1;
  await insertVersion(trx, programId, version, document, meta);
  // Other processes compile the new version and drop their cached views when this commits.
  await sql`SELECT pg_notify(${INVALIDATION_CHANNEL}, ${JSON.stringify({ p: programId, v: version })})`.execute(
    trx,
  );
  return version;
}

/** Validates a document in full and publishes it at once as the next version. */
export async function publishProgram(
  db: Kysely<Database>,
  programId: string,
  document: unknown,
  actor: string,
  reason: string | null = null,
): Promise<PublishOutcome> {
  const validated = validateProgramDocument(document);
  if (!validated.ok) return { status: 'invalid', errors: validated.errors };
  const version = await db
    .transaction()
    .execute((trx) =>
      publishInTransaction(trx, programId, validated.document, { actor, reason, origin: 'put' }),
    );
  if (version === undefined) return { status: 'unknown_program' };
  return { status: 'published', version, document: validated.document };
}

export interface ProgramVersionSummary {
  programId: string;
  version: number;
  createdAt: Date;
  createdBy: string;
  reason: string | null;
  origin: ProgramVersionOrigin;
  draftId: string | null;
  rollbackOf: number | null;
}

export interface ProgramVersionView extends ProgramVersionSummary {
  document: ProgramDocument;
}

type VersionRow = Selectable<Database['program_versions']>;

function summaryOf(row: Omit<VersionRow, 'document'>): ProgramVersionSummary {
  return {
    programId: row.program_id,
    version: row.version,
    createdAt: row.created_at,
    createdBy: row.created_by,
    reason: row.reason,
    origin: row.origin,
    draftId: row.draft_id,
    rollbackOf: row.rollback_of,
  };
}

export async function readProgramVersion(
  db: Executor,
  programId: string,
  version?: number,
): Promise<ProgramVersionView | undefined> {
  const wanted = version ?? (await currentVersion(db, programId));
  if (wanted === undefined) return undefined;
  const row = await db
    .selectFrom('program_versions')
    .selectAll()
    .where('program_id', '=', programId)
    .where('version', '=', wanted)
    .executeTakeFirst();
  if (!row) return undefined;
  return { ...summaryOf(row), document: row.document as ProgramDocument };
}

export const VERSIONS_PAGE_SIZE_MAX = 500;

/** Versions newest first, without their documents; `before` is the last version of the previous page. */
export async function listProgramVersions(
  db: Kysely<Database>,
  programId: string,
  options: { before?: number; limit: number },
): Promise<{ items: ProgramVersionSummary[]; next: number | null }> {
  const limit = pageSize(options.limit, VERSIONS_PAGE_SIZE_MAX);
  let query = db
    .selectFrom('program_versions')
    .select([
      'program_id',
      'version',
      'created_at',
      'created_by',
      'reason',
      'origin',
      'draft_id',
      'rollback_of',
    ])
    .where('program_id', '=', programId)
    .orderBy('version', 'desc')
    .limit(limit + 1);
  if (options.before !== undefined) query = query.where('version', '<', options.before);
  const { page, next } = pageOf(await query.execute(), limit, (row) => row.version);
  return { items: page.map(summaryOf), next };
}

export type RollbackOutcome =
  | { status: 'published'; version: number }
  | { status: 'unknown_version' }
  | { status: 'unknown_program' };

/** Publishes a copy of an earlier version as the next one, in the caller's transaction. */
export async function rollbackProgram(
  trx: Transaction<Database>,
  programId: string,
  to: number,
  actor: string,
  reason: string,
): Promise<RollbackOutcome> {
  const old = await readProgramVersion(trx, programId, to);
  if (!old) return { status: 'unknown_version' };
  const version = await publishInTransaction(trx, programId, old.document, {
    actor,
    reason,
    origin: 'rollback',
    rollbackOf: to,
  });
  if (version === undefined) return { status: 'unknown_program' };
  return { status: 'published', version };
}
