// Rows sent to a write statement as one delimited text per column (src/db/columns.ts): what
// goes in comes out, row for row and typed, including the edge cases of the encoding.
// Real: the database of this file.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { columns, type ColumnSpec } from '../src/db/columns.ts';
import { startTestApp, type TestApp } from './support/app.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

interface Row {
  name: string | null;
  doc: unknown;
  n: bigint | null;
  flag: boolean | null;
  at: Date | null;
  tags: string[] | null;
}

const spec: ColumnSpec<Row> = {
  name: ['text', (r) => r.name],
  doc: ['json', (r) => r.doc],
  n: ['bigint', (r) => r.n],
  flag: ['boolean', (r) => r.flag],
  at: ['timestamptz', (r) => r.at],
  tags: ['text[]', (r) => r.tags],
};

async function roundTrip(rows: Row[]) {
  const result = await sql<{
    name: string | null;
    doc: string | null;
    n: bigint | null;
    flag: boolean | null;
    at: Date | null;
    tags: string[] | null;
  }>`SELECT name, doc::text AS doc, n, flag, at, tags
    FROM ${columns('r', rows, spec)}`.execute(t.handle.db);
  return result.rows.map((r) => ({
    name: r.name,
    doc: r.doc === null ? null : (JSON.parse(r.doc) as unknown),
    n: r.n === null ? null : BigInt(r.n),
    flag: r.flag,
    at: r.at === null ? null : new Date(r.at),
    tags: r.tags,
  }));
}

const row = (over: Partial<Row> = {}): Row => ({
  name: 'a',
  doc: { a: 1 },
  n: 1n,
  flag: true,
  at: new Date('2026-06-15T10:00:00.123Z'),
  tags: ['x'],
  ...over,
});

describe('rows as delimited columns', () => {
  it('yields no rows for no rows', async () => {
    expect(await roundTrip([])).toEqual([]);
  });

  it('keeps a single row of empty values: an empty text, an empty JSON string and an empty array', async () => {
    const rows = [row({ name: '', doc: '', tags: [] })];
    expect(await roundTrip(rows)).toEqual(rows);
  });

  it('tells NULL from an empty string in every position', async () => {
    const nulls = row({ name: null, doc: null, n: null, flag: null, at: null, tags: null });
    const rows = [nulls, row({ name: '' }), nulls, row({ name: 'last' })];
    expect(await roundTrip(rows)).toEqual(rows);
  });

  it('carries documents whose strings hold the separators, quotes and non-ASCII text', async () => {
    const doc = { s: 'a\u001eb\u001fc"d\\e\n', nested: [{ x: 'žluťoučký 🐎' }], n: 1.5 };
    expect(await roundTrip([row({ doc }), row({ doc: [doc, null] })])).toEqual([
      row({ doc }),
      row({ doc: [doc, null] }),
    ]);
  });

  it('carries array elements with commas, quotes, backslashes, braces and spaces', async () => {
    const tags = ['a,b', 'say "hi"', 'back\\slash', '{x}', ' lead', 'NULL', ''];
    expect(await roundTrip([row({ tags })])).toEqual([row({ tags })]);
  });

  it('keeps bigints to the ends of their range and instants to the millisecond', async () => {
    const rows = [
      row({ n: 9_223_372_036_854_775_807n, at: new Date('1970-01-01T00:00:00.001Z') }),
      row({ n: -9_223_372_036_854_775_808n, at: new Date('2099-12-31T23:59:59.999Z') }),
      row({ at: new Date('1969-12-31T23:59:59.999Z') }),
      row({ at: new Date('2250-06-30T12:34:56.789Z') }),
    ];
    expect(await roundTrip(rows)).toEqual(rows);
  });

  it('keeps 1,000 rows in order', async () => {
    const rows = Array.from({ length: 1000 }, (_, i) => row({ name: `r${i}`, n: BigInt(i) }));
    expect(await roundTrip(rows)).toEqual(rows);
  });

  it('refuses text holding a separator rather than shift the rows after it', () => {
    expect(() => columns('r', [row({ name: 'a\u001eb' })], spec)).toThrow(
      /r.name of row 0: .*control character/,
    );
    expect(() => columns('r', [row({ tags: ['a\u001fb'] })], spec)).toThrow(
      /r.tags of row 0: .*control character/,
    );
  });

  it('takes instants only as dates, not as text it would have to guess the zone of', () => {
    expect(() =>
      columns('r', [row({ at: '2026-06-15T10:00:00Z' as unknown as Date })], spec),
    ).toThrow(/Date values/);
  });

  it('refuses names that are not plain SQL identifiers', () => {
    expect(() => columns('r; DROP', [], spec)).toThrow(/invalid SQL name/);
    expect(() => columns('r', [], { 'a b': ['text', () => 'x'] } as ColumnSpec<unknown>)).toThrow(
      /invalid SQL name/,
    );
  });
});
