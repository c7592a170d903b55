/**
 * Downloads one blob into the cache with resume and integrity checks:
 * bytes stream to `blobs/<etag>.incomplete` (resumed with `Range: bytes=N-` when that file exists),
 * the size and, for LFS files, the sha256 are checked, then the file is renamed to `blobs/<etag>`.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GptNeoError } from '../errors.js';
import { acquireBlobLock } from './blob-lock.js';
import { blobLockPath, blobPath, incompleteBlobPath, isFile, removeFile, type RepoCache } from './cache-layout.js';
import type { FileMetadata } from './file-metadata.js';
import { discardBody, httpError, hubFetch, throwIfAborted, type RequestContext } from './http.js';
import { ProgressReporter } from './progress.js';
import type { HubSettings } from './settings.js';

/** Attempts per blob; a new attempt is made only after one that made progress (or needs a restart). */
const MAX_ATTEMPTS = 5;
const SHA256 = /^[0-9a-f]{64}$/;

/** A broken transfer: resumable when it received bytes. */
class Interrupted extends Error {
  constructor(readonly reason: string, readonly loaded: number, readonly madeProgress: boolean, override readonly cause?: unknown) {
    super(reason);
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function hashExisting(hash: Hash, path: string): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/** Start offset of a 206 response (`Content-Range: bytes N-M/T`), or undefined. */
function rangeStart(res: Response): number | undefined {
  const m = /^bytes\s+(\d+)-/.exec(res.headers.get('content-range') ?? '');
  return m ? Number(m[1]) : undefined;
}

interface Transfer { loaded: number; digest: string | undefined }

/** One GET: appends to (or restarts) the partial file; returns the bytes on disk and the sha256 if computed. */
async function transferOnce(s: HubSettings, ctx: RequestContext, url: string, partial: string,
  meta: FileMetadata, progress: ProgressReporter): Promise<Transfer> {
  let offset = await fileSize(partial);
  if (meta.size !== undefined && offset >= meta.size) offset = 0; // nothing left to fetch: the partial is suspect
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  const req = await hubFetch(s, url, { method: 'GET', headers, redirect: 'follow' });
  const res = req.response;
  if (res.status === 416 || (res.status === 206 && rangeStart(res) !== offset)) {
    req.finish();
    discardBody(res);
    await removeFile(partial);
    throw new Interrupted(`the server refused to resume at byte ${offset}`, 0, true);
  }
  if (!res.ok) {
    req.finish();
    throw httpError(s, res, ctx);
  }
  if (res.status !== 206) offset = 0; // 200: the server ignored Range and sends the whole file
  const chunks = (res.body as AsyncIterable<Uint8Array> | null)?.[Symbol.asyncIterator]();
  const hash = SHA256.test(meta.etag) ? createHash('sha256') : undefined;
  let fh: FileHandle | undefined;
  let loaded = offset;
  try {
    if (hash && offset > 0) await hashExisting(hash, partial);
    fh = await open(partial, offset > 0 ? 'a' : 'w');
    progress.update(loaded);
    while (chunks) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await chunks.next();
      } catch (e) { // only failures of the transfer itself are worth a resume
        throwIfAborted(s);
        throw new Interrupted(req.timedOut() ? `no data for ${s.timeoutMs} ms` : networkMessage(e), loaded, loaded > offset, e);
      }
      if (next.done) break;
      req.touch();
      hash?.update(next.value);
      await fh.write(next.value);
      loaded += next.value.byteLength;
      progress.update(loaded);
    }
  } catch (e) {
    if (!(e instanceof Interrupted)) await chunks?.return?.().catch(() => undefined); // release the connection
    throw e;
  } finally {
    req.finish();
    await fh?.close();
  }
  if (meta.size !== undefined && loaded < meta.size) {
    throw new Interrupted('the connection closed early', loaded, loaded > offset);
  }
  return { loaded, digest: hash?.digest('hex') };
}

function networkMessage(e: unknown): string {
  const cause = (e as { cause?: { code?: unknown; message?: unknown } })?.cause;
  const detail = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : '';
  const message = e instanceof Error ? e.message : String(e);
  return detail ? `${message} (${detail})` : message;
}

async function verify(s: HubSettings, ctx: RequestContext, partial: string, meta: FileMetadata, t: Transfer): Promise<void> {
  let problem: string | undefined;
  if (meta.size !== undefined && t.loaded !== meta.size) problem = `${t.loaded} bytes received, ${meta.size} expected`;
  else if (t.digest !== undefined && t.digest !== meta.etag) problem = `sha256 ${t.digest}, expected ${meta.etag}`;
  if (problem === undefined) return;
  await removeFile(partial);
  throw new GptNeoError('ERR_GPTNEO_INTEGRITY',
    `Downloaded ${ctx.file} of ${ctx.repoId} is corrupt (${problem}); the bad file was deleted`, {
      hint: `run again to download it afresh; if this repeats, check the network or proxy between you and ${s.endpoint}`,
    });
}

/**
 * Makes sure `blobs/<meta.etag>` holds the verified file, downloading or resuming it from `url`
 * (under a lock, so concurrent loads of the same model download each blob once).
 * Sends progress events for ctx.file, ending with one `done: true` event.
 */
export async function ensureBlob(s: HubSettings, rc: RepoCache, ctx: RequestContext & { file: string },
  meta: FileMetadata, url: string): Promise<void> {
  const target = blobPath(rc, meta.etag);
  const progress = new ProgressReporter(s.onProgress, ctx.file, meta.size);
  if (await isFile(target)) {
    progress.done(await fileSize(target));
    return;
  }
  await mkdir(dirname(target), { recursive: true });
  const lock = await acquireBlobLock(blobLockPath(rc, meta.etag), s.signal);
  try {
    if (await isFile(target)) { // another download finished it while we waited
      progress.done(await fileSize(target));
      return;
    }
    await downloadLocked(s, ctx, url, incompleteBlobPath(rc, meta.etag), target, meta, progress);
  } finally {
    await lock.release();
  }
}

async function downloadLocked(s: HubSettings, ctx: RequestContext & { file: string }, url: string, partial: string,
  target: string, meta: FileMetadata, progress: ProgressReporter): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    let transfer: Transfer;
    try {
      transfer = await transferOnce(s, ctx, url, partial, meta, progress);
    } catch (e) {
      if (!(e instanceof Interrupted)) throw e;
      if (e.madeProgress && attempt < MAX_ATTEMPTS) continue;
      const of = meta.size === undefined ? '' : ` of ${meta.size}`;
      throw new GptNeoError('ERR_GPTNEO_HUB',
        `Download of ${ctx.file} from ${ctx.repoId} was interrupted after ${e.loaded}${of} bytes: ${e.reason}`, {
          hint: 'run again: the download resumes where it stopped', cause: e.cause,
        });
    }
    await verify(s, ctx, partial, meta, transfer);
    await rename(partial, target);
    progress.done(transfer.loaded);
    return;
  }
}
