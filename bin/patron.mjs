#!/usr/bin/env node
// The `patron` CLI. Patron runs its TypeScript sources through tsx, so there is no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv.slice(2), process.env);
