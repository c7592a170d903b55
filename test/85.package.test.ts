// Packaging: the npm tarball carries a prebuilt addon, so installing it runs no compiler and
// downloads nothing. The test packs the repository, installs the tarball (with its two runtime
// dependencies, packed from node_modules) offline into a temporary project whose PATH holds only node
// and npm, loads the package and runs a fixture model.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as requireBinding from '../lib/native/binding.js';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fixture, repoRoot } from './helpers/paths.js';

const prebuildDir = join(repoRoot, 'prebuilds', `${process.platform}-${process.arch}`);

/** The newest modification time (ms) of the files a prebuild is made from. */
function newestSource(): number {
  let newest = 0;
  const visit = (path: string): void => {
    const st = statSync(path);
    if (st.isDirectory()) for (const f of readdirSync(path)) visit(join(path, f));
    else newest = Math.max(newest, st.mtimeMs);
  };
  for (const f of ['package.json', 'binding.gyp', 'sources.json', 'csrc', 'scripts']) visit(join(repoRoot, f));
  return newest;
}

/**
 * Builds prebuilds/ in a scratch copy of the sources (never touching the repo's loaded build/); a prebuild
 * older than any of those sources is made again (else a local run would judge a stale binary).
 */
function ensurePrebuild(): string {
  let existing = existsSync(prebuildDir) ? readdirSync(prebuildDir).filter((f) => f.endsWith('.node')) : [];
  if (existing.some((f) => statSync(join(prebuildDir, f)).mtimeMs < newestSource())) {
    rmSync(prebuildDir, { recursive: true, force: true });
    existing = [];
  }
  if (existing.length > 0) return join(prebuildDir, existing[0]!);
  const scratch = mkdtempSync(join(tmpdir(), 'gpt-neo-prebuild-'));
  for (const f of ['package.json', 'binding.gyp', 'sources.json', 'csrc', 'scripts']) cpSync(join(repoRoot, f), join(scratch, f), { recursive: true });
  symlinkSync(join(repoRoot, 'node_modules'), join(scratch, 'node_modules'));
  execFileSync('npm', ['run', 'prebuild'], { cwd: scratch, stdio: 'inherit', env: { ...process.env, JOBS: '2' } });
  mkdirSync(prebuildDir, { recursive: true });
  for (const f of readdirSync(join(scratch, 'prebuilds', `${process.platform}-${process.arch}`))) {
    cpSync(join(scratch, 'prebuilds', `${process.platform}-${process.arch}`, f), join(prebuildDir, f));
  }
  rmSync(scratch, { recursive: true, force: true });
  return ensurePrebuild();
}

describe('85 package: npm pack + install with no compiler', function () {
  this.timeout(15 * 60 * 1000);
  let work: string;
  before(() => { work = mkdtempSync(join(tmpdir(), 'gpt-neo-pack-')); });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('the prebuild is a stripped N-API binary under the size limit', () => {
    const file = ensurePrebuild();
    const { size } = statSync(file);
    assert.ok(size < 25 * 1024 * 1024, `prebuild is ${(size / 2 ** 20).toFixed(1)} MiB`);
    assert.equal(readFileSync(file).subarray(0, 4).toString('latin1'), '\x7fELF');
    // With CUDA compiled in, the GPU code must survive --strip (it lives in .nv_fatbin).
    const { loadNative } = requireBinding;
    if (loadNative().buildInfo().cuda) {
      const sections = execFileSync('readelf', ['-S', file], { encoding: 'utf8' });
      assert.match(sections, /\.nv_fatbin/, 'the stripped prebuild lost its CUDA kernels');
      // Where nvcc can compress the fatbinary (CUDA 12.8+), the build asks it to (scripts/cuda-detect.mjs
      // nvccflags): 4.4 MiB compressed against 24.6 uncompressed at session 14's kernels. 12 MiB catches a
      // build that lost the flag with room for growth.
      const flags = execFileSync(process.execPath, [join(repoRoot, 'scripts', 'cuda-detect.mjs'), 'nvccflags'], { encoding: 'utf8' });
      if (flags.includes('--compress-mode=size')) {
        assert.ok(size < 12 * 1024 * 1024, `prebuild is ${(size / 2 ** 20).toFixed(1)} MiB: is its fatbinary compressed?`);
      }
    }
  });

  it('installs from the tarball with no compiler on PATH, loads, and runs a fixture model', () => {
    ensurePrebuild();
    const packOut = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work],
      { cwd: repoRoot, encoding: 'utf8' });
    const tarball = join(work, (JSON.parse(packOut) as Array<{ filename: string }>)[0]!.filename);
    const files = (JSON.parse(packOut) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    assert.ok(files.some((f) => f.startsWith('prebuilds/linux-x64/')), 'tarball has no prebuild');
    assert.ok(files.includes('dist/lib/index.js') && files.includes('dist/lib/index.d.ts'));
    assert.ok(!files.some((f) => f.startsWith('build/') || f.startsWith('dist/test/') || f.startsWith('node_modules/')));

    // A PATH with node, npm and sh only: any attempt to run a compiler, make or python would fail.
    const bin = join(work, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    symlinkSync('/bin/sh', join(bin, 'sh'));  // npm runs lifecycle scripts through sh
    const npmCli = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
    writeFileSync(join(bin, 'npm'), `#!/bin/sh\nexec "${process.execPath}" "${npmCli}" "$@"\n`, { mode: 0o755 });
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', private: true }));
    const env = { HOME: process.env.HOME ?? work, PATH: bin, npm_config_offline: 'true', npm_config_audit: 'false',
      npm_config_fund: 'false', npm_config_update_notifier: 'false' };
    // The runtime dependencies come as tarballs packed from this checkout's node_modules, installed beside
    // the package: offline, npm then needs nothing from the registry or its cache (a cache filled by
    // `npm ci` need not hold the metadata `npm install` asks for).
    const deps = Object.keys((JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as
      { dependencies: Record<string, string> }).dependencies);
    const depsOut = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work,
      ...deps.map((d) => join(repoRoot, 'node_modules', d))], { cwd: work, encoding: 'utf8' });
    const depTarballs = (JSON.parse(depsOut) as Array<{ filename: string }>).map((d) => join(work, d.filename));
    assert.equal(depTarballs.length, deps.length);
    execFileSync(join(bin, 'npm'), ['install', tarball, ...depTarballs], { cwd: app, env, stdio: 'pipe' });
    const installed = join(app, 'node_modules', 'gpt-neo-node');
    assert.ok(!existsSync(join(installed, 'build')), 'a build/ folder appeared: something was compiled');

    writeFileSync(join(app, 'run.mjs'), `
      import { loadModel, devices } from 'gpt-neo-node';
      const model = await loadModel(${JSON.stringify(fixture('tiny-neo-gpt2vocab'))}, { device: 'auto' });
      const out = await model.generate('The quick brown fox', { maxNewTokens: 5, temperature: 0 });
      console.log(JSON.stringify({ device: model.device, n: out.tokenIds.length, cpu: devices()[0].simd }));
      await model.dispose();`);
    const result = JSON.parse(execFileSync(join(bin, 'node'), ['run.mjs'], { cwd: app, env, encoding: 'utf8' })) as
      { device: string; n: number };
    assert.equal(result.n, 5);
    assert.equal(result.device, 'cpu', "device 'auto' falls back to the CPU where no GPU is usable");
  });
});
