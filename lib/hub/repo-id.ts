/**
 * Strict checks of repository ids and revisions. Both end up in cache paths and URLs, so anything
 * that could escape the cache directory or change the URL's meaning is rejected up front.
 */
import { GptNeoError } from '../errors.js';
import { describe, expectString } from '../validate.js';

/** Longest repo id the Hub accepts (huggingface_hub's limit). */
export const MAX_REPO_ID_LENGTH = 96;
const MAX_REVISION_LENGTH = 256;

/** One part of a repo id: ASCII letters, digits, '_', '-', '.'; starting and ending with a letter, digit or '_'. */
const REPO_PART = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const REVISION_PART = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;
const COMMIT_SHA = /^[0-9a-f]{40}$/;

function badArgument(message: string): GptNeoError {
  return new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT', message);
}

/** True for a full git commit sha (40 lowercase hex digits). */
export function isCommitSha(value: string): boolean {
  return COMMIT_SHA.test(value);
}

/**
 * Returns `repoId` when it is a valid Hub model id (`owner/name`, or a legacy single `name` such as
 * `gpt2`); throws ERR_GPTNEO_INVALID_ARGUMENT otherwise.
 */
export function validateRepoId(repoId: unknown, name = 'repoId'): string {
  const id = expectString(name, repoId);
  const expected = `Expected a Hugging Face repo id like "EleutherAI/gpt-neo-125m" for ${name} but received ${describe(id)}`;
  const parts = id.split('/');
  if (id.length === 0 || id.length > MAX_REPO_ID_LENGTH) {
    throw badArgument(`${expected} (a repo id has 1 to ${MAX_REPO_ID_LENGTH} characters)`);
  }
  if (parts.length > 2) throw badArgument(`${expected} (at most one '/')`);
  if (!parts.every((p) => REPO_PART.test(p))) {
    throw badArgument(`${expected} (owner and name use letters, digits, '_', '-', '.' and neither starts nor ends with '-' or '.')`);
  }
  if (id.includes('--') || id.includes('..')) throw badArgument(`${expected} ('--' and '..' are not allowed)`);
  if (id.endsWith('.git')) throw badArgument(`${expected} (it must not end with '.git')`);
  return id;
}

/** Returns `revision` when it is a safe branch/tag name (segments separated by '/') or a commit sha. */
export function validateRevision(revision: unknown): string {
  const rev = expectString('revision', revision);
  const expected = `Expected a branch, tag or commit sha for revision but received ${describe(rev)}`;
  if (rev.length === 0 || rev.length > MAX_REVISION_LENGTH) throw badArgument(`${expected} (1 to ${MAX_REVISION_LENGTH} characters)`);
  if (rev.includes('..')) throw badArgument(`${expected} ('..' is not allowed)`);
  for (const part of rev.split('/')) {
    if (!REVISION_PART.test(part) || part.endsWith('.') || part.endsWith('.lock')) {
      throw badArgument(`${expected} (use letters, digits, '_', '-', '.', '+' and '/' between non-empty parts)`);
    }
  }
  return rev;
}

/**
 * True when `source` is meant as a filesystem path rather than a repo id: it starts with '.', '/',
 * '~' or a drive letter, uses backslashes, has more than one '/', or has an empty, '.' or '..' part.
 */
export function looksLikePath(source: string): boolean {
  if (/^[./~\\]/.test(source) || /^[A-Za-z]:[\\/]/.test(source) || source.includes('\\')) return true;
  const parts = source.split('/');
  return parts.length > 2 || (parts.length === 2 && parts.some((p) => p === '' || p === '.' || p === '..'));
}
