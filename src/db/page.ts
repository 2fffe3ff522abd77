// Keyset pages: a list reads one row more than it shows, so it knows whether another page
// follows without counting.

/** How many rows a page shows: what was asked for, at least 1 and at most `max`. */
export function pageSize(asked: number, max: number): number {
  return Math.min(Math.max(1, asked), max);
}

/**
 * The page of `rows` (read with LIMIT size + 1) and the key of its last row when more
 * follow, which the next page starts after.
 */
export function pageOf<T, K>(
  rows: T[],
  size: number,
  key: (row: T) => K,
): { page: T[]; next: K | null } {
  const page = rows.slice(0, size);
  const last = page.at(-1);
  return { page, next: rows.length > size && last !== undefined ? key(last) : null };
}
