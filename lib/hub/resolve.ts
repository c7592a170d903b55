/** Entry points of the Hub client: turn a model source (directory or Hub repo id) into a local directory. */
import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { GptNeoError, isGptNeoError } from '../errors.js';
import { describe, expectString } from '../validate.js';
import { looksLikePath, validateRepoId } from './repo-id.js';
import { resolveSettings } from './settings.js';
import { fetchSnapshot } from './snapshot.js';
import type { HubOptions } from './types.js';

async function statOrUndefined(path: string): Promise<import('node:fs').Stats | undefined> {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

/**
 * Resolves a model source to a local directory holding config.json, model.safetensors and the
 * tokenizer files the model has.
 *
 * - An existing directory is returned unchanged (a leading `~/` is expanded); options are not
 *   consulted, so Hub settings in the environment cannot break loading from a directory.
 * - Something that looks like a path (starts with '.', '/' or '~', or has several '/') but does not
 *   exist fails with ERR_GPTNEO_FILE_NOT_FOUND.
 * - Anything else is a Hub repo id (`owner/name`): its snapshot directory in the Hugging Face cache is
 *   returned, downloaded first when needed. A complete cached snapshot is used without any request.
 *
 * Errors: ERR_GPTNEO_INVALID_ARGUMENT (bad id, revision or option), ERR_GPTNEO_HUB_NOT_FOUND,
 * ERR_GPTNEO_HUB_UNAUTHORIZED, ERR_GPTNEO_HUB_UNREACHABLE, ERR_GPTNEO_HUB_OFFLINE, ERR_GPTNEO_HUB,
 * ERR_GPTNEO_INTEGRITY, ERR_GPTNEO_UNSUPPORTED_MODEL (no safetensors weights), ERR_GPTNEO_ABORTED.
 */
export async function resolveModelSource(source: string, opts: HubOptions = {}): Promise<string> {
  expectString('source', source);
  if (source === '') {
    throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT',
      'Expected a model directory or a Hub repo id for source but received ""');
  }
  const path = source === '~' || source.startsWith('~/') ? join(homedir(), source.slice(1)) : source;
  const found = await statOrUndefined(path);
  if (found?.isDirectory()) return path;
  if (found) {
    throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT',
      `Expected a model directory or a Hub repo id for source but received ${describe(source)}, which is a file`, {
        hint: 'pass the directory that contains config.json and model.safetensors',
      });
  }
  if (looksLikePath(source)) {
    throw new GptNeoError('ERR_GPTNEO_FILE_NOT_FOUND', `Model directory ${source} does not exist`, {
      hint: 'pass a directory containing config.json and model.safetensors, or a Hub repo id such as EleutherAI/gpt-neo-125m',
    });
  }
  const repoId = validateRepoId(source, 'source');
  try {
    return await fetchSnapshot(resolveSettings(opts), repoId, true);
  } catch (e) {
    // "gpt-neo" may be a mistyped directory as much as a legacy Hub id: say both were tried.
    if (!repoId.includes('/') && isGptNeoError(e, 'ERR_GPTNEO_HUB_NOT_FOUND')) {
      throw new GptNeoError(e.code, `${e.message.split('\n')[0]}, and there is no local directory ${describe(source)}`,
        { hint: e.hint, cause: e });
    }
    throw e;
  }
}

/**
 * Downloads (or updates) a Hub model into the Hugging Face cache and returns its snapshot directory.
 * Unlike resolveModelSource it asks the Hub for the revision's current commit even when a snapshot is
 * cached (unless offline, or the revision is a commit sha). Files already in the cache are not fetched again.
 */
export async function downloadModel(repoId: string, opts: HubOptions = {}): Promise<string> {
  const id = validateRepoId(repoId);
  return fetchSnapshot(resolveSettings(opts), id, false);
}
