// The rewards catalogue: what members can spend points on. A reward has a cost in points and
// optional limits — units in stock, redemptions per member, the tiers allowed, a validity
// window — and may issue a voucher when redeemed. Rewards are never deleted, only archived,
// because redemptions and vouchers keep naming them: an archived reward is still readable by
// id but no longer listed by default and never offered to a member.
//
// Stock counts the units left to hold: redemptions (src/redemptions) take a unit when they
// hold and give it back when a hold is cancelled or expires, so the catalogue only reads it.
import { sql, type Kysely, type Selectable, type Updateable } from 'kysely';
import type { Database, RewardsTable } from '../db/schema.ts';
import { parseInstant, type FieldError } from '../events/index.ts';
import { newId } from '../ids/index.ts';
import type { ProgramCache } from '../programs/index.ts';
import { POINTS_MAX, TIER_LEVELS_COUNT_MAX } from '../rules/index.ts';

export const REWARD_NAME_LENGTH_MAX = 200;
export const REWARD_DESCRIPTION_LENGTH_MAX = 2000;
/** Points go out as JSON numbers: a cost or stock beyond this would lose precision. */
export const REWARD_COST_MAX = BigInt(POINTS_MAX);
export const REWARD_STOCK_MAX = BigInt(POINTS_MAX);
/** per_member_limit is an int4 column. */
export const PER_MEMBER_LIMIT_MAX = 2_147_483_647;
export const VOUCHER_VALIDITY_DAYS_MAX = 3650;
/** A reward names at most every level a program may have. */
export const REWARD_TIERS_MAX = TIER_LEVELS_COUNT_MAX;
/** API.md's bounds for every list; PageQuery's `limit` pattern in src/http/schemas.ts states the same. */
export const REWARDS_PAGE_SIZE_DEFAULT = 50;
export const REWARDS_PAGE_SIZE_MAX = 500;
/**
 * The member's list is not paged (a member picks from a screenful), so it is bounded: at
 * most this many rewards are considered, the cheapest first.
 */
export const MEMBER_REWARDS_MAX = 500;

