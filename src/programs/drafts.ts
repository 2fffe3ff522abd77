// Drafts of a program document, and publications scheduled for a future instant.
//
// A draft is where a loyalty manager prepares the next version: started from a published
// version, saved as often as needed (valid or not), validated, compared, then published at
// once or at a chosen instant. Publishing is refused while the draft is outdated (a version
// was published after the one it started from) unless the manager says to publish anyway,
// so a change made meanwhile is never reverted unnoticed.
//
//   open ──publish──▶ published (read-only, names its version)
//    │  └─publish at T─▶ scheduled ──T reached──▶ published
//    │                      └──cancel──▶ open
//    └──discard──▶ discarded
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { pageOf, pageSize } from '../db/page.ts';
import type { Database, DraftStatus, PublicationStatus } from '../db/schema.ts';
import { newId } from '../ids/index.ts';
import {
  validateProgramDocument,
  type DocumentError,
  type ProgramDocument,
} from '../rules/index.ts';
import { logChange } from './changes.ts';
import { currentVersion, publishInTransaction, readProgramVersion } from './index.ts';

/** Open and scheduled drafts of one program at most: each is a full document. */
export const OPEN_DRAFTS_MAX = 100;
export const DRAFTS_PAGE_SIZE_MAX = 500;
export const DRAFT_NAME_LENGTH_MAX = 200;
/** How far ahead a publication can be scheduled. */
export const SCHEDULE_AHEAD_DAYS_MAX = 366;
/** Due publications one pass of the job applies at most (each in its own transaction). */
export const PUBLICATIONS_PER_PASS_MAX = 100;

export interface Draft {
  id: string;
  name: string;
  status: DraftStatus;
  revision: number;
  baseVersion: number;
  publishedVersion: number | null;
  document: unknown;
  createdAt: Date;
  createdBy: string;
  updatedAt: Date;
  updatedBy: string;
}

export interface Publication {
  id: string;
  draftId: string;
  effectiveAt: Date;
  reason: string;
  status: PublicationStatus;
  version: number | null;
  settledAt: Date | null;
  createdAt: Date;
  createdBy: string;
}

type DraftRow = Selectable<Database['program_drafts']>;
type PublicationRow = Selectable<Database['program_publications']>;

function draftOf(row: DraftRow): Draft {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    revision: row.revision,
    baseVersion: row.base_version,
    publishedVersion: row.published_version,
    document: row.document,
    createdAt: row.created_at,
    createdBy: row.created_by,
    updatedAt: row.updated_at,
    updatedBy: row.updated_by,
  };
}

function publicationOf(row: Omit<PublicationRow, 'document'>): Publication {
  return {
    id: row.id,
    draftId: row.draft_id,
    effectiveAt: row.effective_at,
    reason: row.reason,
    status: row.status,
    version: row.version,
    settledAt: row.settled_at,
    createdAt: row.created_at,
    createdBy: row.created_by,
  };
}

export type CreateDraftOutcome =
  | { status: 'created'; draft: Draft }
  | { status: 'unknown_version'; version: number }
  | { status: 'too_many'; limit: number };

/**
 * A new draft: the given document, or a copy of `fromVersion` (default: the version in force).
 * The draft's base is the version in force, so publishing notices later publications.
 */
