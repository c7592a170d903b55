/**
 * Turns HubOptions plus environment variables into the settings the client works with, following
 * huggingface_hub's conventions so that Python and Node share one cache and one login.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { GptNeoError } from '../errors.js';
import { expectBoolean, expectNumber, expectString, invalid } from '../validate.js';
import type { HubOptions, HubProgress } from './types.js';
import { validateRevision } from './repo-id.js';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Longest delay setTimeout honours (a larger one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface HubSettings {
  endpoint: string;
  token: string | undefined;
  cacheDir: string;
  revision: string;
  offline: boolean;
  timeoutMs: number;
  fetch: typeof fetch;
  onProgress: ((p: HubProgress) => void) | undefined;
  signal: AbortSignal | undefined;
}

type Env = Record<string, string | undefined>;

const nonEmpty = (v: string | undefined): string | undefined => (v && v.trim() !== '' ? v : undefined);

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p;
}

function hfHome(env: Env): string {
  const explicit = nonEmpty(env.HF_HOME);
  if (explicit) return expandHome(explicit);
  const xdg = nonEmpty(env.XDG_CACHE_HOME);
  return join(xdg ? expandHome(xdg) : join(homedir(), '.cache'), 'huggingface');
}

function envFlag(value: string | undefined): boolean {
  return value !== undefined && ['1', 'on', 'yes', 'true'].includes(value.trim().toLowerCase());
}

/** The token from options, HF_TOKEN, HUGGING_FACE_HUB_TOKEN, or the file `huggingface-cli login` writes. */
function findToken(opts: HubOptions, env: Env): string | undefined {
  if (opts.token !== undefined) return nonEmpty(expectString('token', opts.token));
  const fromEnv = nonEmpty(env.HF_TOKEN) ?? nonEmpty(env.HUGGING_FACE_HUB_TOKEN);
  if (fromEnv) return fromEnv.trim();
  const tokenPath = nonEmpty(env.HF_TOKEN_PATH) ?? join(hfHome(env), 'token');
  try {
    return nonEmpty(readFileSync(expandHome(tokenPath), 'utf8').trim());
  } catch {
    return undefined;
  }
}

function parseEndpoint(raw: string, name: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') throw invalid('http(s) URL', name, raw);
  return url.href.replace(/\/+$/, '');
}

/** The Hub cache directory: opts.cacheDir, else HF_HUB_CACHE, else $HF_HOME/hub (~/.cache/huggingface/hub). */
export function hubCacheDir(opts: HubOptions = {}): string {
  const env = opts.env ?? process.env;
  if (opts.cacheDir !== undefined) {
    const dir = expectString('cacheDir', opts.cacheDir);
    if (dir === '') throw invalid('non-empty string', 'cacheDir', dir);
    return resolve(expandHome(dir));
  }
  const fromEnv = nonEmpty(env.HF_HUB_CACHE) ?? nonEmpty(env.HUGGINGFACE_HUB_CACHE);
  return resolve(fromEnv ? expandHome(fromEnv) : join(hfHome(env), 'hub'));
}

/** Validates the options (types of the known keys) and fills defaults from the environment. */
export function resolveSettings(opts: HubOptions = {}): HubSettings {
  if (opts === null || typeof opts !== 'object') throw invalid('object', 'options', opts);
  if (opts.env !== undefined && (opts.env === null || typeof opts.env !== 'object')) throw invalid('object', 'env', opts.env);
  const env = opts.env ?? process.env;
  const revision = validateRevision(opts.revision ?? 'main');
  const offline = opts.offline !== undefined ? expectBoolean('offline', opts.offline) : envFlag(env.HF_HUB_OFFLINE);
  const endpoint = opts.endpoint !== undefined ? parseEndpoint(expectString('endpoint', opts.endpoint), 'endpoint')
    : parseEndpoint(nonEmpty(env.HF_ENDPOINT) ?? DEFAULT_ENDPOINT, 'HF_ENDPOINT');
  const timeoutMs = opts.timeoutMs !== undefined ? expectNumber('timeoutMs', opts.timeoutMs, 1, MAX_TIMER_MS) : DEFAULT_TIMEOUT_MS;
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') {
    throw invalid('function', 'onProgress', opts.onProgress);
  }
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw invalid('AbortSignal', 'signal', opts.signal);
  if (opts.fetchImpl !== undefined && typeof opts.fetchImpl !== 'function') {
    throw invalid('function', 'fetchImpl', opts.fetchImpl);
  }
  const token = findToken(opts, env);
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) {
    // The value is a secret: never echo it.
    throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT',
      'Expected a Hugging Face access token of printable ASCII characters for token (or HF_TOKEN) but received another string');
  }
  return {
    endpoint,
    token,
    cacheDir: hubCacheDir(opts),
    revision,
    offline,
    timeoutMs,
    fetch: opts.fetchImpl ?? globalThis.fetch,
    onProgress: opts.onProgress,
    signal: opts.signal,
  };
}
