/**
 * Decides, online, which files of a repo revision to fetch: from the Hub API's file list
 * (`GET /api/models/{repo}/revision/{rev}` → { sha, siblings: [{ rfilename }] }), or, when that
 * route does not exist (some mirrors), by probing each file with HEAD.
 */
import { GptNeoError } from '../errors.js';
import { fetchFileMetadata, type FileMetadata } from './file-metadata.js';
import { discardBody, httpError, hubFetch, type RequestContext } from './http.js';
import {
  CONFIG_FILE, OPTIONAL_FILES, WANTED_FILES, WEIGHT_ALTERNATIVES, WEIGHTS_FILE, missingConfigError, missingWeightsError,
} from './model-files.js';
import { isCommitSha } from './repo-id.js';
import type { HubSettings } from './settings.js';

export interface RepoPlan {
  /** Commit the revision resolved to; used in every download URL so all files match. */
  commit: string;
  /** Wanted files the repo has, in download order. */
  present: string[];
  /** Optional files the repo does not have. */
  absent: string[];
  /** Metadata already fetched while probing. */
  known: Map<string, FileMetadata>;
}

interface Listing { commit: string; files: Set<string> }

async function readBody(res: Response, req: { finish(): void }): Promise<string> {
  try {
    return await res.text();
  } finally {
    req.finish();
  }
}

/** The API's listing, or undefined when the API route is missing (404 without a Hub error code). */
async function fetchListing(s: HubSettings, ctx: RequestContext): Promise<Listing | undefined> {
  const url = `${s.endpoint}/api/models/${ctx.repoId}/revision/${encodeURIComponent(ctx.revision)}`;
  const req = await hubFetch(s, url, { method: 'GET', headers: { accept: 'application/json' }, redirect: 'follow' });
  const res = req.response;
  if (res.status === 404 && res.headers.get('x-error-code') === null) {
    req.finish();
    discardBody(res);
    return undefined;
  }
  if (!res.ok) {
    req.finish();
    throw httpError(s, res, ctx);
  }
  const text = await readBody(res, req);
  let info: { sha?: unknown; siblings?: unknown };
  try {
    info = JSON.parse(text) as typeof info;
  } catch {
    info = {};
  }
  const sha = typeof info.sha === 'string' ? info.sha.toLowerCase() : '';
  if (!isCommitSha(sha) || !Array.isArray(info.siblings)) {
    throw new GptNeoError('ERR_GPTNEO_HUB', `The Hub API sent an unexpected answer for ${ctx.repoId} at revision ${ctx.revision}`, {
      hint: `is ${s.endpoint} a Hugging Face Hub? Check HF_ENDPOINT`,
    });
  }
  const files = new Set<string>();
  for (const sibling of info.siblings as unknown[]) {
    const name = (sibling as { rfilename?: unknown })?.rfilename;
    if (typeof name === 'string') files.add(name);
  }
  return { commit: sha, files };
}

function planFromListing(ctx: RequestContext, listing: Listing): RepoPlan {
  const has = (f: string): boolean => listing.files.has(f);
  if (!has(CONFIG_FILE)) throw missingConfigError(ctx.repoId, ctx.revision);
  if (!has(WEIGHTS_FILE)) throw missingWeightsError(ctx.repoId, ctx.revision, has);
  return {
    commit: listing.commit,
    present: WANTED_FILES.filter(has),
    absent: OPTIONAL_FILES.filter((f) => !has(f)),
    known: new Map(),
  };
}

/** Probes the wanted files one by one with HEAD (first at the revision, then at the commit it resolved to). */
async function planByProbing(s: HubSettings, ctx: RequestContext): Promise<RepoPlan> {
  const config = await fetchFileMetadata(s, { ...ctx, file: CONFIG_FILE }, ctx.revision);
  if (config === 'missing') {
    throw new GptNeoError('ERR_GPTNEO_HUB_NOT_FOUND', `${CONFIG_FILE} of ${ctx.repoId} at revision ${ctx.revision} `
      + `was not found on ${s.endpoint}`, { hint: 'check the repo id and the revision' });
  }
  const commit = config.commit ?? (isCommitSha(ctx.revision) ? ctx.revision : undefined);
  if (commit === undefined) {
    throw new GptNeoError('ERR_GPTNEO_HUB', `The Hub sent no X-Repo-Commit header for ${ctx.repoId}`, {
      hint: `is ${s.endpoint} a Hugging Face Hub? Check HF_ENDPOINT`,
    });
  }
  const known = new Map<string, FileMetadata>([[CONFIG_FILE, config]]);
  const probe = async (file: string): Promise<boolean> => {
    const meta = await fetchFileMetadata(s, { ...ctx, file }, commit);
    if (meta !== 'missing') known.set(file, meta);
    return meta !== 'missing';
  };
  if (!(await probe(WEIGHTS_FILE))) {
    const found = new Set<string>();
    for (const alt of WEIGHT_ALTERNATIVES) if (await probe(alt)) found.add(alt);
    throw missingWeightsError(ctx.repoId, ctx.revision, (f) => found.has(f));
  }
  const absent: string[] = [];
  for (const file of OPTIONAL_FILES) if (!(await probe(file))) absent.push(file);
  return { commit, present: WANTED_FILES.filter((f) => known.has(f)), absent, known };
}

/** The files to fetch for `ctx.repoId` at `ctx.revision`. */
export async function planRepoFiles(s: HubSettings, ctx: RequestContext): Promise<RepoPlan> {
  const listing = await fetchListing(s, ctx);
  return listing ? planFromListing(ctx, listing) : planByProbing(s, ctx);
}
