// What publishing a draft would change, in the words a loyalty manager reads before publishing.
//
// Rules and tier levels are matched by their stable `id`, not by index: inserting a rule at the
// top must read as one added rule, not as every later rule having changed. Everything else is
// compared key by key down to the leaves, each change named by an RFC 6901 pointer. A changed
// list of plain values (currencies, a rule's event types, perks) is one change, because "EUR →
// EUR, CZK" reads better than a change per index. A key whose value is `undefined` counts as
// absent, as it would once the document is stored as JSON.
//
// A draft may be invalid, so the input is any JSON and nothing here throws on an odd shape:
// where the ids cannot be trusted (an item without a string id, a duplicate id) the list is
// compared index by index instead. Pure: no database, no HTTP. The `from`/`to` values in the
// result are the inputs' own values, not copies.

/** A change at one place; `from` is absent when the value was added, `to` when removed. */
export interface FieldChange {
  /** RFC 6901 pointer, from the document root or, inside a rule or level, from that item. */
  pointer: string;
  from?: unknown;
  to?: unknown;
}

/** A rule present in both documents whose content differs. */
export interface RuleChange {
  id: string;
  /** The name in the new document (the id when the rule has no name string). */
  name: string;
  /** Pointers relative to the rule, e.g. '/effect/factor'. */
  fields: FieldChange[];
}

/** A tier level present in both documents whose content differs; pointers relative to the level. */
export type TierLevelChange = RuleChange;

export interface RuleEntry {
  id: string;
  /** The rule's name, or its id when it has no name string. */
  name: string;
  /** Zero-based index: in the new document when added, in the old one when removed. */
  position: number;
  rule: unknown;
}

export interface TierLevelEntry {
  id: string;
  /** The level's name, or its id when it has no name string. */
  name: string;
  /** Zero-based index: in the new document when added, in the old one when removed. */
  position: number;
  level: unknown;
}

/** The ids common to both documents, in old and in new order. */
export interface OrderChange {
  from: string[];
  to: string[];
}

export interface ProgramDiff {
  identical: boolean;
  rules: {
    added: RuleEntry[];
    removed: RuleEntry[];
    /** In new-document order. */
    changed: RuleChange[];
    /** Whether the evaluation order of the rules common to both documents changed. */
    reordered: boolean;
    /** Present only when reordered. */
    order?: OrderChange;
  };
  tierLevels: {
    added: TierLevelEntry[];
    removed: TierLevelEntry[];
    /** In new-document order. */
    changed: TierLevelChange[];
    /** Whether the order of the levels common to both documents changed. */
    reordered: boolean;
    /** Present only when reordered. */
    order?: OrderChange;
  };
  /** Campaigns matched by id; a changed campaign's pointers are relative to it. */
  campaigns: KeyedSection<'campaign'>;
  /** Experiments matched by id; a changed experiment's pointers are relative to it. */
  experiments: KeyedSection<'experiment'>;
  /** Every other change, pointers from the document root: new-document order, then removed keys. */
  fields: FieldChange[];
}

/** A list matched by id, like the rules: entries carry the item under `key`. */
export interface KeyedSection<K extends string> {
  added: ({ id: string; name: string; position: number } & Record<K, unknown>)[];
  removed: ({ id: string; name: string; position: number } & Record<K, unknown>)[];
  changed: RuleChange[];
  reordered: boolean;
  order?: OrderChange;
}

/** Top-level lists matched by id, each reported in its own section. */
const KEYED_LISTS = { rules: 'rule', campaigns: 'campaign', experiments: 'experiment' } as const;

/**
 * A valid document nests about six levels deep. A draft nested deeper than this is reported as
 * one change at that depth, so arbitrary JSON cannot exhaust the stack.
 */
export const DIFF_NESTING_DEPTH_MAX = 64;

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isContainer(value: unknown): boolean {
  return typeof value === 'object' && value !== null;
}

