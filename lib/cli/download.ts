/** `gpt-neo download [REPO]`: fetches a model into the Hugging Face cache and prints its directory. */
import { downloadModel } from '../hub/index.js';
import { DEFAULT_MODEL, parse, progressPrinter } from './common.js';

export const DOWNLOAD_HELP = `Usage: gpt-neo download [options] [REPO_ID]
Downloads config, tokenizer and weights of REPO_ID (default ${DEFAULT_MODEL}) into the Hugging
Face cache (shared with Python) and prints the snapshot directory.
      --revision R     branch, tag or commit (default main)
      --cache-dir DIR  cache directory (default $HF_HUB_CACHE or ~/.cache/huggingface/hub)`;

export async function downloadCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    revision: { type: 'string' }, 'cache-dir': { type: 'string' }, verbose: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    process.stdout.write(`${DOWNLOAD_HELP}\n`);
    return 0;
  }
  const dir = await downloadModel(positionals[0] ?? DEFAULT_MODEL, {
    revision: values.revision, cacheDir: values['cache-dir'], onProgress: progressPrinter(),
  });
  process.stdout.write(`${dir}\n`);
  return 0;
}
