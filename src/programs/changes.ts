// The change log of a program's rules: every version published, draft saved or discarded and
// publication scheduled or cancelled, with who did it, when and why. Append-only in the
// database; written in the transaction of the change it records.
import type { Kysely, Transaction } from 'kysely';
import { pageOf, pageSize } from '../db/page.ts';
import type { Database, ProgramChangeAction } from '../db/schema.ts';
import { newId } from '../ids/index.ts';

export interface ChangeInput {
  actor: string;
  action: ProgramChangeAction;
  reason?: string | null;
  version?: number;
  draftId?: string;
  publicationId?: string;
}

export interface ProgramChange {
  id: string;
  at: Date;
  actor: string;
  action: ProgramChangeAction;
  reason: string | null;
  version: number | null;
  draftId: string | null;
  publicationId: string | null;
}

export const CHANGES_PAGE_SIZE_MAX = 500;

export async function logChange(
  trx: Transaction<Database>,
  programId: string,
  change: ChangeInput,
): Promise<void> {
  await trx
    .insertInto('program_changes')
    .values({
      program_id: programId,
      id: newId('chg'),
      actor: change.actor,
      action: change.action,
      reason: change.reason ?? null,
      version: change.version ?? null,
      draft_id: change.draftId ?? null,
      publication_id: change.publicationId ?? null,
    })
    .execute();
}

/** Newest first; `before` is the id of the last change of the previous page. */
export async function listChanges(
  db: Kysely<Database>,
  programId: string,
  options: { before?: string; limit: number; draftId?: string },
): Promise<{ items: ProgramChange[]; next: string | null }> {
  const limit = pageSize(options.limit, CHANGES_PAGE_SIZE_MAX);
  let query = db
    .selectFrom('program_changes')
    .selectAll()
    .where('program_id', '=', programId)
    .orderBy('id', 'desc')
    .limit(limit + 1);
  if (options.before !== undefined) query = query.where('id', '<', options.before);
  if (options.draftId !== undefined) query = query.where('draft_id', '=', options.draftId);
  const { page, next } = pageOf(await query.execute(), limit, (row) => row.id);
  return {
    items: page.map((row) => ({
      id: row.id,
      at: row.at,
      actor: row.actor,
      action: row.action,
      reason: row.reason,
      version: row.version,
      draftId: row.draft_id,
      publicationId: row.publication_id,
    })),
    next,
  };
}
