// Programs and their versions. A program document is published as the next immutable,
// numbered version; `programs.current_version` names the one in force. Every event reads
// that number inside its own transaction and is evaluated against exactly that version,
// compiled once per process and cached.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { INVALIDATION_CHANNEL } from '../members/cache.ts';
import {
  compileProgram,
  validateProgramDocument,
  type CompiledProgram,
  type ProgramDocument,
} from '../rules/index.ts';

const COMPILED_VERSIONS_MAX = 256;

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
    const program = compileProgram(row.document as ProgramDocument, version);
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
    const known = this.latest.get(programId);
    if (!known || known.version < program.version) this.latest.set(programId, program);
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
    await insertVersion(trx, programId, 1, validated.document, actor);
    return { status: 'created' as const, version: 1 };
  });
}

async function insertVersion(
  trx: Transaction<Database>,
  programId: string,
  version: number,
  document: ProgramDocument,
  actor: string,
): Promise<void> {
  await trx
    .insertInto('program_versions')
    .values({
      program_id: programId,
      version,
      document: JSON.stringify(document),
      created_by: actor,
    })
    .execute();
  await trx
    .updateTable('programs')
    .set({ current_version: version })
    .where('id', '=', programId)
    .execute();
}

/** Validates a document in full and publishes it at once as the next version. */
export async function publishProgram(
  db: Kysely<Database>,
  programId: string,
  document: unknown,
  actor: string,
): Promise<PublishOutcome> {
  const validated = validateProgramDocument(document);
  if (!validated.ok) return { status: 'invalid', errors: validated.errors };
  return db.transaction().execute(async (trx) => {
    // Locking the program row serialises publishers, so version numbers have no gaps.
    const row = await trx
      .selectFrom('programs')
      .select('current_version')
      .where('id', '=', programId)
      .forUpdate()
      .executeTakeFirst();
    if (!row) return { status: 'unknown_program' as const };
    const version = row.current_version + 1;
    await insertVersion(trx, programId, version, validated.document, actor);
    // Other processes drop their cached views of this program when it commits.
    await sql`SELECT pg_notify(${INVALIDATION_CHANNEL}, ${JSON.stringify({ p: programId, v: version })})`.execute(
      trx,
    );
    return { status: 'published' as const, version, document: validated.document };
  });
}

export interface ProgramVersionView {
  programId: string;
  version: number;
  createdAt: Date;
  createdBy: string;
  document: ProgramDocument;
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
  return {
    programId,
    version: row.version,
    createdAt: row.created_at,
    createdBy: row.created_by,
    document: row.document as ProgramDocument,
  };
}
