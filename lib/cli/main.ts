#!/usr/bin/env node
/** The `gpt-neo` command: one file per subcommand. */
import { benchMain } from '../bench/main.js';
import { reportError, UsageError } from './common.js';
import { downloadCommand } from './download.js';
import { embedCommand } from './embed.js';
import { generateCommand } from './generate.js';
import { infoCommand } from './info.js';
import { serveCommand } from './serve.js';

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; summary: string }> = {
  generate: { run: generateCommand, summary: 'stream a continuation of a prompt' },
  info: { run: infoCommand, summary: 'CPU SIMD level, threads, GPUs (and why one is unusable)' },
  download: { run: downloadCommand, summary: 'download a model into the Hugging Face cache' },
  serve: { run: serveCommand, summary: 'an OpenAI-compatible HTTP server (completions, embeddings)' },
  embed: { run: embedCommand, summary: 'print embeddings of texts (or stdin lines) as JSON lines' },
  bench: { run: benchMain, summary: 'benchmarks: prefill, decode (1/8/32 streams), embeddings, tokenizer' },
};

const MAIN_HELP = `Usage: gpt-neo <command> [options]

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`).join('\n')}

Run 'gpt-neo <command> --help' for a command's options.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${MAIN_HELP}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command '${name}'`);
  return command.run(rest);
}

const argv = process.argv.slice(2);
main(argv).then((code) => { process.exitCode = code; }, (e) => {
  process.exitCode = reportError(e, argv.includes('--verbose') || argv.includes('-v'));
});
