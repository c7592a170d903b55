/**
 * Loads the native addon once: a prebuilt binary from prebuilds/ or a source build in
 * build/Release (node-gyp-build decides). When nothing loads, the error lists the platform,
 * what was tried and the remedies.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GptNeoError } from '../errors.js';
import type { NativeAddon } from './types.js';

const require = createRequire(import.meta.url);
/** The package root: dist/lib/native → three levels up. */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

let cached: NativeAddon | undefined;

function libcName(): string {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const glibc = report?.header?.glibcVersionRuntime;
  return glibc ? `glibc ${glibc}` : process.platform === 'linux' ? 'musl or unknown libc' : 'n/a';
}

export function loadNative(): NativeAddon {
  cached ??= loadNativeFrom(packageRoot);
  return cached;
}

/** Loads the addon of the package rooted at `root` (exported for the loader-failure test). */
export function loadNativeFrom(root: string): NativeAddon {
  try {
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    return nodeGypBuild(root) as NativeAddon;
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new GptNeoError('ERR_GPTNEO_NATIVE_LOAD',
      `Could not load the gpt-neo-node native addon for ${process.platform}-${process.arch} ` +
      `(${libcName()}, Node ${process.version}, N-API). Tried prebuilds/${process.platform}-${process.arch}/ ` +
      `and build/Release/ under ${root}: ${reason.split('\n')[0]}`,
      {
        hint: 'reinstall the package (npm install gpt-neo-node) so a prebuilt binary is used; on other ' +
          'platforms build from source with a C++17 compiler and Python (npm rebuild gpt-neo-node), ' +
          'or set GPTNEO_CUDA=0 to build without CUDA',
        cause: e,
      });
  }
}
