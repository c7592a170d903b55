/**
 * A lock file per blob download (holding the owner's pid), so that two loads of the same model, in one
 * process or several on this machine, never write the same `.incomplete` file at once. A lock whose
 * owner process has died is taken over. (Python's huggingface_hub uses its own flock-based files;
 * the two do not see each other's locks.)
 */
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GptNeoError } from '../errors.js';

const POLL_MS = 50;
/** A lock file still empty after this long was left by a process that died while creating it. */
const EMPTY_LOCK_STALE_MS = 10_000;

export interface BlobLock {
  release(): Promise<void>;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function ownerAlive(path: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return false; // released meanwhile
  }
  if (text.trim() === '') { // being written this instant, or abandoned half-made
    try {
      return Date.now() - (await stat(path)).mtimeMs < EMPTY_LOCK_STALE_MS;
    } catch {
      return false;
    }
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 && processAlive(pid);
}

/** Waits until this caller holds the lock at `path`. */
export async function acquireBlobLock(path: string, signal: AbortSignal | undefined): Promise<BlobLock> {
  await mkdir(dirname(path), { recursive: true });
  for (;;) {
    if (signal?.aborted) throw new GptNeoError('ERR_GPTNEO_ABORTED', 'Hub download aborted', { cause: signal.reason });
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return { release: () => rm(path, { force: true }) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (!(await ownerAlive(path))) {
      await rm(path, { force: true });
      continue;
    }
    await sleep(POLL_MS);
  }
}
