/**
 * What the Hub says about one file before we download it: `HEAD {endpoint}/{repo}/resolve/{rev}/{file}`.
 * Relative redirects (a renamed repo) are followed; an absolute redirect (LFS files go to a CDN)
 * is not: its own headers carry the LFS sha256 (X-Linked-Etag) and size (X-Linked-Size).
 */
import { GptNeoError } from '../errors.js';
import { discardBody, httpError, hubFetch, type RequestContext } from './http.js';
import { isCommitSha } from './repo-id.js';
import type { HubSettings } from './settings.js';

export interface FileMetadata {
  /** Commit the revision resolved to (X-Repo-Commit), when the Hub sent it. */
  commit: string | undefined;
  /** Blob name: sha256 for LFS files, git sha1 otherwise (quotes and W/ removed). */
  etag: string;
  /** Size in bytes when known. */
  size: number | undefined;
}

const MAX_REDIRECTS = 5;
const SAFE_ETAG = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** The download URL of a file. */
export function resolveUrl(s: HubSettings, repoId: string, revision: string, file: string): string {
  const path = file.split('/').map(encodeURIComponent).join('/');
  return `${s.endpoint}/${repoId}/resolve/${encodeURIComponent(revision)}/${path}`;
}

/** Strips the weak marker and quotes from an ETag and checks it is safe as a file name. */
export function normalizeEtag(raw: string, ctx: RequestContext): string {
  const etag = raw.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
  if (!SAFE_ETAG.test(etag) || etag.endsWith('.incomplete')) {
    throw new GptNeoError('ERR_GPTNEO_HUB', `The Hub sent an unusable ETag ${JSON.stringify(raw)} for ${ctx.file} of ${ctx.repoId}`);
  }
  return etag;
}

function parseSize(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * Metadata of `file`, or 'missing' when the Hub answers 404 for the file itself (a missing repo or
 * revision still throws ERR_GPTNEO_HUB_NOT_FOUND).
 */
export async function fetchFileMetadata(s: HubSettings, ctx: RequestContext & { file: string }, revision: string)
  : Promise<FileMetadata | 'missing'> {
  let url = resolveUrl(s, ctx.repoId, revision, ctx.file);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const { response: res, finish } = await hubFetch(s, url, {
      method: 'HEAD', redirect: 'manual', headers: { 'accept-encoding': 'identity' }, // the size on disk, not gzipped
    });
    finish();
    discardBody(res);
    const location = res.headers.get('location');
    const redirected = res.status >= 300 && res.status < 400 && location !== null;
    if (redirected && location.startsWith('/') && !location.startsWith('//')) {
      url = new URL(location, url).href;
      continue;
    }
    if (!redirected && !res.ok) {
      const code = res.headers.get('x-error-code');
      if (res.status === 404 && (code === null || code === 'EntryNotFound')) return 'missing';
      throw httpError(s, res, ctx);
    }
    const rawEtag = res.headers.get('x-linked-etag') ?? res.headers.get('etag');
    if (rawEtag === null) {
      throw new GptNeoError('ERR_GPTNEO_HUB', `The Hub sent no ETag for ${ctx.file} of ${ctx.repoId} (HTTP ${res.status})`, {
        hint: `is ${s.endpoint} a Hugging Face Hub? Check HF_ENDPOINT`,
      });
    }
    const commit = res.headers.get('x-repo-commit')?.trim().toLowerCase();
    return {
      commit: commit !== undefined && isCommitSha(commit) ? commit : undefined,
      etag: normalizeEtag(rawEtag, ctx),
      size: parseSize(res.headers.get('x-linked-size')) ?? (redirected ? undefined : parseSize(res.headers.get('content-length'))),
    };
  }
  throw new GptNeoError('ERR_GPTNEO_HUB', `Too many redirects resolving ${ctx.file} of ${ctx.repoId}`);
}
