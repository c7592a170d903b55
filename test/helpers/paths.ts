// Locations tests share: the repository root and the read-only fixtures beside it.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Compiled tests live in dist/test/helpers; the repository root is three levels up.
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const fixturesDir = join(repoRoot, '..', 'shared', 'fixtures');
export const fixture = (...parts: string[]): string => join(fixturesDir, ...parts);
