/**
 * HTTP plumbing of the Hub client: one fetch wrapper with a response deadline, an idle deadline for
 * bodies, cancellation, the Authorization header, and the mapping of failures to GptNeoError codes.
 */
import { GptNeoError } from '../errors.js';
import type { HubSettings } from './settings.js';

/** What a request is about, for error messages. */
export interface RequestContext {
  repoId: string;
  revision: string;
  file?: string;
}

export interface HubResponse {
  response: Response;
  /** Restarts the idle deadline; call on every body chunk. */
  touch(): void;
  /** Stops the deadline timer (call when the body has been read or abandoned). */
  finish(): void;
  /** True when the deadline (not the caller's signal) cancelled the request. */
  timedOut(): boolean;
}

export interface HubRequestInit {
  method: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  redirect: 'follow' | 'manual';
}

const USER_AGENT = `gpt-neo-node (node/${process.versions.node})`;

/** Fetches `url` with the Hub's headers; fails with ERR_GPTNEO_HUB_UNREACHABLE when no response arrives in time. */
export async function hubFetch(s: HubSettings, url: string, init: HubRequestInit): Promise<HubResponse> {
  throwIfAborted(s);
  const controller = new AbortController();
  const signal = s.signal ? AbortSignal.any([s.signal, controller.signal]) : controller.signal;
  let expired = false;
  let timer: NodeJS.Timeout | undefined;
  const touch = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => { expired = true; controller.abort(); }, s.timeoutMs);
  };
  const finish = (): void => clearTimeout(timer);
  const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...init.headers };
  if (s.token) headers.authorization = `Bearer ${s.token}`;
  touch();
  try {
    const response = await s.fetch(url, { method: init.method, headers, redirect: init.redirect, signal });
    touch();
    return { response, touch, finish, timedOut: () => expired };
  } catch (e) {
    finish();
    throwIfAborted(s);
    throw unreachable(s, url, expired ? `no response within ${s.timeoutMs} ms` : networkReason(e), e);
  }
}

/** Throws ERR_GPTNEO_ABORTED when the caller's signal has fired. */
export function throwIfAborted(s: HubSettings): void {
  if (s.signal?.aborted) {
    throw new GptNeoError('ERR_GPTNEO_ABORTED', 'Hub download aborted', { cause: s.signal.reason });
  }
}

function networkReason(e: unknown): string {
  const cause = (e as { cause?: { code?: unknown; message?: unknown } })?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return e instanceof Error ? e.message : String(e);
}

/** ERR_GPTNEO_HUB_UNREACHABLE, naming the endpoint and the ways to work without it. */
export function unreachable(s: HubSettings, url: string, reason: string, cause?: unknown): GptNeoError {
  const host = new URL(url).origin;
  const where = host === new URL(s.endpoint).origin ? s.endpoint : `${s.endpoint} (via ${host})`;
  return new GptNeoError('ERR_GPTNEO_HUB_UNREACHABLE',
    `The Hugging Face Hub at ${where} could not be reached: ${reason}`, {
      hint: 'load a local model directory instead (--model DIR), set HF_ENDPOINT to a reachable mirror, '
        + `or set HF_HUB_OFFLINE=1 to use models already in the cache (${s.cacheDir})`,
      cause,
    });
}

function describeTarget(ctx: RequestContext): string {
  return ctx.file ? `${ctx.file} of ${ctx.repoId} at revision ${ctx.revision}` : `${ctx.repoId} at revision ${ctx.revision}`;
}

/** Maps an unsuccessful HTTP response to a GptNeoError (401/403, 404, others). */
export function httpError(s: HubSettings, res: Response, ctx: RequestContext): GptNeoError {
  discardBody(res);
  const errorCode = res.headers.get('x-error-code') ?? '';
  const page = `${s.endpoint}/${ctx.repoId}`;
  const authHint = s.token
    ? `check that the token (HF_TOKEN) can read ${ctx.repoId}, and accept the model's license at ${page} if it is gated`
    : `set HF_TOKEN to an access token (https://huggingface.co/settings/tokens), and accept the model's license at ${page} if it is gated`;
  if (errorCode === 'RepoNotFound') {
    return new GptNeoError('ERR_GPTNEO_HUB_NOT_FOUND', `Repository ${ctx.repoId} was not found on ${s.endpoint}`, {
      hint: `check the spelling; if the repository is private, ${authHint}`,
    });
  }
  if (errorCode === 'RevisionNotFound') {
    return new GptNeoError('ERR_GPTNEO_HUB_NOT_FOUND',
      `Revision ${ctx.revision} was not found in ${ctx.repoId} on ${s.endpoint}`, { hint: `see the branches at ${page}` });
  }
  if (errorCode === 'GatedRepo' || res.status === 401 || res.status === 403) {
    const what = errorCode === 'GatedRepo' ? `${ctx.repoId} is gated` : `Access to ${describeTarget(ctx)} was refused`;
    return new GptNeoError('ERR_GPTNEO_HUB_UNAUTHORIZED',
      `${what} (HTTP ${res.status}, ${s.token ? 'a token was sent' : 'no token was sent'})`, { hint: authHint });
  }
  if (res.status === 404) {
    return new GptNeoError('ERR_GPTNEO_HUB_NOT_FOUND', `${describeTarget(ctx)} was not found on ${s.endpoint} (HTTP 404)`, {
      hint: 'check the repo id, the revision and, for a private repository, HF_TOKEN',
    });
  }
  return new GptNeoError('ERR_GPTNEO_HUB',
    `The Hub answered HTTP ${res.status} ${res.statusText} for ${describeTarget(ctx)}`, {
      hint: res.status === 429 ? 'rate limited: wait a minute, or set HF_TOKEN' : 'try again later',
    });
}

/** Releases the connection of a response whose body will not be read. */
export function discardBody(res: Response): void {
  res.body?.cancel().catch(() => undefined);
}
