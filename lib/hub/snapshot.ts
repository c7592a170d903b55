/**
 * Brings one repo revision into the cache as a snapshot directory, or finds it there.
 *
 * Cache policy:
 * - A snapshot is complete when it has every required file and every optional file is either present
 *   or recorded as absent (`.no_exist`). `resolveModelSource` returns a complete snapshot of a branch
 *   (via refs/<revision>) without any request; `downloadModel` asks the Hub for the branch's current
 *   commit first. A commit-sha revision never changes, so a complete snapshot of it is always used as is.
 * - Offline (offline: true or HF_HUB_OFFLINE=1), no request is made; a snapshot with the required files
 *   is used even when optional tokenizer files were never fetched.
 * - Online but the Hub is unreachable: like huggingface_hub, a cached snapshot with the required files
 *   for that revision is used instead of failing.
 */
import { GptNeoError, isGptNeoError } from '../errors.js';
import { ensureBlob } from './blob-download.js';
import {
  isMarkedMissing, linkSnapshotFile, markMissing, readRef, repoCache, snapshotDir, snapshotHasFile, writeRef,
  type RepoCache,
} from './cache-layout.js';
import { fetchFileMetadata, resolveUrl } from './file-metadata.js';
import type { RequestContext } from './http.js';
import { OPTIONAL_FILES, REQUIRED_FILES } from './model-files.js';
import { isCommitSha } from './repo-id.js';
import { planRepoFiles } from './repo-plan.js';
import type { HubSettings } from './settings.js';

type CacheState = 'complete' | 'usable' | 'absent';

async function snapshotState(rc: RepoCache, commit: string): Promise<CacheState> {
  for (const file of REQUIRED_FILES) if (!(await snapshotHasFile(rc, commit, file))) return 'absent';
  for (const file of OPTIONAL_FILES) {
    if (!(await snapshotHasFile(rc, commit, file)) && !(await isMarkedMissing(rc, commit, file))) return 'usable';
  }
  return 'complete';
}

function offlineError(s: HubSettings, repoId: string): GptNeoError {
  return new GptNeoError('ERR_GPTNEO_HUB_OFFLINE',
    `${repoId} (revision ${s.revision}) is not in the Hub cache at ${s.cacheDir}, and offline mode is on`, {
      hint: `download it once while online (gpt-neo download ${repoId}), point HF_HUB_CACHE to a cache that has it, `
        + 'or pass a local model directory',
    });
}

/** A filesystem failure (unwritable cache, disk full) becomes ERR_GPTNEO_IO; other errors pass through. */
function asCacheError(s: HubSettings, e: unknown): unknown {
  const { code, syscall } = (e ?? {}) as NodeJS.ErrnoException;
  if (e instanceof GptNeoError || typeof syscall !== 'string') return e;
  return new GptNeoError('ERR_GPTNEO_IO', `Could not write to the Hub cache at ${s.cacheDir}: ${(e as Error).message}`, {
    hint: code === 'ENOSPC' ? 'free some disk space, or set HF_HUB_CACHE (or cacheDir) to a larger disk'
      : 'set HF_HUB_CACHE (or cacheDir) to a writable directory',
    cause: e,
  });
}

/** Downloads the wanted files of the revision into the cache; returns the snapshot directory. */
async function downloadSnapshot(s: HubSettings, rc: RepoCache, repoId: string): Promise<string> {
  const ctx: RequestContext = { repoId, revision: s.revision };
  const plan = await planRepoFiles(s, ctx);
  for (const file of plan.present) {
    if (await snapshotHasFile(rc, plan.commit, file)) continue; // a commit never changes
    const fileCtx = { ...ctx, file };
    const meta = plan.known.get(file) ?? await fetchFileMetadata(s, fileCtx, plan.commit);
    if (meta === 'missing') {
      if (REQUIRED_FILES.includes(file)) {
        throw new GptNeoError('ERR_GPTNEO_HUB_NOT_FOUND', `${file} of ${repoId} is listed by the Hub but could not be found`);
      }
      await markMissing(rc, plan.commit, file);
      continue;
    }
    await ensureBlob(s, rc, fileCtx, meta, resolveUrl(s, repoId, plan.commit, file));
    await linkSnapshotFile(rc, plan.commit, file, meta.etag);
  }
  for (const file of plan.absent) await markMissing(rc, plan.commit, file);
  if (s.revision !== plan.commit) await writeRef(rc, s.revision, plan.commit);
  return snapshotDir(rc, plan.commit);
}

/**
 * The snapshot directory of `repoId` at `s.revision`, from the cache or downloaded.
 * @param preferCache use a complete cached snapshot of a branch without asking the Hub for updates.
 */
export async function fetchSnapshot(s: HubSettings, repoId: string, preferCache: boolean): Promise<string> {
  const rc = repoCache(s.cacheDir, repoId);
  const cachedCommit = isCommitSha(s.revision) ? s.revision : await readRef(rc, s.revision);
  const state = cachedCommit ? await snapshotState(rc, cachedCommit) : 'absent';
  const cachedDir = cachedCommit ? snapshotDir(rc, cachedCommit) : '';
  if (state === 'complete' && (preferCache || s.offline || cachedCommit === s.revision)) return cachedDir;
  if (s.offline) {
    if (state === 'usable') return cachedDir;
    throw offlineError(s, repoId);
  }
  try {
    return await downloadSnapshot(s, rc, repoId);
  } catch (e) {
    if (state !== 'absent' && isGptNeoError(e, 'ERR_GPTNEO_HUB_UNREACHABLE')) return cachedDir;
    throw asCacheError(s, e);
  }
}
