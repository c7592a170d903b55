#!/usr/bin/env node
// Finds the CUDA toolkit for binding.gyp (the nvcc on PATH may be a wrapper script, so the
// toolkit root comes from CUDA_PATH / CUDA_HOME, /usr/local/cuda, or `nvcc --dryrun`'s TOP=).
// Usage: node scripts/cuda-detect.mjs enabled|root|libdir|nvccflags
//   enabled: "1" when a toolkit with a static runtime is found and GPTNEO_CUDA is not "0"
//            (GPTNEO_CUDA=1 makes a missing toolkit an error), else "0".
//   root:    the toolkit root ("" when none);  libdir: the folder of libcudart_static.a.
//   nvccflags: "--compress-mode=size" when that nvcc has the option (CUDA 12.8+), else "": the
//            kernels' fatbinary compressed for size (about 10x smaller than nvcc's default mode;
//            the driver decompresses it when the module loads).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

function fromDryrun() {
  try {
    const out = execFileSync('nvcc', ['--dryrun', '-x', 'cu', '-c', '/dev/null', '-o', '/dev/null'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return out;
  } catch (err) {
    return `${err.stdout ?? ''}${err.stderr ?? ''}`;
  }
}

function candidates() {
  const list = [process.env.CUDA_PATH, process.env.CUDA_HOME, '/usr/local/cuda'].filter(Boolean);
  const top = /TOP=(\S+)/.exec(fromDryrun());
  if (top) list.push(resolve(top[1]));
  return list;
}

function libdirOf(root) {
  for (const d of ['lib64', 'targets/x86_64-linux/lib', 'lib']) {
    if (existsSync(join(root, d, 'libcudart_static.a'))) return join(root, d);
  }
  return '';
}

function findRoot() {
  if (process.env.GPTNEO_CUDA === '0') return '';
  for (const root of candidates()) {
    if (existsSync(join(root, 'bin', 'nvcc')) && libdirOf(root)) return root;
  }
  return '';
}

// Whether `root`'s nvcc lists `option` in its help.
function nvccHas(root, option) {
  try {
    return execFileSync(join(root, 'bin', 'nvcc'), ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .includes(option);
  } catch {
    return false;
  }
}

const what = process.argv[2];
const root = findRoot();
if (!root && process.env.GPTNEO_CUDA === '1') {
  console.error('cuda-detect: GPTNEO_CUDA=1 but no CUDA toolkit (bin/nvcc + libcudart_static.a) was found; set CUDA_PATH');
  process.exit(1);
}
if (what === 'enabled') process.stdout.write(root ? '1' : '0');
else if (what === 'root') process.stdout.write(root);
else if (what === 'libdir') process.stdout.write(root ? libdirOf(root) : '');
else if (what === 'nvccflags') process.stdout.write(root && nvccHas(root, '--compress-mode') ? '--compress-mode=size' : '');
else {
  console.error('usage: node scripts/cuda-detect.mjs enabled|root|libdir|nvccflags');
  process.exit(2);
}
