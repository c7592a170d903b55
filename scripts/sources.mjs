#!/usr/bin/env node
// Prints one group of sources.json, space-separated, for binding.gyp's <!@(...) expansion.
// Usage: node scripts/sources.mjs GROUP [GROUP...]
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lists = JSON.parse(readFileSync(join(root, 'sources.json'), 'utf8'));
const out = [];
for (const group of process.argv.slice(2)) {
  if (!Array.isArray(lists[group])) {
    console.error(`sources.mjs: unknown group "${group}"`);
    process.exit(1);
  }
  out.push(...lists[group]);
}
process.stdout.write(out.join(' '));
