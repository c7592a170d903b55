// Locations tests share: the repository root and the read-only fixtures beside it.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Compiled tests live in dist/test/helpers; the repository root is three levels up.
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
// GPTNEO_FIXTURES overrides the location (the GPU machine gets a copy inside the work tree).
export const fixturesDir = process.env.GPTNEO_FIXTURES ?? join(repoRoot, '..', 'shared', 'fixtures');
export const fixture = (...parts: string[]): string => join(fixturesDir, ...parts);