export interface Reward {
  id: string;
  name: string;
  description: string;
  cost: bigint;
  stock: bigint | null;
  perMemberLimit: number | null;
  tiers: string[] | null;
  validFrom: Date | null;
  validUntil: Date | null;
  voucher: { validityDays: number } | null;
  archivedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A reward as a caller describes it; instants are RFC 3339 text, as they arrive. */
export interface RewardFields {
  name: string;
  description?: string;
  cost: bigint;
  stock?: bigint | null;
  perMemberLimit?: number | null;
  tiers?: string[] | null;
  validFrom?: string | null;
  validUntil?: string | null;
  voucher?: { validityDays: number } | null;
}

/** A partial update: a field left out keeps its value; null clears a nullable one. */
export type RewardPatch = Partial<RewardFields>;

export type CreateRewardOutcome =
  | { status: 'created'; reward: Reward }
  | { status: 'invalid'; errors: FieldError[] }
  | { status: 'unknown_program' };

export type UpdateRewardOutcome =
  | { status: 'updated'; reward: Reward }
  | { status: 'invalid'; errors: FieldError[] }
  | { status: 'not_found' };

export type ArchiveRewardOutcome = { status: 'archived'; reward: Reward } | { status: 'not_found' };

export type MemberRewardsOutcome =
  { status: 'listed'; items: (Reward & { affordable: boolean })[] } | { status: 'not_found' };

export interface RewardPage {
  items: Reward[];
  nextCursor: string | null;
}

type RewardRow = Selectable<RewardsTable>;

function fromRow(row: RewardRow): Reward {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    cost: row.cost,
    stock: row.stock,
    perMemberLimit: row.per_member_limit,
    tiers: row.tiers,
    validFrom: row.valid_from,
    validUntil: row.valid_until,
    voucher:
      row.voucher_validity_days === null ? null : { validityDays: row.voucher_validity_days },
    archivedAt: row.archived_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Characters as PostgreSQL's length() and JSON Schema's maxLength count them: code points. */
function lengthOf(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/**
 * Checks every field present in `fields` and answers the errors, each naming its field.
 * `knownTiers` is the tier ids of the program version in force. The instants are parsed
 * here; their order is checked by the caller, which knows the stored values a patch keeps.
 */
function fieldErrors(
  fields: RewardPatch,
  knownTiers: readonly string[],
): { errors: FieldError[]; validFrom?: Date | null; validUntil?: Date | null } {
  const errors: FieldError[] = [];
  const push = (pointer: string, detail: string) => errors.push({ pointer, detail });
  if (fields.name !== undefined) {
    const length = lengthOf(fields.name);
    if (length < 1 || length > REWARD_NAME_LENGTH_MAX)
      push('/name', `name is 1-${REWARD_NAME_LENGTH_MAX} characters`);
  }
  if (
    fields.description !== undefined &&
    lengthOf(fields.description) > REWARD_DESCRIPTION_LENGTH_MAX
  )
    push('/description', `description is at most ${REWARD_DESCRIPTION_LENGTH_MAX} characters`);
  if (fields.cost !== undefined && (fields.cost < 1n || fields.cost > REWARD_COST_MAX))
    push('/cost', `cost is a whole number of points from 1 to ${REWARD_COST_MAX}`);
  if (
    fields.stock !== undefined &&
    fields.stock !== null &&
    (fields.stock < 0n || fields.stock > REWARD_STOCK_MAX)
  )
    push('/stock', `stock is a whole number from 0 to ${REWARD_STOCK_MAX}, or null for unlimited`);
  const limit = fields.perMemberLimit;
  if (
    limit !== undefined &&
    limit !== null &&
    (!Number.isInteger(limit) || limit < 1 || limit > PER_MEMBER_LIMIT_MAX)
  )
    push(
      '/perMemberLimit',
      `perMemberLimit is a whole number from 1 to ${PER_MEMBER_LIMIT_MAX}, or null for no limit`,
    );
  if (fields.tiers !== undefined && fields.tiers !== null) {
    if (fields.tiers.length < 1 || fields.tiers.length > REWARD_TIERS_MAX)
      push('/tiers', `tiers lists 1-${REWARD_TIERS_MAX} tier ids, or is null for every member`);
    const seen = new Set<string>();
    fields.tiers.forEach((tier, index) => {
      if (seen.has(tier)) push(`/tiers/${index}`, `tier "${tier}" is listed twice`);
      else if (!knownTiers.includes(tier))
        push(
          `/tiers/${index}`,
          knownTiers.length === 0
            ? 'the program has no tiers'
            : `the program has no tier "${tier}" (its tiers: ${knownTiers.join(', ')})`,
        );
      seen.add(tier);
    });
  }
  const instant = (name: 'validFrom' | 'validUntil'): Date | null | undefined => {
    const text = fields[name];
    if (text === undefined || text === null) return text;
    const parsed = parseInstant(text);
    if (!parsed)
      push(`/${name}`, `${name} is an RFC 3339 instant with an offset, e.g. 2026-07-01T00:00:00Z`);
    return parsed;
  };
  const validFrom = instant('validFrom');
  const validUntil = instant('validUntil');
  const days = fields.voucher?.validityDays;
  if (
    days !== undefined &&
    (!Number.isInteger(days) || days < 1 || days > VOUCHER_VALIDITY_DAYS_MAX)
  )
    push(
      '/voucher/validityDays',
      `voucher.validityDays is a whole number of days from 1 to ${VOUCHER_VALIDITY_DAYS_MAX}`,
    );
  return { errors, validFrom, validUntil };
}

/** The window must not be empty; the error names the field of the request that closed it. */
function windowError(
  from: Date | null,
  until: Date | null,
  sent: RewardPatch,
): FieldError | undefined {
  if (from === null || until === null || from < until) return undefined;
  const pointer = sent.validUntil !== undefined ? '/validUntil' : '/validFrom';
  return {
    pointer,
    detail: `validUntil (${until.toISOString()}) must be later than validFrom (${from.toISOString()})`,
  };
}

async function programTiers(
  db: Kysely<Database>,
  programs: ProgramCache,
  programId: string,
): Promise<string[] | undefined> {
  const program = await programs.current(db, programId);
  if (!program) return undefined;
  return program.document.tiers?.levels.map((level) => level.id) ?? [];
}

/** Creates a reward with a new `rwd_` id; `db` may be the caller's transaction. */
export async function createReward(
  db: Kysely<Database>,
  programs: ProgramCache,
  programId: string,
  fields: RewardFields,
  now: Date,
): Promise<CreateRewardOutcome> {
  const tiers = await programTiers(db, programs, programId);
  if (tiers === undefined) return { status: 'unknown_program' };
  const checked = fieldErrors(fields, tiers);
  const validFrom = checked.validFrom ?? null;
  const validUntil = checked.validUntil ?? null;
  const order = windowError(validFrom, validUntil, fields);
  if (order) checked.errors.push(order);
  if (checked.errors.length > 0) return { status: 'invalid', errors: checked.errors };
  const row = await db
    .insertInto('rewards')
    .values({
      program_id: programId,
      id: newId('rwd', now),
      name: fields.name,
      description: fields.description ?? '',
      cost: fields.cost,
      stock: fields.stock ?? null,
      per_member_limit: fields.perMemberLimit ?? null,
      tiers: fields.tiers ?? null,
      valid_from: validFrom,
      valid_until: validUntil,
      voucher_validity_days: fields.voucher?.validityDays ?? null,
      archived_at: null,
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { status: 'created', reward: fromRow(row) };
}

/** A reward of the program, archived or not; another program's is not found. */
export async function getReward(
  db: Kysely<Database>,
  programId: string,
  rewardId: string,
): Promise<Reward | undefined> {
  const row = await db
    .selectFrom('rewards')
    .selectAll()
    .where('program_id', '=', programId)
    .where('id', '=', rewardId)
    .executeTakeFirst();
  return row ? fromRow(row) : undefined;
}

export function encodeRewardCursor(id: string): string {
  return Buffer.from(`r:${id}`).toString('base64url');
}

export function decodeRewardCursor(cursor: string): string | undefined {
  const text = Buffer.from(cursor, 'base64url').toString();
  return /^r:[A-Za-z0-9._-]{1,128}$/.test(text) ? text.slice(2) : undefined;
}

/** The catalogue in id order (ids sort by creation), after the cursor's id. */
export async function listRewards(
  db: Kysely<Database>,
  programId: string,
  options: { after?: string; limit: number; archived: boolean },
): Promise<RewardPage> {
  const limit = Math.min(Math.max(1, options.limit), REWARDS_PAGE_SIZE_MAX);
  let query = db
    .selectFrom('rewards')
    .selectAll()
    .where('program_id', '=', programId)
    .orderBy('id')
    .limit(limit + 1);
  if (!options.archived) query = query.where('archived_at', 'is', null);
  if (options.after !== undefined) query = query.where('id', '>', options.after);
  const rows = await query.execute();
  const page = rows.slice(0, limit);
  return {
    items: page.map(fromRow),
    nextCursor: rows.length > limit ? encodeRewardCursor((page.at(-1) as RewardRow).id) : null,
  };
}

/**
 * Changes the fields present in `patch`. The row is locked while the patch is merged, so the
 * validity window checked here is the one stored (a concurrent patch waits).
 */
export async function updateReward(
  db: Kysely<Database>,
  programs: ProgramCache,
  programId: string,
  rewardId: string,
  patch: RewardPatch,
  now: Date,
): Promise<UpdateRewardOutcome> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('rewards')
      .selectAll()
      .where('program_id', '=', programId)
      .where('id', '=', rewardId)
      .forUpdate()
      .executeTakeFirst();
    if (!row) return { status: 'not_found' as const };
    // Tier ids are checked against the program in force only when the patch sets them: a
    // stored list that names a tier since removed stays as it is until changed.
    const tiers =
      patch.tiers === undefined || patch.tiers === null
        ? []
        : ((await programTiers(trx, programs, programId)) ?? []);
    const checked = fieldErrors(patch, tiers);
    const validFrom = checked.validFrom === undefined ? row.valid_from : checked.validFrom;
    const validUntil = checked.validUntil === undefined ? row.valid_until : checked.validUntil;
    if (checked.errors.length === 0) {
      const order = windowError(validFrom, validUntil, patch);
      if (order) checked.errors.push(order);
    }
    if (checked.errors.length > 0) return { status: 'invalid' as const, errors: checked.errors };
    const changes: Updateable<RewardsTable> = {};
    if (patch.name !== undefined) changes.name = patch.name;
    if (patch.description !== undefined) changes.description = patch.description;
    if (patch.cost !== undefined) changes.cost = patch.cost;
    if (patch.stock !== undefined) changes.stock = patch.stock;
    if (patch.perMemberLimit !== undefined) changes.per_member_limit = patch.perMemberLimit;
    if (patch.tiers !== undefined) changes.tiers = patch.tiers;
    if (patch.validFrom !== undefined) changes.valid_from = validFrom;
    if (patch.validUntil !== undefined) changes.valid_until = validUntil;
    if (patch.voucher !== undefined)
      changes.voucher_validity_days = patch.voucher?.validityDays ?? null;
    // An empty patch changes nothing, not even updatedAt.
    if (Object.keys(changes).length === 0)
      return { status: 'updated' as const, reward: fromRow(row) };
    const updated = await trx
      .updateTable('rewards')
      .set({ ...changes, updated_at: now })
      .where('program_id', '=', programId)
      .where('id', '=', rewardId)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { status: 'updated' as const, reward: fromRow(updated) };
  });
}

/** Archives a reward; archiving it again keeps the first archivedAt. */
export async function archiveReward(
  db: Kysely<Database>,
  programId: string,
  rewardId: string,
  now: Date,
): Promise<ArchiveRewardOutcome> {
  const row = await db
    .updateTable('rewards')
    .set({
      archived_at: sql<Date>`coalesce(archived_at, ${now.toISOString()}::timestamptz)`,
      updated_at: sql<Date>`CASE WHEN archived_at IS NULL THEN ${now.toISOString()}::timestamptz ELSE updated_at END`,
    })
    .where('program_id', '=', programId)
    .where('id', '=', rewardId)
    .returningAll()
    .executeTakeFirst();
  return row ? { status: 'archived', reward: fromRow(row) } : { status: 'not_found' };
}

/**
 * The rewards a member can redeem right now, cheapest first: not archived, inside their
 * validity window (validFrom inclusive, validUntil exclusive), allowed to the member's tier,
 * in stock, and under the member's limit (held and confirmed redemptions count). Rewards
 * the member cannot afford yet are included, flagged `affordable: false`, so a member sees
 * what to save for. At most MEMBER_REWARDS_MAX are considered.
 */
export async function listRewardsForMember(
  db: Kysely<Database>,
  programId: string,
  memberId: string,
  now: Date,
): Promise<MemberRewardsOutcome> {
  const member = await db
    .selectFrom('members')
    .select(['available', 'tier_id'])
    .where('program_id', '=', programId)
    .where('id', '=', memberId)
    .executeTakeFirst();
  if (!member) return { status: 'not_found' };
  const at = now.toISOString();
  const rows = await db
    .selectFrom('rewards as r')
    .selectAll('r')
    .where('r.program_id', '=', programId)
    .where('r.archived_at', 'is', null)
    .where((eb) =>
      eb.and([
        eb.or([
          eb('r.valid_from', 'is', null),
          eb('r.valid_from', '<=', sql<Date>`${at}::timestamptz`),
        ]),
        eb.or([
          eb('r.valid_until', 'is', null),
          eb('r.valid_until', '>', sql<Date>`${at}::timestamptz`),
        ]),
        eb.or([
          eb('r.tiers', 'is', null),
          member.tier_id === null
            ? sql<boolean>`false`
            : sql<boolean>`${member.tier_id}::text = ANY (r.tiers)`,
        ]),
        eb.or([eb('r.stock', 'is', null), eb('r.stock', '>', 0n)]),
        eb.or([
          eb('r.per_member_limit', 'is', null),
          sql<boolean>`(SELECT count(*) FROM redemptions d
            WHERE d.program_id = r.program_id AND d.member_id = ${memberId} AND d.reward_id = r.id
              AND d.status IN ('held', 'confirmed')) < r.per_member_limit`,
        ]),
      ]),
    )
    .orderBy('r.cost')
    .orderBy('r.id')
    .limit(MEMBER_REWARDS_MAX)
    .execute();
  return {
    status: 'listed',
    items: rows.map((row) => ({ ...fromRow(row), affordable: row.cost <= member.available })),
  };
}
