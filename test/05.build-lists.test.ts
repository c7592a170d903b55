// The two build paths (node-gyp's binding.gyp and cmake-js's CMakeLists.txt) compile one list of
// sources, sources.json. These checks keep that list complete and both build files reading it.
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from './helpers/paths.js';

const lists = JSON.parse(readFileSync(join(repoRoot, 'sources.json'), 'utf8')) as Record<string, string[] | string>;
const groups = Object.entries(lists).filter(([k]) => k !== '//') as Array<[string, string[]]>;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [relative(repoRoot, p)];
  });
}

describe('05 build lists: binding.gyp and CMakeLists.txt share sources.json', () => {
  it('every listed file exists and is listed once', () => {
    const seen = new Set<string>();
    for (const [group, files] of groups) {
      for (const f of files) {
        assert.ok(existsSync(join(repoRoot, f)), `${group}: ${f} does not exist`);
        assert.ok(!seen.has(f), `${f} is listed twice`);
        seen.add(f);
      }
    }
  });

  it('every C++/CUDA translation unit under csrc/ is in some group', () => {
    const listed = new Set(groups.flatMap(([, files]) => files));
    const units = walk(join(repoRoot, 'csrc')).filter((f) => /\.(cpp|cu)$/.test(f));
    const missing = units.filter((f) => !listed.has(f));
    assert.deepEqual(missing, [], 'sources not in sources.json would silently drop out of both builds');
  });

  it('binding.gyp reads each compiled group through scripts/sources.mjs', () => {
    const gyp = readFileSync(join(repoRoot, 'binding.gyp'), 'utf8');
    for (const group of ['core', 'cpu', 'cpu_avx2', 'cpu_avx512', 'cpu_amx', 'model', 'napi', 'cuda']) {
      assert.match(gyp, new RegExp(`sources\\.mjs[^"]*\\b${group}\\b`), `binding.gyp does not compile group ${group}`);
    }
    assert.doesNotMatch(gyp, /csrc\/[\w/]+\.(cpp|cu)/, 'binding.gyp names a source file directly instead of via sources.json');
  });

  it('CMakeLists.txt reads each group from sources.json', () => {
    const cmake = readFileSync(join(repoRoot, 'CMakeLists.txt'), 'utf8');
    assert.match(cmake, /file\(READ "\$\{CMAKE_CURRENT_SOURCE_DIR\}\/sources\.json"/);
    for (const group of ['core', 'cpu', 'cpu_avx2', 'cpu_avx512', 'cpu_amx', 'model', 'napi', 'cuda', 'native_tests']) {
      assert.match(cmake, new RegExp(`gn_sources\\(${group}\\b`), `CMakeLists.txt does not read group ${group}`);
    }
    assert.doesNotMatch(cmake, /csrc\/[\w/]+\.(cpp|cu)\b/, 'CMakeLists.txt names a source file directly');
  });
});
