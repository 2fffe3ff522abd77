import { defineConfig } from 'vitest/config';

// One suite, two passes: on the embedded database (default) and, with DATABASE_URL, on a
// PostgreSQL server. A test that needs a server is named *.pg.test.ts and runs only in the
// server pass; one about the embedded data directory is *.embedded.test.ts. Nothing is
// skipped at run time.
const onPostgres = Boolean(process.env.DATABASE_URL);

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: [
      'node_modules/**',
      onPostgres ? 'test/**/*.embedded.test.ts' : 'test/**/*.pg.test.ts',
    ],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
