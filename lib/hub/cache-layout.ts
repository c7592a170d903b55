/**
 * The Hugging Face cache layout, shared with Python's huggingface_hub:
 *
 *   <cacheDir>/models--{owner}--{name}/
 *     blobs/<etag>                          file contents, named by sha256 (LFS) or git sha1
 *     snapshots/<commit>/<file>             relative symlink to ../../blobs/<etag>
 *     refs/<revision>                       the commit sha the branch or tag pointed to
 *     .no_exist/<commit>/<file>             empty marker: the file does not exist at that commit
 *   <cacheDir>/.locks/models--{owner}--{name}/<etag>.node.lock   held while this library downloads a blob
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { isCommitSha } from './repo-id.js';

export interface RepoCache {
  /** `<cacheDir>/models--owner--name` */
  root: string;
}

/** The cache folder of a (validated) model repo id. */
export function repoCache(cacheDir: string, repoId: string): RepoCache {
  return { root: join(cacheDir, `models--${repoId.split('/').join('--')}`) };
}

export const blobPath = (rc: RepoCache, etag: string): string => join(rc.root, 'blobs', etag);
export const incompleteBlobPath = (rc: RepoCache, etag: string): string => `${blobPath(rc, etag)}.incomplete`;
export const snapshotDir = (rc: RepoCache, commit: string): string => join(rc.root, 'snapshots', commit);
export const blobLockPath = (rc: RepoCache, etag: string): string =>
  join(dirname(rc.root), '.locks', basename(rc.root), `${etag}.node.lock`);
const refPath = (rc: RepoCache, revision: string): string => join(rc.root, 'refs', revision);
const noExistPath = (rc: RepoCache, commit: string, file: string): string => join(rc.root, '.no_exist', commit, file);

const tempSuffix = (): string => `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;

async function exists(path: string, kind: 'file' | 'dir'): Promise<boolean> {
  try {
    const s = await stat(path); // follows symlinks: a dangling snapshot link counts as absent
    return kind === 'file' ? s.isFile() : s.isDirectory();
  } catch {
    return false;
  }
}

export const isFile = (path: string): Promise<boolean> => exists(path, 'file');
export const isDirectory = (path: string): Promise<boolean> => exists(path, 'dir');

/** The commit sha `refs/<revision>` points to, or undefined when absent or malformed. */
export async function readRef(rc: RepoCache, revision: string): Promise<string | undefined> {
  try {
    const sha = (await readFile(refPath(rc, revision), 'utf8')).trim();
    return isCommitSha(sha) ? sha : undefined;
  } catch {
    return undefined;
  }
}

/** Records (atomically) that `revision` points to `commit`. */
export async function writeRef(rc: RepoCache, revision: string, commit: string): Promise<void> {
  const path = refPath(rc, revision);
  await mkdir(dirname(path), { recursive: true });
  const tmp = path + tempSuffix();
  await writeFile(tmp, commit);
  await rename(tmp, path);
}

/** True when the snapshot has `file` (a link to an existing blob, or a plain file). */
export const snapshotHasFile = (rc: RepoCache, commit: string, file: string): Promise<boolean> =>
  isFile(join(snapshotDir(rc, commit), file));

/** Links `snapshots/<commit>/<file>` to `blobs/<etag>`, replacing any previous entry atomically. */
export async function linkSnapshotFile(rc: RepoCache, commit: string, file: string, etag: string): Promise<void> {
  const target = join(snapshotDir(rc, commit), file);
  await mkdir(dirname(target), { recursive: true });
  const tmp = target + tempSuffix();
  try {
    await symlink(relative(dirname(target), blobPath(rc, etag)), tmp);
  } catch (e) {
    // No symlink permission (Windows without developer mode): keep a copy, as huggingface_hub does.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
    await copyFile(blobPath(rc, etag), tmp);
  }
  await rename(tmp, target);
}

/** Records that `file` does not exist in the repo at `commit`. */
export async function markMissing(rc: RepoCache, commit: string, file: string): Promise<void> {
  const path = noExistPath(rc, commit, file);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, '');
}

export const isMarkedMissing = (rc: RepoCache, commit: string, file: string): Promise<boolean> =>
  isFile(noExistPath(rc, commit, file));

/** Removes a file if present. */
export async function removeFile(path: string): Promise<void> {
  await rm(path, { force: true });
}
