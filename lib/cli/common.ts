/**
 * Shared CLI plumbing: option parsing with node:util, the default model, and error reporting
 * (a message and hint, no stack trace unless --verbose; exit 2 for usage errors, 1 otherwise).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GptNeoError, isGptNeoError } from '../errors.js';

export const DEFAULT_MODEL = 'EleutherAI/gpt-neo-125m';

export class UsageError extends Error {}

export type Options = NonNullable<ParseArgsConfig['options']>;

export const modelOptions = {
  model: { type: 'string', short: 'm', default: DEFAULT_MODEL },
  device: { type: 'string', default: 'auto' },
  dtype: { type: 'string', default: 'auto' },
  threads: { type: 'string' },
  revision: { type: 'string' },
  offline: { type: 'boolean', default: false },
  'cache-dir': { type: 'string' },
  verbose: { type: 'boolean', short: 'v', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies Options;

export const MODEL_OPTIONS_HELP = `Model options:
  -m, --model ID|DIR   a Hub repo id or a local directory (default ${DEFAULT_MODEL})
      --device D       auto | cpu | cuda | cuda:N (default auto)
      --dtype T        auto | float32 | bfloat16 | float16 | int8 (default auto; int8: CPU only)
      --threads N      CPU threads (default: all available)
      --revision R     Hub branch, tag or commit (default main)
      --offline        use only the local Hugging Face cache (also HF_HUB_OFFLINE=1)
      --cache-dir DIR  Hub cache directory (default $HF_HUB_CACHE or ~/.cache/huggingface/hub)
  -v, --verbose        show stack traces on errors
  -h, --help           show this help`;

type Parsed<T extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>>;

export function parse<T extends Options>(argv: string[], options: T): Parsed<T> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function toInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} expects an integer but received ${JSON.stringify(value)}`);
  return n;
}

export function toNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || Number.isNaN(n)) throw new UsageError(`--${name} expects a number but received ${JSON.stringify(value)}`);
  return n;
}

/** Prints an error the way a CLI user wants to read it and returns the exit code. */
export function reportError(e: unknown, verbose: boolean): number {
  if (e instanceof UsageError) {
    process.stderr.write(`gpt-neo: ${e.message}\nRun 'gpt-neo --help' for usage.\n`);
    return 2;
  }
  if (isGptNeoError(e)) {
    process.stderr.write(`gpt-neo: ${e.message} [${e.code}]\n`);
    if (verbose && e.stack) process.stderr.write(`${e.stack}\n`);
    return e.code === 'ERR_GPTNEO_INVALID_ARGUMENT' ? 2 : 1;
  }
  const err = e instanceof Error ? e : new GptNeoError('ERR_GPTNEO_INTERNAL', String(e));
  process.stderr.write(`gpt-neo: ${err.message}\n`);
  if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
  return 1;
}

/** A one-line progress bar on stderr for Hub downloads (only on a TTY). */
export function progressPrinter(): ((p: { file: string; loaded: number; total: number | undefined; done: boolean }) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (p) => {
    const mb = (n: number) => (n / 1e6).toFixed(1);
    const pct = p.total ? Math.floor((100 * p.loaded) / p.total) : undefined;
    const width = 30;
    const fill = pct === undefined ? 0 : Math.round((width * pct) / 100);
    const bar = `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}]`;
    const line = `${p.file} ${bar} ${pct ?? '?'}% ${mb(p.loaded)}/${p.total ? mb(p.total) : '?'} MB`;
    process.stderr.write(`\r${line.padEnd(78)}${p.done ? '\n' : ''}`);
  };
}