/** Own properties only: a key such as `constructor` must not find the prototype's. */
function own(object: JsonObject, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

function presentKeys(object: JsonObject): string[] {
  return Object.keys(object).filter((key) => object[key] !== undefined);
}

function escapeToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

function change(pointer: string, from: unknown, to: unknown): FieldChange {
  const result: FieldChange = { pointer };
  if (from !== undefined) result.from = from;
  if (to !== undefined) result.to = to;
  return result;
}

/** Keys of `to` in its order, then the keys only `from` has, in its order. */
function keyPairs(from: JsonObject, to: JsonObject): [string, unknown, unknown][] {
  const pairs: [string, unknown, unknown][] = presentKeys(to).map((key) => [
    key,
    own(from, key),
    to[key],
  ]);
  for (const key of presentKeys(from)) {
    if (own(to, key) === undefined) pairs.push([key, from[key], undefined]);
  }
  return pairs;
}

/** JSON equality; iterative, so depth costs no stack. */
function sameJson(a: unknown, b: unknown): boolean {
  const pending: [unknown, unknown][] = [[a, b]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [x, y] = next;
    if (x === y || Object.is(x, y)) continue;
    if (Array.isArray(x) && Array.isArray(y)) {
      if (x.length !== y.length) return false;
      x.forEach((item, index) => pending.push([item, y[index]]));
      continue;
    }
    if (isObject(x) && isObject(y)) {
      const keys = presentKeys(x);
      if (keys.length !== presentKeys(y).length) return false;
      for (const key of keys) pending.push([x[key], own(y, key)]);
      continue;
    }
    return false;
  }
  return true;
}

function diffValues(
  from: unknown,
  to: unknown,
  pointer: string,
  depth: number,
  out: FieldChange[],
): void {
  if (from === undefined || to === undefined) {
    if (from !== to) out.push(change(pointer, from, to));
    return;
  }
  if (depth < DIFF_NESTING_DEPTH_MAX) {
    if (isObject(from) && isObject(to)) {
      for (const [key, a, b] of keyPairs(from, to)) {
        diffValues(a, b, `${pointer}/${escapeToken(key)}`, depth + 1, out);
      }
      return;
    }
    if (
      Array.isArray(from) &&
      Array.isArray(to) &&
      (from.some(isContainer) || to.some(isContainer))
    ) {
      diffItems(from, to, pointer, depth, out);
      return;
    }
  }
  if (!sameJson(from, to)) out.push(change(pointer, from, to));
}

/** Index by index: for lists of objects that have no id to match them by. */
function diffItems(
  from: unknown[],
  to: unknown[],
  pointer: string,
  depth: number,
  out: FieldChange[],
): void {
  const length = Math.max(from.length, to.length);
  for (let index = 0; index < length; index++) {
    const a = index < from.length ? from[index] : undefined;
    const b = index < to.length ? to[index] : undefined;
    diffValues(a, b, `${pointer}/${index}`, depth + 1, out);
  }
}

interface Item {
  id: string;
  name: string;
  position: number;
  value: JsonObject;
}

interface ItemsDiff {
  added: Item[];
  removed: Item[];
  changed: RuleChange[];
  order?: OrderChange;
}

/** Items by id, or undefined when an item has no string id or shares one with another. */
function itemsById(items: unknown[]): Map<string, Item> | undefined {
  const byId = new Map<string, Item>();
  for (const [position, value] of items.entries()) {
    if (!isObject(value)) return undefined;
    const id = own(value, 'id');
    if (typeof id !== 'string' || byId.has(id)) return undefined;
    const name = own(value, 'name');
    byId.set(id, { id, name: typeof name === 'string' ? name : id, position, value });
  }
  return byId;
}

function diffById(from: unknown[], to: unknown[], depth: number): ItemsDiff | undefined {
  const before = itemsById(from);
  const after = itemsById(to);
  if (before === undefined || after === undefined) return undefined;
  const result: ItemsDiff = { added: [], removed: [], changed: [] };
  for (const item of after.values()) {
    const old = before.get(item.id);
    if (old === undefined) {
      result.added.push(item);
      continue;
    }
    const fields: FieldChange[] = [];
    diffValues(old.value, item.value, '', depth + 1, fields);
    if (fields.length > 0) result.changed.push({ id: item.id, name: item.name, fields });
  }
  for (const item of before.values()) {
    if (!after.has(item.id)) result.removed.push(item);
  }
  const commonFrom = [...before.keys()].filter((id) => after.has(id));
  const commonTo = [...after.keys()].filter((id) => before.has(id));
  if (commonFrom.some((id, index) => commonTo[index] !== id)) {
    result.order = { from: commonFrom, to: commonTo };
  }
  return result;
}

/** A diff by id as its section of the result, each entry carrying its item under `key`. */
function keyedSection<K extends string>(items: ItemsDiff, key: K): KeyedSection<K> {
  const entry = ({ id, name, position, value }: Item) =>
    ({ id, name, position, [key]: value }) as KeyedSection<K>['added'][number];
  return {
    added: items.added.map(entry),
    removed: items.removed.map(entry),
    changed: items.changed,
    reordered: items.order !== undefined,
    ...(items.order && { order: items.order }),
  };
}

/**
 * The structured difference between two program documents, `from` the one in force and `to`
 * the draft. Never throws: any JSON is accepted, including invalid drafts.
 */
export function diffPrograms(from: unknown, to: unknown): ProgramDiff {
  const fields: FieldChange[] = [];
  const diff: ProgramDiff = {
    identical: false,
    rules: { added: [], removed: [], changed: [], reordered: false },
    tierLevels: { added: [], removed: [], changed: [], reordered: false },
    campaigns: { added: [], removed: [], changed: [], reordered: false },
    experiments: { added: [], removed: [], changed: [], reordered: false },
    fields,
  };

  if (isObject(from) && isObject(to)) {
    for (const [key, a, b] of keyPairs(from, to)) {
      const pointer = `/${escapeToken(key)}`;
      if (Object.hasOwn(KEYED_LISTS, key) && Array.isArray(a) && Array.isArray(b)) {
        const section = key as keyof typeof KEYED_LISTS;
        const entryKey = KEYED_LISTS[section];
        const items = diffById(a, b, 1);
        if (items === undefined) {
          diffValues(a, b, pointer, 1, fields);
        } else {
          diff[section] = keyedSection(items, entryKey) as never;
        }
      } else if (key === 'tiers' && isObject(a) && isObject(b)) {
        for (const [tierKey, c, d] of keyPairs(a, b)) {
          const at = `${pointer}/${escapeToken(tierKey)}`;
          const levels =
            tierKey === 'levels' && Array.isArray(c) && Array.isArray(d)
              ? diffById(c, d, 2)
              : undefined;
          if (levels === undefined) {
            diffValues(c, d, at, 2, fields);
          } else {
            diff.tierLevels = keyedSection(levels, 'level');
          }
        }
      } else {
        diffValues(a, b, pointer, 1, fields);
      }
    }
  } else {
    diffValues(from, to, '', 0, fields);
  }

  const sections = [diff.rules, diff.tierLevels, diff.campaigns, diff.experiments];
  diff.identical =
    fields.length === 0 &&
    sections.every(
      (section) =>
        section.added.length === 0 &&
        section.removed.length === 0 &&
        section.changed.length === 0 &&
        !section.reordered,
    );
  return diff;
}
