/**
 * Finding and reading a tokenizer's files on disk. A tokenizer is either a Hugging Face
 * `tokenizer.json` or a `vocab.json` + `merges.txt` pair; `special_tokens_map.json`,
 * `tokenizer_config.json` and `added_tokens.json` beside it are read when present.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { GptNeoError } from '../errors.js';

export const TOKENIZER_JSON = 'tokenizer.json';
export const VOCAB_JSON = 'vocab.json';
export const MERGES_TXT = 'merges.txt';
const OPTIONAL_FILES = ['special_tokens_map.json', 'tokenizer_config.json', 'added_tokens.json'] as const;

/** Paths of the files that make up one tokenizer; `optional` ones exist on disk. */
export interface TokenizerFilePlan {
  /** tokenizer.json, or vocab.json + merges.txt. */
  main: { kind: 'tokenizer.json'; path: string } | { kind: 'vocab+merges'; vocabPath: string; mergesPath: string };
  optional: Partial<Record<(typeof OPTIONAL_FILES)[number], string>>;
}

/** The text of every file in a plan, keyed by path. */
export type FileContents = Map<string, string>;

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** True when `dir` holds tokenizer.json, or both vocab.json and merges.txt. */
export function hasTokenizerFiles(dir: string): boolean {
  if (typeof dir !== 'string') return false;
  return isFile(join(dir, TOKENIZER_JSON)) || (isFile(join(dir, VOCAB_JSON)) && isFile(join(dir, MERGES_TXT)));
}

function optionalBeside(dir: string): TokenizerFilePlan['optional'] {
  const optional: TokenizerFilePlan['optional'] = {};
  for (const name of OPTIONAL_FILES) {
    const path = join(dir, name);
    if (isFile(path)) optional[name] = path;
  }
  return optional;
}

/** Plans the load of a model directory (tokenizer.json preferred over vocab.json + merges.txt). */
export function planDir(dir: string): TokenizerFilePlan {
  if (!existsSync(dir)) {
    throw new GptNeoError('ERR_GPTNEO_FILE_NOT_FOUND', `Tokenizer directory ${dir} does not exist`);
  }
  if (isFile(join(dir, TOKENIZER_JSON))) return planFile(join(dir, TOKENIZER_JSON));
  if (isFile(join(dir, VOCAB_JSON))) return planFile(join(dir, VOCAB_JSON));
  throw new GptNeoError('ERR_GPTNEO_FILE_NOT_FOUND',
    `No tokenizer files in ${dir}: expected ${TOKENIZER_JSON}, or ${VOCAB_JSON} with ${MERGES_TXT}`);
}

/**
 * Plans the load of a tokenizer.json, or of a vocab.json (any name ending in `vocab.json`) whose
 * sibling merges.txt is used. Any other file name is read as tokenizer.json.
 */
export function planFile(path: string): TokenizerFilePlan {
  if (!isFile(path)) {
    throw new GptNeoError('ERR_GPTNEO_FILE_NOT_FOUND', existsSync(path)
      ? `Tokenizer file ${path} is not a file (Tokenizer.fromDir takes a directory)`
      : `Tokenizer file ${path} does not exist`);
  }
  const dir = dirname(path);
  if (basename(path).endsWith(VOCAB_JSON)) {
    const mergesPath = join(dir, MERGES_TXT);
    if (!isFile(mergesPath)) {
      throw new GptNeoError('ERR_GPTNEO_FILE_NOT_FOUND',
        `${mergesPath} is missing: ${path} needs the merges.txt beside it`);
    }
    return { main: { kind: 'vocab+merges', vocabPath: path, mergesPath }, optional: optionalBeside(dir) };
  }
  return { main: { kind: 'tokenizer.json', path }, optional: optionalBeside(dir) };
}

function planPaths(plan: TokenizerFilePlan): string[] {
  const main = plan.main.kind === 'tokenizer.json' ? [plan.main.path] : [plan.main.vocabPath, plan.main.mergesPath];
  return [...main, ...Object.values(plan.optional)];
}

function readError(path: string, e: unknown): GptNeoError {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT'
    ? new GptNeoError('ERR_GPTNEO_FILE_NOT_FOUND', `Tokenizer file ${path} does not exist`, { cause: e })
    : new GptNeoError('ERR_GPTNEO_TOKENIZER', `Cannot read tokenizer file ${path}: ${(e as Error).message}`, { cause: e });
}

/** Reads every file of a plan synchronously. */
export function readPlanSync(plan: TokenizerFilePlan): FileContents {
  const contents: FileContents = new Map();
  for (const path of planPaths(plan)) {
    try {
      contents.set(path, readFileSync(path, 'utf8'));
    } catch (e) {
      throw readError(path, e);
    }
  }
  return contents;
}

/** Reads every file of a plan concurrently. */
export async function readPlan(plan: TokenizerFilePlan): Promise<FileContents> {
  const paths = planPaths(plan);
  const texts = await Promise.all(paths.map(async (path) => {
    try {
      return await readFile(path, 'utf8');
    } catch (e) {
      throw readError(path, e);
    }
  }));
  return new Map(paths.map((p, i) => [p, texts[i]!]));
}