export async function createDraft(
  trx: Transaction<Database>,
  programId: string,
  input: { name?: string; document?: unknown; fromVersion?: number; reason?: string },
  actor: string,
  now: Date,
): Promise<CreateDraftOutcome> {
  // The program row is locked so the count of open drafts holds until this commits.
  const program = await trx
    .selectFrom('programs')
    .select('current_version')
    .where('id', '=', programId)
    .forUpdate()
    .executeTakeFirstOrThrow();
  const open = await trx
    .selectFrom('program_drafts')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('program_id', '=', programId)
    .where('status', 'in', ['open', 'scheduled'])
    .executeTakeFirstOrThrow();
  if (Number(open.n) >= OPEN_DRAFTS_MAX) return { status: 'too_many', limit: OPEN_DRAFTS_MAX };
  let document = input.document;
  if (document === undefined) {
    const from = input.fromVersion ?? program.current_version;
    const source = await readProgramVersion(trx, programId, from);
    if (!source) return { status: 'unknown_version', version: from };
    document = source.document;
  }
  const id = newId('drf', now);
  const row = await trx
    .insertInto('program_drafts')
    .values({
      program_id: programId,
      id,
      name: input.name ?? `Draft of ${now.toISOString().slice(0, 10)}`,
      document: JSON.stringify(document),
      base_version: program.current_version,
      created_by: actor,
      updated_by: actor,
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await logChange(trx, programId, {
    actor,
    action: 'draft.created',
    reason: input.reason ?? null,
    draftId: id,
  });
  return { status: 'created', draft: draftOf(row) };
}

export async function readDraft(
  db: Kysely<Database> | Transaction<Database>,
  programId: string,
  id: string,
): Promise<Draft | undefined> {
  const row = await db
    .selectFrom('program_drafts')
    .selectAll()
    .where('program_id', '=', programId)
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? draftOf(row) : undefined;
}

/** Drafts newest first, without documents; by default only open and scheduled ones. */
export async function listDrafts(
  db: Kysely<Database>,
  programId: string,
  options: { before?: string; limit: number; all: boolean },
): Promise<{ items: Omit<Draft, 'document'>[]; next: string | null }> {
  const limit = pageSize(options.limit, DRAFTS_PAGE_SIZE_MAX);
  let query = db
    .selectFrom('program_drafts')
    .select([
      'program_id',
      'id',
      'name',
      'status',
      'revision',
      'base_version',
      'published_version',
      'created_at',
      'created_by',
      'updated_at',
      'updated_by',
    ])
    .where('program_id', '=', programId)
    .orderBy('id', 'desc')
    .limit(limit + 1);
  if (!options.all) query = query.where('status', 'in', ['open', 'scheduled']);
  if (options.before !== undefined) query = query.where('id', '<', options.before);
  const { page, next } = pageOf(await query.execute(), limit, (row) => row.id);
  return {
    items: page.map((row) => {
      const { document: _document, ...rest } = draftOf({ ...row, document: null });
      return rest;
    }),
    next,
  };
}

type Locked =
  | { status: 'ok'; draft: Draft }
  | { status: 'not_found' }
  | { status: 'not_open'; draftStatus: DraftStatus };

/** The draft, locked for this transaction, if it can still change. */
async function lockOpenDraft(
  trx: Transaction<Database>,
  programId: string,
  id: string,
): Promise<Locked> {
  const row = await trx
    .selectFrom('program_drafts')
    .selectAll()
    .where('program_id', '=', programId)
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst();
  if (!row) return { status: 'not_found' };
  if (row.status !== 'open') return { status: 'not_open', draftStatus: row.status };
  return { status: 'ok', draft: draftOf(row) };
}

export type UpdateDraftOutcome =
  | { status: 'updated'; draft: Draft }
  | { status: 'not_found' }
  | { status: 'not_open'; draftStatus: DraftStatus }
  | { status: 'stale'; revision: number };

/**
 * Saves a new document and/or name. With `revision`, only if that is still the draft's
 * revision: a second editor learns that the draft moved on instead of overwriting it.
 */
export async function updateDraft(
  trx: Transaction<Database>,
  programId: string,
  id: string,
  input: { document?: unknown; name?: string; revision?: number; reason?: string },
  actor: string,
  now: Date,
): Promise<UpdateDraftOutcome> {
  const locked = await lockOpenDraft(trx, programId, id);
  if (locked.status !== 'ok') return locked;
  if (input.revision !== undefined && input.revision !== locked.draft.revision) {
    return { status: 'stale', revision: locked.draft.revision };
  }
  const row = await trx
    .updateTable('program_drafts')
    .set({
      ...(input.document !== undefined ? { document: JSON.stringify(input.document) } : {}),
      ...(input.name !== undefined ? { name: input.name } : {}),
      revision: locked.draft.revision + 1,
      updated_at: now,
      updated_by: actor,
    })
    .where('program_id', '=', programId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await logChange(trx, programId, {
    actor,
    action: 'draft.updated',
    reason: input.reason ?? null,
    draftId: id,
  });
  return { status: 'updated', draft: draftOf(row) };
}

export type DiscardDraftOutcome =
  | { status: 'discarded'; draft: Draft }
  | { status: 'not_found' }
  | { status: 'not_open'; draftStatus: DraftStatus };

export async function discardDraft(
  trx: Transaction<Database>,
  programId: string,
  id: string,
  actor: string,
  reason: string | null,
  now: Date,
): Promise<DiscardDraftOutcome> {
  const locked = await lockOpenDraft(trx, programId, id);
  if (locked.status !== 'ok') return locked;
  const row = await trx
    .updateTable('program_drafts')
    .set({ status: 'discarded', updated_at: now, updated_by: actor })
    .where('program_id', '=', programId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await logChange(trx, programId, { actor, action: 'draft.discarded', reason, draftId: id });
  return { status: 'discarded', draft: draftOf(row) };
}

export type PublishDraftOutcome =
  | { status: 'published'; version: number; draft: Draft }
  | { status: 'scheduled'; publication: Publication; draft: Draft }
  | { status: 'invalid'; errors: DocumentError[] }
  | { status: 'outdated'; baseVersion: number; currentVersion: number }
  | { status: 'not_found' }
  | { status: 'not_open'; draftStatus: DraftStatus };

/**
 * Publishes the draft as the next version, or schedules it for `effectiveAt` (which the
 * caller has checked lies ahead, within SCHEDULE_AHEAD_DAYS_MAX).
 */
export async function publishDraft(
  trx: Transaction<Database>,
  programId: string,
  id: string,
  input: { reason: string; effectiveAt?: Date; allowOutdated: boolean },
  actor: string,
  now: Date,
): Promise<PublishDraftOutcome> {
  const locked = await lockOpenDraft(trx, programId, id);
  if (locked.status !== 'ok') return locked;
  const { draft } = locked;
  const validated = validateProgramDocument(draft.document);
  if (!validated.ok) return { status: 'invalid', errors: validated.errors };
  const current = (await currentVersion(trx, programId)) ?? 0;
  if (current !== draft.baseVersion && !input.allowOutdated) {
    return { status: 'outdated', baseVersion: draft.baseVersion, currentVersion: current };
  }
  if (input.effectiveAt !== undefined) {
    const publication = await trx
      .insertInto('program_publications')
      .values({
        program_id: programId,
        id: newId('pub', now),
        draft_id: id,
        document: JSON.stringify(validated.document),
        effective_at: input.effectiveAt,
        reason: input.reason,
        created_by: actor,
        created_at: now,
      })
      .returning([
        'program_id',
        'id',
        'draft_id',
        'effective_at',
        'reason',
        'status',
        'version',
        'settled_at',
        'created_at',
        'created_by',
      ])
      .executeTakeFirstOrThrow();
    const row = await setDraftStatus(trx, programId, id, 'scheduled', null, actor, now);
    await logChange(trx, programId, {
      actor,
      action: 'publication.scheduled',
      reason: input.reason,
      draftId: id,
      publicationId: publication.id,
    });
    return { status: 'scheduled', publication: publicationOf(publication), draft: draftOf(row) };
  }
  const version = await publishInTransaction(trx, programId, validated.document, {
    actor,
    reason: input.reason,
    origin: 'draft',
    draftId: id,
  });
  if (version === undefined) return { status: 'not_found' };
  const row = await setDraftStatus(trx, programId, id, 'published', version, actor, now);
  return { status: 'published', version, draft: draftOf(row) };
}

async function setDraftStatus(
  trx: Transaction<Database>,
  programId: string,
  id: string,
  status: DraftStatus,
  publishedVersion: number | null,
  actor: string,
  now: Date,
): Promise<DraftRow> {
  return trx
    .updateTable('program_drafts')
    .set({ status, published_version: publishedVersion, updated_at: now, updated_by: actor })
    .where('program_id', '=', programId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function readPublication(
  db: Kysely<Database> | Transaction<Database>,
  programId: string,
  id: string,
): Promise<Publication | undefined> {
  const row = await db
    .selectFrom('program_publications')
    .selectAll()
    .where('program_id', '=', programId)
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? publicationOf(row) : undefined;
}

/** Publications newest first; by default only the scheduled ones. */
export async function listPublications(
  db: Kysely<Database>,
  programId: string,
  options: { before?: string; limit: number; all: boolean },
): Promise<{ items: Publication[]; next: string | null }> {
  const limit = pageSize(options.limit, DRAFTS_PAGE_SIZE_MAX);
  let query = db
    .selectFrom('program_publications')
    .select([
      'program_id',
      'id',
      'draft_id',
      'effective_at',
      'reason',
      'status',
      'version',
      'settled_at',
      'created_at',
      'created_by',
    ])
    .where('program_id', '=', programId)
    .orderBy('id', 'desc')
    .limit(limit + 1);
  if (!options.all) query = query.where('status', '=', 'scheduled');
  if (options.before !== undefined) query = query.where('id', '<', options.before);
  const { page, next } = pageOf(await query.execute(), limit, (row) => row.id);
  return { items: page.map(publicationOf), next };
}

export type CancelPublicationOutcome =
  | { status: 'cancelled'; publication: Publication }
  | { status: 'not_found' }
  | { status: 'not_scheduled'; publicationStatus: PublicationStatus };

/** Cancels a scheduled publication; its draft is open again. */
export async function cancelPublication(
  trx: Transaction<Database>,
  programId: string,
  id: string,
  actor: string,
  reason: string | null,
  now: Date,
): Promise<CancelPublicationOutcome> {
  const row = await trx
    .selectFrom('program_publications')
    .selectAll()
    .where('program_id', '=', programId)
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst();
  if (!row) return { status: 'not_found' };
  if (row.status !== 'scheduled') return { status: 'not_scheduled', publicationStatus: row.status };
  const updated = await trx
    .updateTable('program_publications')
    .set({ status: 'cancelled', settled_at: now })
    .where('program_id', '=', programId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await setDraftStatus(trx, programId, row.draft_id, 'open', null, actor, now);
  await logChange(trx, programId, {
    actor,
    action: 'publication.cancelled',
    reason,
    draftId: row.draft_id,
    publicationId: id,
  });
  return { status: 'cancelled', publication: publicationOf(updated) };
}

/**
 * Publishes every publication due at `now`, oldest instant first, each in its own
 * transaction. A row another process is applying is skipped (it is locked), so two
 * schedulers never publish one twice. Answers the versions published, by program.
 */
export async function applyDuePublications(
  db: Kysely<Database>,
  now: Date,
  signal?: AbortSignal,
): Promise<{ programId: string; version: number }[]> {
  const published: { programId: string; version: number }[] = [];
  for (let i = 0; i < PUBLICATIONS_PER_PASS_MAX && !signal?.aborted; i += 1) {
    const applied = await db.transaction().execute(async (trx) => {
      const due = await sql<PublicationRow>`
        SELECT * FROM program_publications
        WHERE status = 'scheduled' AND effective_at <= ${now.toISOString()}::timestamptz
        ORDER BY effective_at, id
        LIMIT 1
        FOR UPDATE SKIP LOCKED`.execute(trx);
      const row = due.rows[0];
      if (!row) return null;
      const version = await publishInTransaction(
        trx,
        row.program_id,
        row.document as ProgramDocument,
        {
          actor: row.created_by,
          reason: row.reason,
          origin: 'schedule',
          draftId: row.draft_id,
          publicationId: row.id,
        },
      );
      if (version === undefined) throw new Error(`program ${row.program_id} vanished`);
      await trx
        .updateTable('program_publications')
        .set({ status: 'published', version, settled_at: now })
        .where('program_id', '=', row.program_id)
        .where('id', '=', row.id)
        .execute();
      await setDraftStatus(
        trx,
        row.program_id,
        row.draft_id,
        'published',
        version,
        row.created_by,
        now,
      );
      return { programId: row.program_id, version };
    });
    if (!applied) break;
    published.push(applied);
  }
  return published;
}
